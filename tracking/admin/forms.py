"""Forms behind the admin's intermediate pages and inlines (scan, exception, proof of delivery)."""

from datetime import timedelta

from django import forms
from django.contrib.admin import widgets
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tracking import milestones
from tracking.images import image_content_type
from tracking.models import EventCode, ExceptionReason, Facility, ProofOfDelivery

# Codes a dispatcher records by hand; exceptions have their own actions.
SCAN_CODES = [(code, label) for code, label in EventCode.choices if code not in ("exception", "exception_cleared")]


class _ActionForm(forms.Form):
    occurred_at = forms.SplitDateTimeField(
        label=_("Scan time"), initial=timezone.now, widget=widgets.AdminSplitDateTime
    )
    facility = forms.ModelChoiceField(label=_("Facility"), queryset=Facility.objects.all(), required=False)
    justification = forms.CharField(
        label=_("Reason for this change"),
        max_length=300,
        help_text=_("Required. Kept with the event and in the admin log."),
    )

    def clean_justification(self) -> str:
        value = self.cleaned_data["justification"].strip()
        if not value:
            raise forms.ValidationError(_("Say why you are making this change."))
        return value

    def clean_occurred_at(self):
        value = self.cleaned_data["occurred_at"]
        if value > timezone.now() + timedelta(minutes=10):
            raise forms.ValidationError(_("The scan time is in the future."))
        return value


class ScanForm(_ActionForm):
    code = forms.ChoiceField(label=_("Event"), choices=SCAN_CODES)
    note = forms.CharField(label=_("Note"), max_length=180, required=False)
    field_order = ["code", "facility", "occurred_at", "note", "justification"]


class ExceptionOpenForm(_ActionForm):
    reason = forms.ChoiceField(label=_("Exception"), choices=ExceptionReason.choices)
    field_order = ["reason", "facility", "occurred_at", "justification"]


class ExceptionCloseForm(_ActionForm):
    field_order = ["facility", "occurred_at", "justification"]


class ProofOfDeliveryForm(forms.ModelForm):
    """Inline form: a new image for the shipment's delivery event; checked by content."""

    upload = forms.FileField(label=_("Image"), help_text=_("JPEG, PNG or WebP."))

    class Meta:
        model = ProofOfDelivery
        fields = ["kind"]

    def clean(self):
        cleaned = super().clean()
        image = cleaned.get("upload")
        if image is None or self.instance.pk:
            return cleaned
        image_content_type(image)
        shipment_id = self.instance.shipment_id
        if shipment_id is None or not self.instance.shipment.events.filter(milestone=milestones.DELIVERED).exists():
            raise forms.ValidationError(_("Record the delivery before attaching a proof of delivery."))
        return cleaned
