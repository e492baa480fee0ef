"""A second factor for staff: the admin login asks for the code of a confirmed TOTP device.

django-otp with its TOTP plugin (any authenticator app: RFC 6238, 6 digits, 30 s). Who must
have one is PHOENIX_ADMIN_OTP:

- ``superusers`` (the default without DJANGO_DEBUG): a superuser logs in only with the code of a
  confirmed device; other staff must give one if they have one;
- ``all``: every staff user needs a confirmed device;
- ``enrolled`` (the default with DJANGO_DEBUG=1): whoever has a confirmed device gives its code,
  the others log in with the password alone.

Devices are enrolled with ``manage.py staff_otp_enrol USERNAME`` (then ``--confirm CODE``) or
in the admin (OTP_TOTP > TOTP devices); docs/security.md tells how the first superuser gets one.
Failed codes slow down (django-otp's throttling per device) and the password's failures stay
limited by django-axes.
"""

from django.conf import settings
from django.contrib.admin import AdminSite
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_otp import user_has_device
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


def device_required(user) -> bool:
    """Return True when ``user`` may use the admin only with a second factor."""
    mode = settings.PHOENIX_ADMIN_OTP
    if mode == "all" or (mode == "superusers" and user.is_superuser):
        return True
    return user_has_device(user, confirmed=True)


class StaffAuthenticationForm(OTPAdminAuthenticationForm):
    """The admin login: username, password and, where one is required, the device's code."""

    no_device = _(
        "This account needs a second factor but has no authenticator yet. Ask an administrator to "
        "enrol one (manage.py staff_otp_enrol)."
    )

    def clean(self):
        cleaned = super(OTPAdminAuthenticationForm, self).clean()  # the password, as Django checks it
        user = self.get_user()
        if user is not None and device_required(user):
            if not user_has_device(user, confirmed=True):
                raise ValidationError(self.no_device, code="no_device")
            self.cleaned_data = cleaned
            self.clean_otp(user)
        return self.cleaned_data


class StaffAdminSite(OTPAdminSite):
    """Django's admin site, open to staff verified by their device where one is required."""

    login_form = StaffAuthenticationForm

    def has_permission(self, request) -> bool:
        if not AdminSite.has_permission(self, request):
            return False
        return request.user.is_verified() or not device_required(request.user)
