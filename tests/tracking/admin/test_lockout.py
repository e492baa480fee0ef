"""Login lockout (django-axes) after repeated failures; the login page is never cached."""

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def operator():
    return User.objects.create_user("operator", password="a-correct-horse-battery", is_staff=True)


def _login(client, password, address="203.0.113.7"):
    return client.post(
        LOGIN, {"username": "operator", "password": password}, HTTP_X_FORWARDED_FOR=address, REMOTE_ADDR="10.0.0.2"
    )


def test_it_locks_the_account_from_that_address_after_five_failures(client, operator, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(4):
        assert _login(client, "wrong").status_code == 200  # the form again, with an error
    locked = _login(client, "wrong")
    assert locked.status_code == 429
    # Even the right password is refused now.
    assert _login(client, "a-correct-horse-battery").status_code == 429
    assert "_auth_user_id" not in client.session
    # Another client address (first hop added by the load balancer) is not locked.
    assert _login(client, "a-correct-horse-battery", address="198.51.100.9").status_code == 302


def test_a_forged_forwarded_for_entry_does_not_escape_the_lockout(client, operator):
    for attempt in range(5):
        _login(client, "wrong", address=f"192.0.2.{attempt}, 203.0.113.7")
    assert _login(client, "a-correct-horse-battery", address="192.0.2.99, 203.0.113.7").status_code == 429


def test_a_successful_login_works_and_the_login_page_is_not_cached(client, operator):
    page = client.get(LOGIN)
    assert "no-store" in page["Cache-Control"]
    assert _login(client, "a-correct-horse-battery").status_code == 302
