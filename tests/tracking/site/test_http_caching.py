"""Conditional GET: a refresh costs nothing when nothing moved; private pages are never cached."""

import pytest
from django.urls import reverse
from django.utils import timezone

from tracking.services import event_record

pytestmark = pytest.mark.django_db


def test_a_refresh_without_changes_is_a_304(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    first = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert first.status_code == 200
    assert sorted(first.headers["Cache-Control"].split(", ")) == ["max-age=60", "public"]
    assert "Accept-Language" in first.headers["Vary"] and "Cookie" in first.headers["Vary"]
    again = client.get(url, HTTP_ACCEPT_LANGUAGE="en", HTTP_IF_NONE_MATCH=first.headers["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == first.headers["ETag"]


def test_a_new_scan_changes_the_etag(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    first = client.get(url)
    event_record(shipment=on_the_way, code="delivered", occurred_at=timezone.now())
    again = client.get(url, HTTP_IF_NONE_MATCH=first.headers["ETag"])
    assert again.status_code == 200
    assert again.context["shipment"].milestone == "delivered"


def test_another_language_is_another_etag(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    spanish = client.get(url, HTTP_ACCEPT_LANGUAGE="es", HTTP_IF_NONE_MATCH=english.headers["ETag"])
    assert spanish.status_code == 200
    assert "En reparto" in spanish.content.decode()


def test_the_results_page_is_conditional_too(client, on_the_way):
    params = {"numbers": f"{on_the_way.tracking_number} QP00000000000"}
    first = client.get("/track/", params)
    assert first.status_code == 200
    assert client.get("/track/", params, HTTP_IF_NONE_MATCH=first.headers["ETag"]).status_code == 304


def test_unlocked_pages_are_private_and_have_no_etag(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    response = client.post(url, {"postal_code": "44100"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in response.headers


def test_head_requests_are_answered(client, on_the_way):
    response = client.head(reverse("tracking:detail", args=[on_the_way.tracking_number]))
    assert response.status_code == 200
    assert response.content == b""
