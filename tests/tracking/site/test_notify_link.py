"""The tracking page offers e-mail updates while the parcel is on its way, in both languages."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "text"), [("en", "Notify me when this package moves"), ("es", "Avisarme cuando este paquete avance")]
)
def test_a_parcel_on_its_way_offers_e_mail_updates(client, on_the_way, language, text):
    html = client.get(
        reverse("tracking:detail", args=[on_the_way.tracking_number]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    assert text in html
    assert reverse("notify:subscribe", args=[on_the_way.tracking_number]) in html


def test_a_delivered_parcel_does_not(client, delivered):
    html = client.get(reverse("tracking:detail", args=[delivered.tracking_number])).content.decode()
    assert reverse("notify:subscribe", args=[delivered.tracking_number]) not in html
