"""Admin for WhatsApp and SMS updates: phone subscriptions (staff add one with the consent given),
each message's state and receipts, daily counts per channel, and the numbers that said STOP.

Registered through tracking/admin/__init__.py. Numbers are never shown, only their masked form.
"""

from datetime import UTC, timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tracking import phones
from tracking.models import PhoneChannel, PhoneMessage, PhoneOptOut, PhoneReceipt, PhoneSubscription
from tracking.services import PHONE_TOPICS, phone_subscription_add

CHART_DAYS = 14


class PhoneSubscriptionAddForm(forms.ModelForm):
    phone = forms.CharField(max_length=32, label=_("Mobile number"), help_text=_("+52 or +1; E.164 or national."))

    class Meta:
        model = PhoneSubscription
        fields = ["shipment", "phone", "first_name", "channel", "language", "consent_source", "consent_at"]

    def clean_phone(self):
        try:
            return phones.phone_normalize(self.cleaned_data["phone"])[0]
        except phones.InvalidPhone as exc:
            raise ValidationError(str(exc)) from None

    def clean_consent_at(self):
        if not self.cleaned_data.get("consent_at"):
            raise ValidationError(_("Say when the recipient agreed to messages."))
        return self.cleaned_data["consent_at"]


@admin.register(PhoneSubscription)
class PhoneSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "shipment", "channel", "status", "source", "consent_at", "created_at"]
    list_filter = ["status", "channel", "source", "language"]
    raw_id_fields = ["shipment"]
    fields = [
        "shipment",
        "phone_masked",
        "country",
        "channel",
        "first_name",
        "language",
        "topics",
        "status",
        "source",
        "consent_source",
        "consent_at",
        "created_at",
    ]
    readonly_fields = fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = PhoneSubscriptionAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return PhoneSubscriptionAddForm.Meta.fields if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = phone_subscription_add(
            shipment=data["shipment"],
            phone=data["phone"],
            first_name=data["first_name"],
            channel=data["channel"],
            language=data["language"],
            consent_source=data["consent_source"],
            consent_at=data["consent_at"],
            source=PhoneSubscription.Source.ADMIN,
            topics=PHONE_TOPICS,
        )
        obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False


class PhoneReceiptInline(admin.TabularInline):
    model = PhoneReceipt
    fields = ["delivery", "occurred_at", "received_at", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PhoneMessage)
class PhoneMessageAdmin(admin.ModelAdmin):
    list_display = ["key", "subscription", "channel", "fell_back", "status", "delivery", "delivery_at", "sent_at"]
    list_filter = ["channel", "status", "delivery", "fell_back"]
    list_select_related = ["subscription"]
    raw_id_fields = ["subscription", "event"]
    readonly_fields = [f.name for f in PhoneMessage._meta.fields]
    inlines = [PhoneReceiptInline]
    change_list_template = "admin/tracking/phonemessage/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "daily": daily_counts()})


def daily_counts(days: int = CHART_DAYS) -> list[dict]:
    """Return messages created per UTC day and channel for the last ``days`` days, newest first.

    One grouped query over the (created_at, channel) index.
    """
    since = (
        (timezone.now() - timedelta(days=days - 1)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    rows = (
        PhoneMessage.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "channel")
        .annotate(count=Count("pk"))
    )
    counts: dict = {}
    for row in rows:
        counts.setdefault(row["day"], {})[row["channel"]] = row["count"]
    top = max([n for per_day in counts.values() for n in per_day.values()] or [0])
    today = timezone.now().astimezone(UTC).date()
    result = []
    for offset in range(days):
        day = today - timedelta(days=offset)
        per_day = counts.get(day, {})
        result.append(
            {
                "day": day,
                "channels": [
                    {"label": label, "count": per_day.get(value, 0), "max": top or 1}
                    for value, label in PhoneChannel.choices
                ],
            }
        )
    return result


@admin.register(PhoneOptOut)
class PhoneOptOutAdmin(admin.ModelAdmin):
    list_display = ["__str__", "channel", "keyword", "created_at"]
    list_filter = ["channel"]
    readonly_fields = ["phone_masked", "channel", "keyword", "created_at"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
