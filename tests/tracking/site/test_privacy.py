"""Recipient and sender data stay hidden until the destination postal code is given."""

import pytest
from django.urls import reverse

from tests.tracking.site.conftest import RECIPIENT, SENDER

pytestmark = pytest.mark.django_db

PERSONAL = [
    RECIPIENT["name"],
    "Fernanda",
    RECIPIENT["phone"],
    RECIPIENT["email"],
    RECIPIENT["address"],
    "Av. Juárez",
    SENDER["name"],
    SENDER["phone"],
    SENDER["email"],
    "Received by",  # the delivery note, part of the proof of delivery
]


def _leaks(html: str) -> list[str]:
    return [value for value in PERSONAL if value in html]


@pytest.mark.parametrize("language", ["en", "es"])
def test_public_pages_carry_no_personal_data(client, delivered, language):
    pages = [
        reverse("tracking:detail", args=[delivered.tracking_number]),
        f"/track/?numbers={delivered.tracking_number},QP00000000000",
    ]
    for url in pages:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200
        assert _leaks(response.content.decode()) == []


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("44101", 403, "This postal code does not match the delivery address"),
        ("<b>1</b>", 400, "A postal code has 3 to 10 letters or digits"),
        ("1", 400, "A postal code has 3 to 10 letters or digits"),
    ],
)
def test_a_wrong_or_malformed_postal_code_unlocks_nothing(client, delivered, code, status, message):
    url = reverse("tracking:detail", args=[delivered.tracking_number])
    response = client.post(url, {"postal_code": code}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == status
    html = response.content.decode()
    assert message in html
    assert 'aria-invalid="true"' in html
    assert "<b>1</b>" not in html
    assert _leaks(html) == []
    assert "no-store" in response.headers["Cache-Control"]


def test_the_right_postal_code_shows_the_recipient_and_proof_of_delivery_privately(client, delivered):
    url = reverse("tracking:detail", args=[delivered.tracking_number])
    response = client.post(url, {"postal_code": " 44100 "}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert RECIPIENT["name"] in html
    assert RECIPIENT["address"] in html
    assert "Received by Fernanda Ruiz Ortega at the front door" in html
    # Only what the postal code unlocks: never the phone, e-mail or anything about the sender.
    assert RECIPIENT["phone"] not in html and RECIPIENT["email"] not in html
    assert SENDER["name"] not in html
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in response.headers
