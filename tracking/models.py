from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from tracking import milestones, numbers


class Milestone(models.TextChoices):
    LABEL_CREATED = milestones.LABEL_CREATED, _("Label created")
    PICKED_UP = milestones.PICKED_UP, _("Picked up")
    IN_TRANSIT = milestones.IN_TRANSIT, _("In transit")
    AT_DESTINATION = milestones.AT_DESTINATION, _("At destination facility")
    OUT_FOR_DELIVERY = milestones.OUT_FOR_DELIVERY, _("Out for delivery")
    DELIVERY_ATTEMPTED = milestones.DELIVERY_ATTEMPTED, _("Delivery attempted")
    AVAILABLE_FOR_PICKUP = milestones.AVAILABLE_FOR_PICKUP, _("Available for pickup")
    DELIVERED = milestones.DELIVERED, _("Delivered")
    RETURNING_TO_SENDER = milestones.RETURNING_TO_SENDER, _("Returning to sender")
    RETURNED_TO_SENDER = milestones.RETURNED_TO_SENDER, _("Returned to sender")
    CANCELLED = milestones.CANCELLED, _("Cancelled")
    LOST = milestones.LOST, _("Lost")


class EventCode(models.TextChoices):
    LABEL_CREATED = "label_created", _("Label created")
    PICKED_UP = "picked_up", _("Picked up")
    IN_TRANSIT = "in_transit", _("In transit")
    ARRIVED_AT_FACILITY = "arrived_at_facility", _("Arrived at facility")
    DEPARTED_FACILITY = "departed_facility", _("Departed facility")
    CUSTOMS_CLEARED = "customs_cleared", _("Cleared customs")
    AT_DESTINATION = "at_destination", _("Arrived at destination facility")
    OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
    DELIVERY_ATTEMPTED = "delivery_attempted", _("Delivery attempted")
    AVAILABLE_FOR_PICKUP = "available_for_pickup", _("Available for pickup")
    DELIVERED = "delivered", _("Delivered")
    RETURNING_TO_SENDER = "returning_to_sender", _("Returning to sender")
    RETURNED_TO_SENDER = "returned_to_sender", _("Returned to sender")
    CANCELLED = "cancelled", _("Cancelled")
    LOST = "lost", _("Lost")
    EXCEPTION = "exception", _("Exception")
    EXCEPTION_CLEARED = "exception_cleared", _("Exception resolved")
    NOTE = "note", _("Note")


class ExceptionReason(models.TextChoices):
    RECIPIENT_NOT_HOME = "recipient_not_home", _("Recipient not at home")
    WEATHER_DELAY = "weather_delay", _("Weather delay")
    CUSTOMS_DOCUMENTATION = "customs_documentation", _("Customs documentation required")
    ADDRESS_ISSUE = "address_issue", _("Address incomplete or incorrect")
    REFUSED = "refused", _("Refused by recipient")
    DAMAGED = "damaged", _("Package damaged")
    MISSED_CONNECTION = "missed_connection", _("Missed connection")
    HELD_AT_FACILITY = "held_at_facility", _("Held at facility")


class Service(models.TextChoices):
    STANDARD = "standard", _("Standard")
    EXPRESS = "express", _("Express")
    ECONOMY = "economy", _("Economy")


class Facility(models.Model):
    class Kind(models.TextChoices):
        HUB = "hub", _("Hub")
        BRANCH = "branch", _("Branch")

    code = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.HUB)
    address = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=100)
    country = models.CharField(max_length=2, default="MX")
    time_zone = models.CharField(max_length=64, default="America/Mexico_City")

    class Meta:
        verbose_name_plural = _("facilities")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.city})"


class Partner(models.Model):
    """A shop, linehaul partner or hub system that talks to Phoenix over the API."""

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ShipmentQuerySet(models.QuerySet):
    def in_flight(self):
        return self.exclude(milestone__in=milestones.TERMINAL)

    def with_open_exception(self):
        return self.filter(exception_open=True)


class Shipment(models.Model):
    tracking_number = models.CharField(max_length=numbers.LENGTH, unique=True, editable=False)
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="shipments")
    reference = models.CharField(max_length=100, blank=True, help_text=_("The shipper's own order reference."))
    service = models.CharField(max_length=12, choices=Service.choices, default=Service.STANDARD)
    weight_grams = models.PositiveIntegerField()
    pieces = models.PositiveSmallIntegerField(default=1)
    origin_facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+")
    destination_facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+")
    origin_city = models.CharField(max_length=100)
    destination_city = models.CharField(max_length=100)
    destination_postal_code = models.CharField(max_length=10)

    milestone = models.CharField(max_length=24, choices=Milestone.choices, default=Milestone.LABEL_CREATED)
    milestone_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Scan time of the event that set the milestone.")
    )
    exception_open = models.BooleanField(default=False)
    exception_reason = models.CharField(max_length=32, choices=ExceptionReason.choices, blank=True)
    exception_at = models.DateTimeField(null=True, blank=True)
    eta_earliest = models.DateTimeField(null=True, blank=True)
    eta_latest = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShipmentQuerySet.as_manager()

    class Meta:
        indexes = [
            # API and admin: a partner's shipments by their own order reference.
            models.Index(fields=["partner", "reference"], name="shipment_partner_ref"),
            # Admin: search by reference across partners.
            models.Index(fields=["reference"], name="shipment_reference"),
            # Admin: change list filtered by milestone, newest first.
            models.Index(fields=["milestone", "-created_at"], name="shipment_milestone_created"),
            # Admin: open exceptions, newest first (operations' work queue).
            models.Index(fields=["exception_open", "-created_at"], name="shipment_exception_created"),
            # Admin: date hierarchy and default ordering.
            models.Index(fields=["-created_at"], name="shipment_created"),
        ]

    def __str__(self) -> str:
        return self.tracking_number

    def get_absolute_url(self) -> str:
        return reverse("tracking:detail", args=[self.tracking_number])

    @property
    def display_number(self) -> str:
        return numbers.display(self.tracking_number)

    @property
    def is_terminal(self) -> bool:
        return self.milestone in milestones.TERMINAL

    def postal_code_matches(self, value: str) -> bool:
        """Return True when ``value`` is this shipment's destination postal code."""
        return "".join(value.split()).upper() == "".join(self.destination_postal_code.split()).upper() != ""


class Contact(models.Model):
    """Personal data of a shipment's sender or recipient, kept apart from the public record."""

    class Role(models.TextChoices):
        SENDER = "sender", _("Sender")
        RECIPIENT = "recipient", _("Recipient")

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="contacts")
    role = models.CharField(max_length=10, choices=Role.choices)
    name = models.CharField(max_length=150)
    phone = models.CharField(max_length=32, blank=True)
    email = models.EmailField(blank=True)
    address = models.CharField(max_length=250, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=10, blank=True)
    country = models.CharField(max_length=2, default="MX")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shipment", "role"], name="contact_one_per_role"),
        ]
        indexes = [
            # Admin: search shipments by recipient name (prefix match).
            models.Index(fields=["name"], name="contact_name"),
            # Admin: search shipments by recipient phone.
            models.Index(fields=["phone"], name="contact_phone"),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.name}"


class EventSource(models.TextChoices):
    API = "api", _("Partner API")
    SCANNER = "scanner", _("Hub scanner")
    ADMIN = "admin", _("Staff")
    IMPORT = "import", _("CSV import")
    SYSTEM = "system", _("System")


class TrackingEvent(models.Model):
    """One scan or status event. Immutable: a correction is a new event."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    code = models.CharField(max_length=32, choices=EventCode.choices)
    milestone = models.CharField(max_length=24, choices=Milestone.choices, blank=True)
    reason = models.CharField(max_length=32, choices=ExceptionReason.choices, blank=True)
    close_exception = models.BooleanField(default=False)
    occurred_at = models.DateTimeField(help_text=_("When the scan happened (the scanner's clock)."))
    recorded_at = models.DateTimeField(auto_now_add=True)
    facility = models.ForeignKey(Facility, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=10, choices=EventSource.choices, default=EventSource.SYSTEM)
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    partner_event_id = models.CharField(max_length=100, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            # Idempotent ingest: a partner's event id is stored once.
            models.UniqueConstraint(fields=["partner", "partner_event_id"], name="event_partner_event_id"),
        ]
        indexes = [
            # Tracking page and API: a shipment's timeline in scan order.
            models.Index(fields=["shipment", "-occurred_at"], name="event_timeline"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.code} @ {self.occurred_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Tracking events are immutable; record a new event instead.")
        super().save(*args, **kwargs)


class MaintenanceSwitch(models.Model):
    """The write freeze: one row (id 1) on the writer, read by phoenix.maintenance on every instance.

    It lives in the database rather than in a file or an environment variable so that one
    command reaches every instance behind the load balancer at once, and so that DMS carries
    it to the new cluster during a cutover: instances that come up on the target stay frozen
    until an operator lifts the switch there.
    """

    enabled = models.BooleanField(default=False)
    message = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField(auto_now=True)
    changed_by = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return f"maintenance {'on' if self.enabled else 'off'}"


class PartnerToken(models.Model):
    """An API key of a partner. Only a SHA-256 of the key is stored; the key is shown once.

    Keys carry 256 random bits, so a fast hash is enough: nobody can guess a preimage, and a
    slow password hash would cost every API request tens of milliseconds.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, blank=True, help_text=_("What the token is for, e.g. a system's name."))
    prefix = models.CharField(max_length=16, unique=True, editable=False, help_text=_("Public part, for lookup."))
    key_hash = models.CharField(max_length=64, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["partner", "created_at"]

    def __str__(self) -> str:
        return f"{self.partner} {self.prefix}"


class IdempotencyKey(models.Model):
    """The first answer to a partner's request with an ``Idempotency-Key`` header."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64, help_text=_("SHA-256 of the request body, as parsed JSON."))
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One answer per key and partner: a concurrent retry waits on this index, then replays.
            models.UniqueConstraint(fields=["partner", "key"], name="idempotency_partner_key"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.key}"
