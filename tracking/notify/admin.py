"""Admin for notifications: webhook endpoints (registered here), deliveries, subscriptions.

Registered through tracking/admin/__init__.py. Subscriber addresses are never shown, only their masked form.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from tracking.models import EmailNotification, Subscription, WebhookDelivery, WebhookEndpoint
from tracking.notify import outbox, webhooks


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", label=_("URL"))
    topics = forms.MultipleChoiceField(
        choices=WebhookEndpoint.Topic.choices, widget=forms.CheckboxSelectMultiple, label=_("Events wanted")
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["partner", "url", "topics", "is_active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        webhooks.url_check(url)  # ValidationError says why: not HTTPS, private address, ...
        return url


class HealthFilter(admin.SimpleListFilter):
    title = _("health")
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [("disabled", _("Disabled")), ("failing", _("Failing")), ("healthy", _("Healthy"))]

    def queryset(self, request, queryset):
        if self.value() == "disabled":
            return queryset.filter(is_active=False)
        if self.value() == "failing":
            return queryset.filter(is_active=True, failing_since__isnull=False)
        if self.value() == "healthy":
            return queryset.filter(is_active=True, failing_since__isnull=True)
        return queryset


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "partner", "health", "failing_since", "disabled_at", "created_at"]
    list_filter = [HealthFilter, "partner"]
    readonly_fields = ["failing_since", "disabled_at", "created_at"]
    actions = ["enable_and_replay", "rotate_secret"]

    @admin.display(description=_("health"))
    def health(self, endpoint: WebhookEndpoint) -> str:
        if not endpoint.is_active:
            return format_html('<strong class="badge badge-disabled">{}</strong>', _("DISABLED"))
        if endpoint.failing_since:
            return format_html('<strong class="badge badge-failing">{}</strong>', _("failing"))
        return _("healthy")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        endpoint, secret = webhooks.endpoint_create(
            partner=obj.partner, url=obj.url, topics=obj.topics, is_active=obj.is_active
        )
        # The admin logs the addition and redirects to the row that endpoint_create made.
        obj.pk = endpoint.pk
        obj.refresh_from_db()
        obj._state.adding = False
        messages.warning(
            request,
            _("Signing secret for %(url)s (shown only this once; give it to the partner): %(secret)s")
            % {"url": obj.url, "secret": secret},
        )

    @admin.action(description=_("Re-enable and replay failed deliveries"))
    def enable_and_replay(self, request, queryset):
        total = 0
        for endpoint in queryset:
            try:
                webhooks.url_check(endpoint.url)
            except ValidationError as exc:
                messages.error(request, f"{endpoint.url}: {' '.join(exc.messages)}")
                continue
            total += outbox.endpoint_enable(endpoint=endpoint)
        messages.success(request, _("%(count)d deliveries queued again.") % {"count": total})

    @admin.action(description=_("Rotate the signing secret"))
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            secret = webhooks.endpoint_secret_rotate(endpoint=endpoint)
            messages.warning(request, _("New secret for %(url)s: %(secret)s") % {"url": endpoint.url, "secret": secret})


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["uuid", "endpoint", "sequence", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_filter = ["status", "endpoint__is_active"]
    list_select_related = ["endpoint__partner"]
    search_fields = ["=uuid"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["replay"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Replay the selected deliveries (same event ids)"))
    def replay(self, request, queryset):
        count = outbox.deliveries_replay(deliveries=list(queryset))
        skipped = queryset.count() - count
        messages.success(request, _("%(count)d deliveries queued again.") % {"count": count})
        if skipped:
            messages.warning(
                request,
                _("%(count)d skipped: their endpoint is disabled (re-enable it first) or they are being sent.")
                % {"count": skipped},
            )


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "shipment", "status", "language", "created_at", "confirmed_at"]
    list_filter = ["status", "language"]
    raw_id_fields = ["shipment"]
    fields = ["shipment", "email_masked", "topics", "language", "status", "created_at", "confirmed_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False


@admin.register(EmailNotification)
class EmailNotificationAdmin(admin.ModelAdmin):
    list_display = ["key", "subscription", "status", "attempts", "next_attempt_at", "sent_at"]
    list_filter = ["status"]
    raw_id_fields = ["subscription", "event"]
    readonly_fields = [f.name for f in EmailNotification._meta.fields]
    actions = ["send_again"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Send the selected uncertain or failed e-mails again"))
    def send_again(self, request, queryset):
        count = outbox.emails_resend(notifications=list(queryset))
        messages.success(request, _("%(count)d e-mails queued again.") % {"count": count})
