"""Staff hardening: a second factor (TOTP) at the admin login, and the login lockout per address
whatever the usernames (issue 17: after one username was locked from an address, six others
could still be tried from it)."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "a-correct-horse-battery"


@pytest.fixture
def production_rule(settings):
    settings.PHOENIX_ADMIN_OTP = "superusers"  # the default without DJANGO_DEBUG


@pytest.fixture
def boss():
    return User.objects.create_superuser("boss", "boss@example.com", PASSWORD)


def _code(device: TOTPDevice, ahead: int = 0) -> str:
    """The device's code now, or ``ahead`` steps later (a code is good once: the enrolment used
    this step's; the device accepts the next step's as clock drift)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=ahead):06d}"


def _otp(device: TOTPDevice, code: str) -> dict:
    """The second step of the login form: the device picked in its list, and the code."""
    return {"otp_device": device.persistent_id, "otp_token": code}


def _login(client, username="boss", password=PASSWORD, address="203.0.113.7", **otp):
    data = {"username": username, "password": password, **otp}
    return client.post(LOGIN, data, HTTP_X_FORWARDED_FOR=address, HTTP_ACCEPT_LANGUAGE="en")


def _enrol(username: str) -> TOTPDevice:
    call_command("staff_otp_enrol", username, stdout=io.StringIO())
    device = TOTPDevice.objects.get(user__username=username)
    call_command("staff_otp_enrol", username, "--confirm", _code(device), stdout=io.StringIO())
    device.refresh_from_db()
    return device


def test_a_superuser_without_an_authenticator_cannot_log_in(client, boss, production_rule):
    response = _login(client)
    assert response.status_code == 200
    assert "has no authenticator yet" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_superuser_logs_in_only_with_the_code_of_a_confirmed_device(client, boss, production_rule):
    device = _enrol("boss")
    assert device.confirmed
    assert "Please enter your OTP token" in _login(client).content.decode()
    wrong = "000000" if _code(device, 1) != "000000" else "111111"
    assert "Invalid token" in _login(client, **_otp(device, wrong)).content.decode()
    device.throttling_failure_count = 0  # the wrong code above slows the next try down: let it pass
    device.throttling_failure_timestamp = None
    device.save()
    response = _login(client, **_otp(device, _code(device, ahead=1)))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_session_without_the_second_factor_does_not_reach_the_admin(client, boss, production_rule):
    client.force_login(boss)  # the password's session alone, never verified by a device
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_staff_with_a_device_must_use_it_and_all_staff_need_one_when_asked(client, settings, production_rule):
    User.objects.create_user("dispatcher", password=PASSWORD, is_staff=True)
    assert _login(client, "dispatcher").status_code == 302  # no device, not a superuser: the password
    client.logout()
    device = _enrol("dispatcher")
    assert _login(client, "dispatcher").status_code == 200  # now the code is asked
    assert _login(client, "dispatcher", **_otp(device, _code(device, ahead=1))).status_code == 302
    client.logout()
    settings.PHOENIX_ADMIN_OTP = "all"
    User.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    assert "has no authenticator yet" in _login(client, "clerk").content.decode()


def test_the_enrolment_command_refuses_a_wrong_code_and_unknown_users(boss):
    out = io.StringIO()
    call_command("staff_otp_enrol", "boss", stdout=out)
    assert "otpauth://totp/" in out.getvalue() and "secret: " in out.getvalue()
    device = TOTPDevice.objects.get(user=boss)
    wrong = "000000" if _code(device) != "000000" else "111111"
    with pytest.raises(CommandError, match="not the one the authenticator shows"):
        call_command("staff_otp_enrol", "boss", "--confirm", wrong)
    assert not TOTPDevice.objects.get(user=boss).confirmed
    with pytest.raises(CommandError, match="No user"):
        call_command("staff_otp_enrol", "nobody")


def test_one_address_spraying_many_usernames_is_locked_out(client, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for n in range(6):
        User.objects.create_user(f"staff{n}", password=PASSWORD, is_staff=True)
    for n in range(4):  # one wrong password for each of four accounts, from one address
        assert _login(client, f"staff{n}", "wrong").status_code == 200
    assert _login(client, "staff4", "wrong").status_code == 429  # the fifth failure locks the address
    # A sixth account, with its right password, is refused from that address ...
    assert _login(client, "staff5").status_code == 429
    # ... and served from another one.
    assert _login(client, "staff5", address="198.51.100.9").status_code == 302
