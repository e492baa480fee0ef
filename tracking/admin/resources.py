"""CSV import and export (django-import-export) for shipments and scan events.

Imports are all or nothing: every row is checked in a dry run first, and the real import runs
in one transaction that is rolled back when any row is bad. Rows are created through the
domain services (``shipment_create``, ``event_record``), never saved directly, so tracking
numbers are drawn, contacts created and the forward-only milestone rules applied as for the API.
"""

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from import_export import fields, resources, results, widgets

from tracking import numbers, phones
from tracking.models import (
    Contact,
    EventCode,
    EventSource,
    ExceptionReason,
    Facility,
    PhoneChannel,
    Service,
    Shipment,
    TrackingEvent,
)
from tracking.services import event_record, shipment_create

CONTACT_FIELDS = ("name", "phone", "email", "address", "city", "state", "postal_code", "country")


class FacilityCodeWidget(widgets.ForeignKeyWidget):
    """A facility by its code, with a row error (not a traceback) when there is none."""

    def __init__(self, **kwargs):
        super().__init__(Facility, field="code", **kwargs)

    def clean(self, value, row=None, **kwargs):
        code = (value or "").strip().upper()
        if not code:
            return None
        facility = Facility.objects.filter(code=code).first()
        if facility is None:
            raise ValueError(_("No facility has the code %(code)s.") % {"code": code})
        return facility


class FileLineResult(results.Result):
    """Results that name rows by their line in the CSV file (line 1 is the header)."""

    def row_errors(self):
        return [(i + 2, row.errors) for i, row in enumerate(self.rows) if row.errors]


class _AllOrNothingResource(resources.ModelResource):
    def get_result_class(self):
        return FileLineResult

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        try:
            super().import_field(field, instance, row, is_m2m, **kwargs)
        except ArithmeticError:  # decimal.InvalidOperation from the number widgets
            raise ValueError(_("%(value)r is not a number.") % {"value": row.get(field.column_name)}) from None

    def import_data(self, dataset, **kwargs):
        """Import in one transaction that is rolled back when any row is invalid or fails."""
        kwargs["use_transactions"] = True
        kwargs["rollback_on_validation_errors"] = True
        result = super().import_data(dataset, **kwargs)
        for row in result.invalid_rows:
            row.number += 1  # data row N is line N + 1 of the file
        return result

    def _cell(self, row, column: str) -> str:
        value = row.get(column)
        return "" if value is None else str(value).strip()


class ShipmentImportResource(_AllOrNothingResource):
    """One shipment per row; the tracking number is drawn by ``shipment_create``."""

    origin_facility = fields.Field(
        attribute="origin_facility", column_name="origin_facility", widget=FacilityCodeWidget()
    )
    destination_facility = fields.Field(
        attribute="destination_facility", column_name="destination_facility", widget=FacilityCodeWidget()
    )
    recipient_name = fields.Field(column_name="recipient_name")
    recipient_phone = fields.Field(column_name="recipient_phone")
    recipient_email = fields.Field(column_name="recipient_email")
    recipient_address = fields.Field(column_name="recipient_address")
    recipient_city = fields.Field(column_name="recipient_city")
    recipient_state = fields.Field(column_name="recipient_state")
    recipient_postal_code = fields.Field(column_name="recipient_postal_code")
    recipient_country = fields.Field(column_name="recipient_country")
    sender_name = fields.Field(column_name="sender_name")
    sender_phone = fields.Field(column_name="sender_phone")
    sender_email = fields.Field(column_name="sender_email")
    sender_address = fields.Field(column_name="sender_address")
    sender_city = fields.Field(column_name="sender_city")
    sender_postal_code = fields.Field(column_name="sender_postal_code")
    # WhatsApp/SMS updates to recipient_phone, with the consent the shipper collected (optional).
    phone_updates = fields.Field(column_name="phone_updates")
    phone_consent_source = fields.Field(column_name="phone_consent_source")
    phone_consent_at = fields.Field(column_name="phone_consent_at")
    phone_language = fields.Field(column_name="phone_language")

    class Meta:
        model = Shipment
        import_id_fields = ()
        force_init_instance = True
        skip_diff = True
        fields = (
            "reference",
            "service",
            "weight_grams",
            "pieces",
            "origin_facility",
            "destination_facility",
            "destination_postal_code",
            "recipient_name",
            "recipient_phone",
            "recipient_email",
            "recipient_address",
            "recipient_city",
            "recipient_state",
            "recipient_postal_code",
            "recipient_country",
            "sender_name",
            "sender_phone",
            "sender_email",
            "sender_address",
            "sender_city",
            "sender_postal_code",
            "phone_updates",
            "phone_consent_source",
            "phone_consent_at",
            "phone_language",
        )

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        self._phone_updates(row, errors)
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if not self._cell(row, "service"):
            instance.service = Service.STANDARD
        if not self._cell(row, "pieces"):
            instance.pieces = 1
        # Filled in by shipment_create; set here so that the model's own checks pass.
        instance.tracking_number = numbers.generate()
        instance.origin_city = getattr(instance.origin_facility, "city", "") if instance.origin_facility_id else ""
        instance.destination_city = (
            getattr(instance.destination_facility, "city", "") if instance.destination_facility_id else ""
        )
        for role in (Contact.Role.RECIPIENT, Contact.Role.SENDER):
            data = self._contact(row, role)
            if role == Contact.Role.SENDER and not self._given(data):
                continue
            try:
                Contact(role=role, **data).full_clean(exclude=["shipment"])
            except ValidationError as exc:
                for name, messages in exc.message_dict.items():
                    errors.setdefault(f"{role}_{name}", []).extend(messages)
        if errors:
            raise ValidationError(errors)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        # The number is a placeholder until shipment_create draws one; no uniqueness query.
        super().validate_instance(instance, import_validation_errors, validate_unique=False)

    def save_instance(self, instance, is_create, row, **kwargs):
        sender = self._contact(row, Contact.Role.SENDER)
        shipment = shipment_create(
            origin_facility=instance.origin_facility,
            destination_facility=instance.destination_facility,
            destination_postal_code=instance.destination_postal_code,
            weight_grams=instance.weight_grams,
            pieces=instance.pieces,
            service=instance.service,
            reference=instance.reference,
            recipient=self._contact(row, Contact.Role.RECIPIENT),
            sender=sender if self._given(sender) else None,
            source=EventSource.IMPORT,
            phone_updates=self._phone_updates(row, {}),
        )
        instance.pk, instance.tracking_number = shipment.pk, shipment.tracking_number

    def _phone_updates(self, row, errors: dict) -> dict | None:
        """Return shipment_create's ``phone_updates`` for the row, or None; add what is wrong to ``errors``."""
        channel = self._cell(row, "phone_updates").lower()
        if not channel:
            return None
        if channel not in PhoneChannel.values:
            errors["phone_updates"] = [_("%(value)r is not whatsapp or sms.") % {"value": channel}]
        country = (self._cell(row, "recipient_country") or "MX").upper()
        try:
            phones.phone_normalize(self._cell(row, "recipient_phone"), default_country=country)
        except phones.InvalidPhone as exc:
            errors["recipient_phone"] = [str(exc)]
        source = self._cell(row, "phone_consent_source")
        if not source:
            errors["phone_consent_source"] = [_("Say where the recipient agreed to messages.")]
        raw_time = self._cell(row, "phone_consent_at")
        try:
            consent_at = parse_datetime(raw_time)
        except ValueError:
            consent_at = None
        if consent_at is None or timezone.is_naive(consent_at):
            errors["phone_consent_at"] = [
                _("%(value)r is not a date and time with its offset, such as 2026-11-27T10:00:00-06:00.")
                % {"value": raw_time}
            ]
        language = self._cell(row, "phone_language").lower() or "es"
        if language not in ("es", "en"):
            errors["phone_language"] = [_("%(value)r is not es or en.") % {"value": language}]
        return {
            "phone": self._cell(row, "recipient_phone"),
            "default_country": country,
            "first_name": self._cell(row, "recipient_name"),
            "consent_source": source,
            "consent_at": consent_at,
            "channel": channel,
            "language": language,
        }

    @staticmethod
    def _given(contact: dict) -> bool:
        return any(value for name, value in contact.items() if name != "country")

    def _contact(self, row, role: str) -> dict:
        data = {name: self._cell(row, f"{role}_{name}") for name in CONTACT_FIELDS}
        data["country"] = (data["country"] or "MX").upper()
        if role == Contact.Role.RECIPIENT and not data["postal_code"]:
            data["postal_code"] = self._cell(row, "destination_postal_code")
        return data


class EventImportResource(_AllOrNothingResource):
    """One scan event per row, recorded through ``event_record``."""

    tracking_number = fields.Field(column_name="tracking_number")
    code = fields.Field(column_name="code")
    occurred_at = fields.Field(column_name="occurred_at")
    facility = fields.Field(column_name="facility")
    reason = fields.Field(column_name="reason")
    close_exception = fields.Field(column_name="close_exception")
    note = fields.Field(column_name="note")

    class Meta:
        model = TrackingEvent
        import_id_fields = ()
        force_init_instance = True
        skip_diff = True
        fields = ("tracking_number", "code", "occurred_at", "facility", "reason", "close_exception", "note")

    def import_instance(self, instance, row, **kwargs):
        """Check every cell of the row and fill ``instance``; raise one ValidationError for all."""
        errors: dict[str, list[str]] = {}
        raw_number = self._cell(row, "tracking_number")
        try:
            number = numbers.parse(raw_number)
        except numbers.InvalidTrackingNumber as exc:
            if exc.reason == "check_digit":
                message = _("%(value)s is not a valid tracking number; it was probably mistyped.")
            else:
                message = _("%(value)r is not a tracking number (QP and 12 digits).")
            errors["tracking_number"] = [message % {"value": raw_number}]
        else:
            instance.shipment = Shipment.objects.filter(tracking_number=number).first()
            if instance.shipment is None:
                errors["tracking_number"] = [_("No shipment has the number %(number)s.") % {"number": number}]
        instance.code = self._cell(row, "code").lower()
        if instance.code not in EventCode.values:
            errors["code"] = [_("%(code)r is not an event code.") % {"code": instance.code}]
        raw_time = self._cell(row, "occurred_at")
        try:
            occurred_at = parse_datetime(raw_time)
        except ValueError:
            occurred_at = None
        if occurred_at is None:
            errors["occurred_at"] = [
                _("%(value)r is not a date and time such as 2026-11-27T10:00:00-06:00.") % {"value": raw_time}
            ]
        else:
            if timezone.is_naive(occurred_at):
                occurred_at = timezone.make_aware(occurred_at)
            instance.occurred_at = occurred_at
        try:
            instance.facility = FacilityCodeWidget().clean(self._cell(row, "facility"))
        except ValueError as exc:
            errors["facility"] = [str(exc)]
        instance.reason = self._cell(row, "reason").lower()
        if instance.reason and instance.reason not in ExceptionReason.values:
            errors["reason"] = [_("%(reason)r is not an exception reason.") % {"reason": instance.reason}]
        flag = self._cell(row, "close_exception").lower()
        if flag not in ("", "0", "1", "true", "false", "yes", "no"):
            errors["close_exception"] = [_("Use 1 or 0 (or true/false).")]
        instance.close_exception = flag in ("1", "true", "yes")
        instance.note = self._cell(row, "note")
        if len(instance.note) > 500:
            errors["note"] = [_("The note is longer than 500 characters.")]
        if errors:
            raise ValidationError(errors)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        super().validate_instance(instance, import_validation_errors, validate_unique=False)

    def save_instance(self, instance, is_create, row, **kwargs):
        event = event_record(
            shipment=instance.shipment,
            code=instance.code,
            occurred_at=instance.occurred_at,
            facility=instance.facility,
            reason=instance.reason,
            close_exception=instance.close_exception,
            note=instance.note,
            source=EventSource.IMPORT,
            created_by=kwargs.get("user"),
        )
        instance.pk = event.pk


# A spreadsheet reads a cell that starts with one of these as a formula (tab and CR too, which
# some programs skip before looking for the others).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """Return ``value`` with a single quote first when a spreadsheet would run it as a formula.

    The OWASP advice for CSV injection: the quote makes the cell text (``'=1+1`` shows as
    ``=1+1`` in most programs, and runs nothing). Legitimate values that start so, such as the
    phone number ``+52 33 1234 5678``, keep every character after the quote. The library's own
    switch (IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT) strips a leading ``=`` and nothing else.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class ShipmentExportResource(resources.ModelResource):
    """The change list as CSV, without personal data; every cell spreadsheet-safe."""

    tracking_number = fields.Field(attribute="tracking_number", column_name="tracking_number")
    origin_facility = fields.Field(attribute="origin_facility__code", column_name="origin_facility")
    destination_facility = fields.Field(attribute="destination_facility__code", column_name="destination_facility")

    class Meta:
        model = Shipment
        fields = (
            "tracking_number",
            "reference",
            "service",
            "weight_grams",
            "pieces",
            "origin_facility",
            "destination_facility",
            "destination_city",
            "destination_postal_code",
            "milestone",
            "milestone_at",
            "exception_open",
            "exception_reason",
            "eta_latest",
            "delivered_at",
            "created_at",
        )
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("origin_facility", "destination_facility")

    def export_field(self, field, instance, **kwargs):
        return spreadsheet_safe(super().export_field(field, instance, **kwargs))


class ShipmentExportWithContactsResource(ShipmentExportResource):
    """The change list as CSV with the recipient's personal data (roles that may see contacts)."""

    recipient_name = fields.Field(column_name="recipient_name")
    recipient_phone = fields.Field(column_name="recipient_phone")
    recipient_email = fields.Field(column_name="recipient_email")
    recipient_address = fields.Field(column_name="recipient_address")

    class Meta(ShipmentExportResource.Meta):
        fields = (
            *ShipmentExportResource.Meta.fields,
            "recipient_name",
            "recipient_phone",
            "recipient_email",
            "recipient_address",
        )
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return super().filter_export(queryset, **kwargs).prefetch_related("contacts")

    def _recipient(self, shipment):
        return next((c for c in shipment.contacts.all() if c.role == Contact.Role.RECIPIENT), None)

    def dehydrate_recipient_name(self, shipment):
        return getattr(self._recipient(shipment), "name", "")

    def dehydrate_recipient_phone(self, shipment):
        return getattr(self._recipient(shipment), "phone", "")

    def dehydrate_recipient_email(self, shipment):
        return getattr(self._recipient(shipment), "email", "")

    def dehydrate_recipient_address(self, shipment):
        return getattr(self._recipient(shipment), "address", "")
