"""Whatever is typed into the lookup box gets a clear message and a 4xx, never a 500."""

import pytest

from tracking import numbers

pytestmark = pytest.mark.django_db

TWENTY_SIX = " ".join(numbers.from_body(n) for n in range(1, 27))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter at least one tracking number."),
        ("   \n ,, ", "Enter at least one tracking number."),
        ("QP" + "1" * 2000, "That is more text than 25 tracking numbers take."),
        (TWENTY_SIX, "You can track up to 25 numbers at a time; you entered 26. Remove 1 number."),
        (TWENTY_SIX + " " + numbers.from_body(99), "you entered 27. Remove 2 numbers."),
        ("QP12345\x00678", "Null characters are not allowed."),
        ("QP1234\x1b[31m5678", "The text contains invisible control characters."),
        ("QP123\u0007", "The text contains invisible control characters."),
        ("' OR 1=1; DROP TABLE tracking_shipment; --", "Tracking numbers contain only letters and digits."),
        ("<script>alert(1)</script>", "Tracking numbers contain only letters and digits."),
        ('"><img src=x onerror=alert(1)>', "Tracking numbers contain only letters and digits."),
        ("DROP TABLE shipments", "This does not look like a QualityPost tracking number."),
        ("hello", "This does not look like a QualityPost tracking number."),
    ],
)
def test_bad_input_is_a_400_with_a_message(client, text, message):
    response = client.get("/track/", {"numbers": text}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'aria-invalid="true"' in html
    assert "<script>alert" not in html and "<img src=x" not in html


def test_the_typed_text_is_shown_back_escaped(client):
    response = client.get("/track/", {"numbers": "<b>QP1</b>"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "&lt;b&gt;QP1&lt;/b&gt;" in response.content.decode()


def test_the_messages_are_in_spanish_too(client):
    response = client.get("/track/", {"numbers": TWENTY_SIX}, HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 400
    assert "Puedes rastrear hasta 25 números a la vez; escribiste 26. Quita 1 número." in response.content.decode()


def test_25_numbers_are_fine(client):
    text = "\n".join(numbers.from_body(n) for n in range(1, 26))
    response = client.get("/track/", {"numbers": text})
    assert response.status_code == 200
    assert len(response.context["results"]) == 25


def test_a_post_is_refused_politely(client):
    assert client.post("/track/", {"numbers": "QP1"}).status_code == 405


def test_the_track_url_without_numbers_goes_home(client):
    response = client.get("/track/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("path", ["/track/%3Cscript%3E/", "/track/QP'%20OR%201=1/", "/track/" + "9" * 500 + "/"])
def test_garbage_in_the_url_is_a_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert b"<script>" not in response.content
