"""Partner API tokens in the admin: staff narrow what a token may do and when it expires.

Tokens are made with ``manage.py create_partner`` (the key is printed once; only its hash is
stored), so there is no add form here. Every change is kept in the audit history with the
staff user (docs/api.md, Token scopes and expiry).
"""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from tracking.models import PartnerToken


class PartnerTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=PartnerToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=_("Scopes"),
        help_text=_("Reads are GET requests; writes are every other method."),
    )

    class Meta:
        model = PartnerToken
        fields = ["name", "is_active", "scopes", "expires_at"]


@admin.register(PartnerToken)
class PartnerTokenAdmin(SimpleHistoryAdmin):
    form = PartnerTokenForm
    list_display = ["prefix", "partner", "name", "is_active", "expires_at", "last_used_at"]
    list_filter = ["is_active", "partner__is_sandbox"]
    list_select_related = ["partner"]
    search_fields = ["prefix", "name", "partner__name"]
    readonly_fields = ["partner", "prefix", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False
