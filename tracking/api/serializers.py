"""Partner API payloads (docs/api.md).

Input serializers validate shipment creation. Scan events are validated by
``services.events_ingest`` itself (the CSV import shares it), so their serializers here, like
the output ones, only describe the payloads for the OpenAPI schema.
"""

from rest_framework import serializers

from tracking import phones
from tracking.models import EventCode, EventSource, ExceptionReason, Milestone, PhoneChannel, Service
from tracking.services import MAX_EVENTS_PER_INGEST

MAX_SHIPMENTS_PER_REQUEST = 100


class ContactInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    phone = serializers.CharField(max_length=32, required=False, default="", allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, default="", allow_blank=True)
    address = serializers.CharField(max_length=250, required=False, default="", allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    state = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    postal_code = serializers.CharField(max_length=10, required=False, default="", allow_blank=True)
    country = serializers.RegexField(r"^[A-Z]{2}$", max_length=2, min_length=2, required=False, default="MX")


class RecipientInSerializer(ContactInSerializer):
    postal_code = serializers.CharField(max_length=10, help_text="Unlocks the private tracking details.")


class ConsentSerializer(serializers.Serializer):
    source = serializers.CharField(
        max_length=200, help_text="Where the recipient agreed, e.g. 'checkout checkbox, shop.example.com'."
    )
    at = serializers.DateTimeField(help_text="When the recipient agreed (ISO 8601 with offset).")


class PhoneUpdatesSerializer(serializers.Serializer):
    consent = ConsentSerializer(help_text="The consent you collected from the recipient: required.")
    channel = serializers.ChoiceField(
        choices=PhoneChannel.choices,
        required=False,
        default=PhoneChannel.WHATSAPP,
        help_text="WhatsApp first (SMS when the number has no WhatsApp), or SMS only.",
    )
    language = serializers.ChoiceField(choices=[("es", "Spanish"), ("en", "English")], required=False, default="es")


class ShipmentInSerializer(serializers.Serializer):
    reference = serializers.CharField(
        max_length=100, required=False, default="", allow_blank=True, help_text="Your own order reference."
    )
    service = serializers.ChoiceField(choices=Service.choices, required=False, default=Service.STANDARD)
    weight_grams = serializers.IntegerField(min_value=1, max_value=1_000_000)
    pieces = serializers.IntegerField(min_value=1, max_value=999, required=False, default=1)
    origin_facility = serializers.CharField(max_length=12, help_text="Facility code, e.g. MEX01.")
    destination_facility = serializers.CharField(max_length=12, help_text="Facility code, e.g. GDL01.")
    recipient = RecipientInSerializer()
    sender = ContactInSerializer(required=False)
    phone_updates = PhoneUpdatesSerializer(
        required=False,
        help_text="WhatsApp/SMS updates to recipient.phone (a mobile of +52 or +1), with the recipient's consent.",
    )

    def validate(self, data):
        if "phone_updates" in data:
            try:
                phones.phone_normalize(data["recipient"].get("phone", ""), default_country=data["recipient"]["country"])
            except phones.InvalidPhone as exc:
                raise serializers.ValidationError({"recipient": {"phone": [str(exc)]}}) from None
        return data


class ShipmentCreatedSerializer(serializers.Serializer):
    tracking_number = serializers.CharField()
    display_number = serializers.CharField()
    reference = serializers.CharField()
    milestone = serializers.ChoiceField(choices=Milestone.choices)
    url = serializers.URLField(help_text="The public tracking page.")


class ShipmentsCreatedSerializer(serializers.Serializer):
    shipments = ShipmentCreatedSerializer(many=True)


class EventInSerializer(serializers.Serializer):
    id = serializers.RegexField(
        r"^[\x21-\x7e]{1,100}$", max_length=100, help_text="Your own event id: a replay with it changes nothing."
    )
    tracking_number = serializers.CharField(max_length=40)
    milestone = serializers.ChoiceField(choices=Milestone.choices, required=False, allow_null=True)
    code = serializers.ChoiceField(
        choices=EventCode.choices, required=False, allow_null=True, help_text="An event code instead of a milestone."
    )
    reason = serializers.ChoiceField(
        choices=ExceptionReason.choices, required=False, allow_null=True, help_text="Opens an exception."
    )
    occurred_at = serializers.DateTimeField(help_text="Scan time with its UTC offset.")
    facility = serializers.CharField(max_length=12, required=False, allow_null=True, allow_blank=True)
    note = serializers.CharField(max_length=500, required=False, allow_null=True, allow_blank=True)
    close_exception = serializers.BooleanField(required=False, allow_null=True, default=False)


class EventsInSerializer(serializers.Serializer):
    events = EventInSerializer(many=True, min_length=1, max_length=MAX_EVENTS_PER_INGEST)


class EventResultSerializer(serializers.Serializer):
    id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class EventsResultSerializer(serializers.Serializer):
    results = EventResultSerializer(many=True)
    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()


class CitySerializer(serializers.Serializer):
    city = serializers.CharField()


class EventOutSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Opaque and stable; the same id as in the events feed.")
    sequence = serializers.IntegerField(help_text="1, 2, ... in the order Phoenix recorded the shipment's events.")
    code = serializers.ChoiceField(choices=EventCode.choices)
    milestone = serializers.ChoiceField(choices=Milestone.choices, allow_null=True)
    reason = serializers.ChoiceField(choices=ExceptionReason.choices, allow_null=True)
    occurred_at = serializers.DateTimeField()
    time_zone = serializers.CharField(allow_null=True, help_text="The facility's IANA time zone, for local times.")
    facility = CitySerializer(allow_null=True)
    message = serializers.CharField(required=False, help_text="With ?lang=es|en: the event, in words.")


class ExceptionOutSerializer(serializers.Serializer):
    open = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=ExceptionReason.choices, allow_null=True)
    group = serializers.ChoiceField(
        choices=["recipient", "address", "customs", "weather", "carrier"],
        allow_null=True,
        help_text="What the open exception is about; null when none is open.",
    )


class EtaSerializer(serializers.Serializer):
    earliest = serializers.DateTimeField(allow_null=True)
    latest = serializers.DateTimeField(allow_null=True)


class TrackingSerializer(serializers.Serializer):
    """The public projection; the owner's token adds ``private``."""

    tracking_number = serializers.CharField()
    display_number = serializers.CharField()
    public_url = serializers.URLField(help_text="The shipment's public tracking page.")
    milestone = serializers.ChoiceField(choices=Milestone.choices)
    milestone_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(help_text="When its tracking last changed.")
    action_required = serializers.BooleanField(
        help_text="Someone must act for the parcel to move: a failed attempt, a parcel to collect, or an "
        "exception about the recipient, the address or customs papers."
    )
    message = serializers.CharField(required=False, help_text="With ?lang=es|en: the status, in words.")
    exception = ExceptionOutSerializer()
    eta = EtaSerializer()
    origin = CitySerializer()
    destination = CitySerializer()
    events = EventOutSerializer(many=True, help_text="Newest scan first.")
    private = serializers.DictField(
        required=False,
        help_text="Only with the token of the partner that created the shipment: reference, service, "
        "weight, recipient, sender, per event the facility code, note, your id and `signed_by` (source, partner "
        "and, for your own token, its prefix and name), and `proof_of_delivery`: "
        "a list (oldest first, often empty) of {id, kind (photo or signature), content_type, uploaded_at, url}, "
        "where url is the absolute link to GET /api/v1/proofs/{id}.",
    )


class TrackingResultSerializer(serializers.Serializer):
    query = serializers.CharField(help_text="The number as you sent it.")
    status = serializers.ChoiceField(choices=["found", "not_found", "invalid"])
    shipment = TrackingSerializer(required=False)
    message = serializers.CharField(required=False)


class TrackingListSerializer(serializers.Serializer):
    results = TrackingResultSerializer(many=True)


class ShipmentsPageSerializer(serializers.Serializer):
    shipments = TrackingSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page, or null at the end.")


class SignedByTokenSerializer(serializers.Serializer):
    prefix = serializers.CharField(help_text="The public part of the token (phx_<prefix>_...).")
    name = serializers.CharField(allow_blank=True)


class SignedBySerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=EventSource.choices, help_text="How the event reached Phoenix.")
    partner = serializers.CharField(allow_null=True, help_text="The partner that sent it (you, a hub, a carrier).")
    token = SignedByTokenSerializer(allow_null=True, help_text="Which of your tokens sent it, for your own events.")


class FeedEventSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Opaque and stable; also a cursor for `after`.")
    tracking_number = serializers.CharField()
    code = serializers.ChoiceField(choices=EventCode.choices)
    milestone = serializers.ChoiceField(choices=Milestone.choices, allow_null=True)
    reason = serializers.ChoiceField(choices=ExceptionReason.choices, allow_null=True)
    occurred_at = serializers.DateTimeField(help_text="The scanner's time.")
    recorded_at = serializers.DateTimeField(help_text="When Phoenix recorded it (the feed's order).")
    facility = serializers.CharField(allow_null=True, help_text="The facility code.")
    partner_event_id = serializers.CharField(allow_null=True, help_text="Your id, for events you posted.")
    signed_by = SignedBySerializer(help_text="Who recorded the event.")


class EventsPageSerializer(serializers.Serializer):
    events = FeedEventSerializer(many=True)
    cursor = serializers.CharField(allow_null=True, help_text="Where to resume later (the last event seen).")
    next = serializers.URLField(allow_null=True, help_text="The next page, or null when nothing is left yet.")


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable, e.g. invalid, not_found, throttled.")
    message = serializers.CharField()
    fields = serializers.DictField(
        required=False,
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Messages by dotted field path, e.g. {"recipient.name": ["This field is required."]}.',
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()
