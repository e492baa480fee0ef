"""No postal code reaches the logs: Django's request warnings carry the request's query string."""

import io
import json
import logging

import pytest
from django.urls import reverse

from tests import factories
from tracking import numbers

pytestmark = pytest.mark.django_db


@pytest.fixture
def stdout_log():
    """Return what the configured stdout handler (filters and JSON formatter) writes meanwhile."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "stdout")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def test_a_wrong_postal_code_is_logged_without_the_code(client, stdout_log):
    shipment = factories.shipment(postal_code="44100")
    url = reverse("tracking:detail", args=[shipment.tracking_number])
    response = client.post(url, {"postal_code": "97531"})
    assert response.status_code == 403
    lines = [json.loads(line) for line in stdout_log.getvalue().splitlines()]
    forbidden = [line for line in lines if line.get("logger") == "django.request"]
    assert forbidden, lines
    assert forbidden[-1]["request"] == f"POST {url}"
    assert "97531" not in stdout_log.getvalue()


def test_a_postal_code_in_an_old_link_is_logged_redacted(client, stdout_log):
    url = reverse("tracking:detail", args=[numbers.from_body(77)])  # unknown: a 404 is logged
    response = client.get(url, {"postal_code": "97531", "utm": "mail"})
    assert response.status_code == 404
    lines = [json.loads(line) for line in stdout_log.getvalue().splitlines()]
    logged = [line for line in lines if line.get("logger") == "django.request"]
    assert logged[-1]["request"] == f"GET {url}?postal_code=redacted&utm=mail"
    assert "97531" not in stdout_log.getvalue()


@pytest.mark.parametrize("link", ["/notify/confirm/{}/", "/notify/unsubscribe/{}/"])
def test_the_token_of_an_email_link_is_logged_redacted(client, stdout_log, link):
    token = "sEcReT-link-token-1234567890"
    response = client.get(link.format(token))
    assert response.status_code in (200, 400, 404)
    logged = stdout_log.getvalue()
    assert token not in logged
    assert link.format("redacted") in logged  # the request's own log line (phoenix.db.middleware)
