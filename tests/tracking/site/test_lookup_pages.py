"""The lookup form, the results for many numbers and one shipment's page, as HTML."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tracking import numbers
from tracking.services import event_record

pytestmark = pytest.mark.django_db


def test_the_home_page_has_the_lookup_form(client):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert b'<textarea name="numbers" id="id_numbers"' in response.content
    assert b'action="/track/"' in response.content


def test_one_number_goes_straight_to_its_page(client, on_the_way):
    typed = numbers.display(on_the_way.tracking_number).lower().replace(" ", "-")
    response = client.get("/track/", {"numbers": typed})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/track/{on_the_way.tracking_number}/"


def test_many_numbers_show_one_card_each_and_explain_the_rest(client, on_the_way):
    other = factories.shipment()
    unknown = numbers.from_body(98765432109)
    mistyped = on_the_way.tracking_number[:-2] + on_the_way.tracking_number[-1] + on_the_way.tracking_number[-2]
    assert not numbers.is_valid(mistyped)
    text = f"{numbers.display(on_the_way.tracking_number)}\n{unknown} ; {mistyped},{other.tracking_number},QP1"
    response = client.get("/track/", {"numbers": text}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    cards = [entry for entry in response.context["results"]]
    assert [bool(card["shipment"]) for card in cards] == [True, False, False, True, False]
    html = response.content.decode()
    assert html.count('<li class="card') == 5
    assert "We have no shipment with this number yet" in html
    assert "This number looks mistyped" in html
    assert "This is not a QualityPost tracking number" in html
    assert "Last scan: Out for delivery · Guadalajara" in html
    assert f'href="/track/{other.tracking_number}/"' in html


def test_the_same_number_twice_gets_one_card(client, on_the_way):
    other = factories.shipment()
    text = f"{on_the_way.tracking_number} {on_the_way.tracking_number.lower()} {other.tracking_number}"
    response = client.get("/track/", {"numbers": text})
    assert len(response.context["results"]) == 2


def test_the_shipment_page_shows_milestone_progress_eta_and_local_times(client, on_the_way):
    response = client.get(reverse("tracking:detail", args=[on_the_way.tracking_number]), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<p class="status status-out_for_delivery">Out for delivery</p>' in html
    assert 'class="current" aria-current="step"><span>Out for delivery</span>' in html
    assert "Estimated delivery" in html
    assert "minutes ago" in html
    events = response.context["events"]
    assert [event.code for event in events] == [
        "out_for_delivery",
        "at_destination",
        "arrived_at_facility",
        "picked_up",
        "label_created",
    ]
    # Each scan in its facility's time zone: Tijuana (Pacific), Monterrey and Guadalajara (Central).
    assert [event.time_zone for event in events] == [
        "America/Mexico_City",
        "America/Mexico_City",
        "America/Monterrey",
        "America/Tijuana",
        "America/Tijuana",
    ]
    assert html.count("PST</abbr>") == 2
    assert html.count("CST</abbr>") == 3


def test_an_open_exception_says_what_happens_next(client, on_the_way):
    event_record(
        shipment=on_the_way,
        code="delivery_attempted",
        reason="recipient_not_home",
        occurred_at=timezone.now(),
        facility=on_the_way.destination_facility,
    )
    response = client.get(reverse("tracking:detail", args=[on_the_way.tracking_number]), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert '<p class="flag">Recipient not at home</p>' in html
    assert "We will try again tomorrow." in html

    response = client.get(reverse("tracking:detail", args=[on_the_way.tracking_number]), HTTP_ACCEPT_LANGUAGE="es")
    assert "Lo intentaremos de nuevo mañana." in response.content.decode()


def test_a_parcel_available_for_pickup_names_the_branch_and_the_last_day(client, settings):
    settings.PHOENIX_PICKUP_HOLD_DAYS = 7
    branch = factories.facility(
        "CUN01", name="Cancún Branch", kind="branch", city="Cancún", address="Av. Tulum 260", time_zone="America/Cancun"
    )
    ready = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    shipment = factories.shipment(destination_facility=branch, occurred_at=ready - timedelta(days=2))
    event_record(shipment=shipment, code="at_destination", occurred_at=ready - timedelta(hours=3), facility=branch)
    event_record(shipment=shipment, code="available_for_pickup", occurred_at=ready, facility=branch)
    response = client.get(reverse("tracking:detail", args=[shipment.tracking_number]), HTTP_ACCEPT_LANGUAGE="en")
    assert "Pick it up at Cancún Branch, Av. Tulum 260, Cancún until Nov. 27, 2026." in response.content.decode()
    response = client.get(reverse("tracking:detail", args=[shipment.tracking_number]), HTTP_ACCEPT_LANGUAGE="es")
    assert "Recógelo en Cancún Branch, Av. Tulum 260, Cancún a más tardar el 27 de noviembre de 2026." in (
        response.content.decode()
    )


def test_numbers_are_localised(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    assert "1.2 kg" in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "1,2 kg" in client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()


def test_a_non_canonical_number_redirects_to_the_shareable_url(client, on_the_way):
    grouped = numbers.display(on_the_way.tracking_number).replace(" ", "-").lower()
    response = client.get(f"/track/{grouped}/")
    assert response.status_code == 301
    assert response.headers["Location"] == f"/track/{on_the_way.tracking_number}/"
    response = client.get(f"/track/{grouped}/", {"postal_code": "44100"})
    assert response.headers["Location"] == f"/track/{on_the_way.tracking_number}/?postal_code=44100"


def test_an_unknown_number_has_a_friendly_404(client):
    response = client.get(reverse("tracking:detail", args=[numbers.from_body(5)]), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert "We have no shipment with this number yet" in response.content.decode()


def test_a_mistyped_number_in_the_url_is_a_404_that_says_so(client, on_the_way):
    number = on_the_way.tracking_number
    mistyped = number[:-1] + str((int(number[-1]) + 1) % 10)
    response = client.get(f"/track/{mistyped}/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert "This number looks mistyped" in response.content.decode()


def test_unknown_pages_use_the_site_design(client):
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Página no encontrada" in html
    assert "tracking/site.css" in html


def test_the_server_error_page_uses_the_site_design_without_a_request(client):
    from django.template import loader

    html = loader.get_template("500.html").render()
    assert "Something went wrong" in html or "Algo salió mal" in html
    assert "tracking/site.css" in html
    assert "csrfmiddlewaretoken" not in html


def test_a_late_scan_changes_the_page(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    first = client.get(url)
    event_record(shipment=on_the_way, code="customs_cleared", occurred_at=timezone.now() - timedelta(days=1, hours=1))
    second = client.get(url, HTTP_IF_NONE_MATCH=first.headers["ETag"])
    assert second.status_code == 200
    assert "customs_cleared" in [event.code for event in second.context["events"]]
