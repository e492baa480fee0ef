from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from tracking import milestones, numbers
from tracking.images import pod_upload_to, validate_pod_image


def history_user(request=None, **kwargs):
    """Return the staff user behind a change for the audit history, or None.

    Partner API requests carry a partner principal, not a user: their changes are recorded
    without a user (the event's ``partner`` and ``source`` say who sent them).
    """
    user = getattr(request, "user", None)
    return user if isinstance(user, AbstractBaseUser) and user.is_authenticated else None


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
    is_sandbox = models.BooleanField(
        default=False,
        db_default=False,
        help_text=_("A test partner: its tokens start phxt_, its shipments are tests and e-mail nobody."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PartnerScope(models.Model):
    """A grant by staff that lets a partner write events for shipments it does not own.

    Without a scope a partner writes (``POST /api/v1/events``) only its own shipments. A
    ``hub`` scope lets it record events scanned at one facility, for any shipment (a hub's
    scanners); a ``carrier`` scope lets it write every shipment of one shipper partner (a
    linehaul carrier hauling that shop's parcels). Changes are kept in the audit history.
    """

    class Kind(models.TextChoices):
        HUB = "hub", _("Hub: events scanned at a facility")
        CARRIER = "carrier", _("Carrier: every shipment of a shipper")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="scopes")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    facility = models.ForeignKey(
        Facility, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text=_("For a hub scope.")
    )
    shipper = models.ForeignKey(
        Partner,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("For a carrier scope: the partner whose shipments it may write."),
    )
    note = models.CharField(max_length=200, blank=True, help_text=_("Why the scope was granted."))
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "kind", "facility", "shipper"], name="partner_scope_once"),
        ]

    def __str__(self) -> str:
        target = self.facility if self.kind == self.Kind.HUB else self.shipper
        return f"{self.partner} {self.kind}: {target}"

    def clean(self) -> None:
        if self.kind == self.Kind.HUB and (self.facility_id is None or self.shipper_id is not None):
            raise ValidationError(_("A hub scope names a facility and no shipper."))
        if self.kind == self.Kind.CARRIER:
            if self.shipper_id is None or self.facility_id is not None:
                raise ValidationError(_("A carrier scope names a shipper and no facility."))
            if self.shipper_id == self.partner_id:
                raise ValidationError(_("A partner already writes its own shipments."))


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
    is_test = models.BooleanField(
        default=False,
        db_default=False,
        editable=False,
        help_text=_("Created by a sandbox partner: no e-mails are sent for it."),
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShipmentQuerySet.as_manager()
    # Audit: who changed what and when (admin history view).
    history = HistoricalRecords(get_user=history_user)

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
            # API changes feed: a partner's shipments by (updated_at, id), keyset pagination.
            models.Index(fields=["partner", "updated_at", "id"], name="shipment_partner_updated"),
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

    history = HistoricalRecords(get_user=history_user)

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
    token = models.ForeignKey(
        "PartnerToken",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The API token that sent the event (signed_by), for events posted over the API."),
    )
    # The shipment's partner when the event was recorded, copied so that a partner's events feed
    # reads one index (owner, id) instead of joining every event to its shipment.
    owner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Audit: events are never changed, so their history is one "created" record naming the user.
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        permissions = [
            ("record_scan", _("Can record scans from the admin")),
            ("manage_exception", _("Can open and close exceptions from the admin")),
        ]
        constraints = [
            # Idempotent ingest: a partner's event id is stored once.
            models.UniqueConstraint(fields=["partner", "partner_event_id"], name="event_partner_event_id"),
        ]
        indexes = [
            # Tracking page and API: a shipment's timeline in scan order.
            models.Index(fields=["shipment", "-occurred_at"], name="event_timeline"),
            # API events feed: a partner's events in recorded order, after a cursor (keyset).
            models.Index(fields=["owner", "id"], name="event_owner_feed"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.code} @ {self.occurred_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Tracking events are immutable; record a new event instead.")
        super().save(*args, **kwargs)


class MaintenanceSwitch(models.Model):
    """The write freeze: one row (id 1) on the writer, read by tracking.cutover.maintenance on every instance.

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


# Notifications (docs/notifications.md): e-mail subscriptions, partner webhook endpoints, and
# the outbox rows that the scan-event path writes in the same transaction as the event.


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CLAIMED = "claimed", _("Claimed by a worker")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    UNCERTAIN = "uncertain", _("Uncertain (worker stopped while sending)")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class OutboxItem(models.Model):
    """What is owed to one recipient, with the worker's lease on it (see tracking/notify/sender.py)."""

    status = models.CharField(max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class Subscription(models.Model):
    """A person's wish to hear about one shipment by e-mail. The address is stored encrypted."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for confirmation")
        ACTIVE = "active", _("Active")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="subscriptions")
    email_encrypted = models.TextField(editable=False)
    email_hash = models.CharField(max_length=64, editable=False)
    email_masked = models.CharField(max_length=100, editable=False)
    topics = models.JSONField(default=list, help_text=_("Milestones wanted, and 'exception' for any exception."))
    language = models.CharField(max_length=8, choices=settings.LANGUAGES)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    confirmations_sent = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shipment", "email_hash"], name="subscription_one_per_address"),
        ]
        indexes = [
            # Scan-event path: a shipment's active subscriptions (notifications_owed).
            models.Index(fields=["shipment", "status"], name="subscription_shipment_status"),
            # Daily cap of confirmation e-mails per address, across shipments.
            models.Index(fields=["email_hash"], name="subscription_email_hash"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.email_masked} ({self.get_status_display()})"


class SubscriptionRequest(models.Model):
    """One "Notify me" form submission, kept for an hour or so to rate-limit across processes."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="+")
    client = models.CharField(max_length=64, help_text=_("Keyed hash of the client IP, never the IP itself."))
    requested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # Rate limit: requests for one shipment in the last hour.
            models.Index(fields=["shipment", "requested_at"], name="subscription_request_shipment"),
            # Rate limit: requests from one client in the last hour.
            models.Index(fields=["client", "requested_at"], name="subscription_request_client"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id} @ {self.requested_at:%Y-%m-%d %H:%M}"


class EmailNotification(OutboxItem):
    """One e-mail owed to one subscription: a confirmation, a milestone, or an exception."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="notifications")
    key = models.CharField(max_length=64, help_text=_("confirm:N, milestone:<name> or exception:<event id>."))
    event = models.ForeignKey(TrackingEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            # At most one e-mail per (subscription, milestone) or (subscription, exception event).
            models.UniqueConstraint(fields=["subscription", "key"], name="email_notification_once"),
        ]
        indexes = [
            # Worker: due rows in order (delivery claim query).
            models.Index(fields=["status", "next_attempt_at"], name="email_notification_due"),
        ]

    def __str__(self) -> str:
        return f"{self.key} -> subscription #{self.subscription_id}"


class WebhookEndpoint(models.Model):
    """A partner's HTTPS URL that receives signed JSON for its own shipments' events."""

    class Topic(models.TextChoices):
        MILESTONE = "milestone", _("Milestone changed")
        EXCEPTION = "exception", _("Exception opened or closed")
        SCAN = "scan", _("Every scan event")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    topics = models.JSONField(default=list)
    secret_encrypted = models.TextField(editable=False)
    # After a rotation the previous secret signs too, until ``previous_secret_until``.
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # Scan-event path: a partner's active endpoints (notifications_owed).
            models.Index(fields=["partner", "is_active"], name="webhook_endpoint_partner"),
        ]

    def __str__(self) -> str:
        return f"{self.partner} {self.url}"


class WebhookDelivery(OutboxItem):
    """One signed POST owed to one endpoint for one tracking event."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(TrackingEvent, on_delete=models.CASCADE, related_name="+")
    uuid = models.UUIDField(unique=True, editable=False, help_text=_("Sent in the body: receivers dedupe on it."))
    sequence = models.PositiveIntegerField(help_text=_("The event's position in its shipment's history."))
    payload = models.TextField(editable=False)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            # At most one delivery per (endpoint, event).
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once"),
        ]
        indexes = [
            # Worker: due rows in order (delivery claim query).
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint}"


def token_scopes_all() -> list[str]:
    """Return every scope: what a token may do unless staff narrow it."""
    return [scope for scope in PartnerToken.Scope.values]


class PartnerToken(models.Model):
    """An API key of a partner. Only a SHA-256 of the key is stored; the key is shown once.

    Keys carry 256 random bits, so a fast hash is enough: nobody can guess a preimage, and a
    slow password hash would cost every API request tens of milliseconds.
    """

    class Scope(models.TextChoices):
        TRACKING_READ = "tracking:read", _("Tracking and proofs of delivery: read")
        SHIPMENTS_READ = "shipments:read", _("Shipments feed: read")
        SHIPMENTS_WRITE = "shipments:write", _("Shipments: create")
        EVENTS_READ = "events:read", _("Events feed: read")
        EVENTS_WRITE = "events:write", _("Scan events: post")
        WEBHOOKS_READ = "webhooks:read", _("Webhooks: list, deliveries")
        WEBHOOKS_WRITE = "webhooks:write", _("Webhooks: register, change, ping, rotate, replay")
        SANDBOX_WRITE = "sandbox:write", _("Sandbox: create and advance test shipments")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, blank=True, help_text=_("What the token is for, e.g. a system's name."))
    prefix = models.CharField(max_length=16, unique=True, editable=False, help_text=_("Public part, for lookup."))
    key_hash = models.CharField(max_length=64, editable=False)
    is_active = models.BooleanField(default=True)
    scopes = models.JSONField(
        default=token_scopes_all, help_text=_("What the token may do, per family of endpoints (docs/api.md).")
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text=_("After this the token is refused (401 token_expired); empty: never.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    # Audit: staff's changes of scopes, expiry and activity (the key's use is not recorded).
    history = HistoricalRecords(get_user=history_user, excluded_fields=["last_used_at"])

    class Meta:
        ordering = ["partner", "created_at"]

    def __str__(self) -> str:
        return f"{self.partner} {self.prefix}"

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


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


class ProofOfDelivery(models.Model):
    """A photo or signature image attached to a shipment's delivery event.

    Shown to staff, and over the API to the partner that created the shipment; never public.
    """

    class Kind(models.TextChoices):
        PHOTO = "photo", _("Photo")
        SIGNATURE = "signature", _("Signature")

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="proofs")
    event = models.ForeignKey(TrackingEvent, on_delete=models.PROTECT, related_name="proofs")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PHOTO)
    image = models.FileField(upload_to=pod_upload_to, validators=[validate_pod_image], max_length=200)
    content_type = models.CharField(max_length=40, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("proof of delivery")
        verbose_name_plural = _("proofs of delivery")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


# WhatsApp and SMS updates (docs/notifications.md, "Phone updates"): who gets them and with
# whose consent, numbers that said STOP, and one outbox row per message owed.


class PhoneChannel(models.TextChoices):
    WHATSAPP = "whatsapp", _("WhatsApp")
    SMS = "sms", _("SMS")


class PhoneSubscription(models.Model):
    """Someone who gets WhatsApp or SMS updates of one shipment. The number is stored sealed."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the code")
        ACTIVE = "active", _("Active")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")

    class Source(models.TextChoices):
        API = "api", _("Shipper, partner API")
        IMPORT = "import", _("Shipper, CSV import")
        ADMIN = "admin", _("Staff")
        PAGE = "page", _("Tracking page (code confirmed)")

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="phone_subscriptions")
    phone_encrypted = models.TextField(editable=False)
    phone_hash = models.CharField(max_length=64, editable=False)
    phone_masked = models.CharField(max_length=32, editable=False)
    country = models.CharField(max_length=2, help_text=_("The number's country (+52 MX, +1 US)."))
    channel = models.CharField(max_length=10, choices=PhoneChannel.choices, default=PhoneChannel.WHATSAPP)
    first_name = models.CharField(max_length=50, blank=True, help_text=_("The only personal data in a message."))
    topics = models.JSONField(default=list, help_text=_("Milestones wanted, and 'exception' for any exception."))
    language = models.CharField(max_length=8, choices=settings.LANGUAGES)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=8, choices=Source.choices)
    consent_source = models.CharField(
        max_length=200, help_text=_("Where the consent was collected (the shipper's checkout, the page...).")
    )
    consent_at = models.DateTimeField(null=True, blank=True, help_text=_("When the consent was given."))
    code_hash = models.CharField(max_length=64, blank=True, editable=False)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shipment", "phone_hash"], name="phone_subscription_one_per_number"),
        ]
        indexes = [
            # Scan-event path: a shipment's active phone subscriptions (notifications_owed).
            models.Index(fields=["shipment", "status"], name="phone_subscription_shipment"),
            # STOP: every subscription of a number at once.
            models.Index(fields=["phone_hash"], name="phone_subscription_hash"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.phone_masked} ({self.get_channel_display()}, {self.get_status_display()})"


class PhoneOptOut(models.Model):
    """A number that asked for no more messages (STOP / BAJA / ALTO, or WhatsApp's opt-out)."""

    phone_hash = models.CharField(max_length=64, unique=True, editable=False)
    phone_masked = models.CharField(max_length=32, editable=False)
    channel = models.CharField(max_length=10, choices=PhoneChannel.choices)
    keyword = models.CharField(max_length=20)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.phone_masked} ({self.keyword})"


class PhoneMessage(OutboxItem):
    """One WhatsApp or SMS message owed to one phone subscription, and what the platform said of it."""

    class Delivery(models.TextChoices):
        QUEUED = "queued", _("Not handed over yet")
        ACCEPTED = "accepted", _("Accepted by the platform")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        READ = "read", _("Read")
        FAILED = "failed", _("Failed")

    subscription = models.ForeignKey(PhoneSubscription, on_delete=models.CASCADE, related_name="messages")
    key = models.CharField(max_length=64, help_text=_("code:N, milestone:<name> or exception:<event id>."))
    event = models.ForeignKey(TrackingEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(
        max_length=10, choices=PhoneChannel.choices, help_text=_("The channel used (SMS after a fallback).")
    )
    fell_back = models.BooleanField(default=False, help_text=_("WhatsApp could not reach the number; SMS was used."))
    template = models.CharField(max_length=64, blank=True)
    secret_encrypted = models.TextField(blank=True, editable=False, help_text=_("A one-time code, sealed until sent."))
    provider_id = models.CharField(max_length=128, null=True, blank=True, unique=True, editable=False)
    delivery = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.QUEUED)
    delivery_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # At most one message per (subscription, milestone) or (subscription, exception event).
            models.UniqueConstraint(fields=["subscription", "key"], name="phone_message_once"),
        ]
        indexes = [
            # Worker: due rows in order (delivery claim query).
            models.Index(fields=["status", "next_attempt_at"], name="phone_message_due"),
            # Admin: daily counts per channel.
            models.Index(fields=["created_at", "channel"], name="phone_message_day"),
        ]

    def __str__(self) -> str:
        return f"{self.key} -> phone subscription #{self.subscription_id} ({self.channel})"


class PhoneReceipt(models.Model):
    """One status callback about a message (WhatsApp status webhook, SMS delivery event), recorded once."""

    message = models.ForeignKey(PhoneMessage, on_delete=models.CASCADE, related_name="receipts")
    provider_id = models.CharField(max_length=128)
    delivery = models.CharField(max_length=10, choices=PhoneMessage.Delivery.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            # A replayed callback is not recorded twice.
            models.UniqueConstraint(fields=["provider_id", "delivery"], name="phone_receipt_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.delivery}"


class RateCounter(models.Model):
    """Points a client spent in one fixed window of a shared budget (tracking/budget.py).

    One row per client and window, on the writer, so that every process and instance counts
    against the same total; rows past ``expires_at`` are deleted by the processes as they go.
    """

    key = models.CharField(max_length=150, primary_key=True)
    points = models.PositiveBigIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.points}"


class UnlockGuard(models.Model):
    """Wrong postal codes given for one shipment, and its unlock's lockout (tracking/site/unlock.py).

    Kept on the writer: every process and instance counts the same failures, whatever client
    address they came from.
    """

    shipment = models.OneToOneField(Shipment, on_delete=models.CASCADE, related_name="unlock_guard")
    failures = models.PositiveIntegerField(default=0, help_text="Wrong codes since the last lockout or success.")
    lockouts = models.PositiveIntegerField(default=0, help_text="Lockouts in a row; each one lasts twice as long.")
    locked_until = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("postal-code lockout")
        verbose_name_plural = _("postal-code lockouts")

    def __str__(self) -> str:
        return f"{self.shipment_id}: {self.failures} wrong, {self.lockouts} lockouts"

    def is_locked(self, now) -> bool:
        return self.locked_until is not None and self.locked_until > now
