"""Who may write what over POST /api/v1/events: its own shipments, or what a staff scope grants."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import ApiClient
from tracking import numbers
from tracking.models import PartnerScope, Shipment, TrackingEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


def _event(number: str, event_id: str, **extra) -> dict:
    return {
        "id": event_id,
        "tracking_number": number,
        "milestone": "delivered",
        "occurred_at": timezone.now().isoformat(),
        **extra,
    }


def _unknown_number() -> str:
    while True:
        number = numbers.generate()
        if not Shipment.objects.filter(tracking_number=number).exists():
            return number


def _without_number(result: dict, number: str) -> dict:
    """A result with the tracking number blanked out of its messages, to compare two answers."""
    return {
        **result,
        "errors": {
            field: [message.replace(number, "<number>") for message in messages]
            for field, messages in result["errors"].items()
        },
    }


def test_it_rejects_another_partners_shipment_exactly_like_an_unknown_number():
    owner = factories.partner("Tienda Norte")
    intruder, key = factories.partner_token(factories.partner("Paquetería Sur"))
    theirs = factories.shipment(partner=owner)
    unknown = _unknown_number()

    response = ApiClient(key).post(
        URL,
        {
            "events": [
                _event(theirs.tracking_number, "e-1"),
                _event(unknown, "e-2"),
                _event(theirs.tracking_number, "e-3", milestone="", reason="damaged", note="opened"),
                _event(unknown, "e-4", milestone="", reason="damaged", note="opened"),
            ]
        },
    )

    assert response.status_code == 200
    body = response.json()
    foreign, missing, foreign_exception, missing_exception = body["results"]
    assert foreign["status"] == missing["status"] == "rejected"
    assert _without_number(foreign, theirs.tracking_number) == {**_without_number(missing, unknown), "id": "e-1"}
    assert _without_number(foreign_exception, theirs.tracking_number) == {
        **_without_number(missing_exception, unknown),
        "id": "e-3",
    }
    assert foreign["errors"] == {"tracking_number": [f"No shipment has the tracking number {theirs.tracking_number}."]}
    assert (body["accepted"], body["rejected"]) == (0, 4)
    theirs.refresh_from_db()
    assert (theirs.milestone, theirs.exception_open) == ("label_created", False)
    assert not TrackingEvent.objects.filter(partner=intruder).exists()


def test_it_rejects_a_shipment_without_a_partner_for_a_partner_without_scopes():
    _, key = factories.partner_token()
    staff_made = factories.shipment()

    result = ApiClient(key).post(URL, {"events": [_event(staff_made.tracking_number, "e-1")]}).json()["results"][0]

    assert result["errors"] == {
        "tracking_number": [f"No shipment has the tracking number {staff_made.tracking_number}."]
    }
    staff_made.refresh_from_db()
    assert staff_made.milestone == "label_created"


def test_it_accepts_events_for_the_partners_own_shipments():
    partner, key = factories.partner_token()
    own = factories.shipment(partner=partner)

    body = ApiClient(key).post(URL, {"events": [_event(own.tracking_number, "e-1")]}).json()

    assert body["results"] == [{"id": "e-1", "status": "accepted", "errors": {}}]
    own.refresh_from_db()
    assert own.milestone == "delivered"


def test_it_lets_a_hub_scope_write_events_scanned_at_that_hub_only():
    hub = factories.facility("GDL01")
    other_hub = factories.facility("MTY01")
    scanner, key = factories.partner_token(factories.partner("Hub GDL scanners"))
    PartnerScope.objects.create(partner=scanner, kind=PartnerScope.Kind.HUB, facility=hub)
    parcel = factories.shipment(partner=factories.partner("Tienda Norte"))

    body = (
        ApiClient(key)
        .post(
            URL,
            {
                "events": [
                    _event(parcel.tracking_number, "at-hub", milestone="in_transit", facility="gdl01"),
                    _event(parcel.tracking_number, "elsewhere", milestone="in_transit", facility="MTY01"),
                    _event(parcel.tracking_number, "nowhere", milestone="in_transit"),
                ]
            },
        )
        .json()
    )

    statuses = [(result["id"], result["status"]) for result in body["results"]]
    assert statuses == [("at-hub", "accepted"), ("elsewhere", "rejected"), ("nowhere", "rejected")]
    assert body["results"][1]["errors"] == {
        "tracking_number": [f"No shipment has the tracking number {parcel.tracking_number}."]
    }
    assert list(TrackingEvent.objects.filter(partner=scanner).values_list("facility", flat=True)) == [hub.pk]
    assert other_hub.pk not in TrackingEvent.objects.values_list("facility", flat=True)


def test_it_lets_a_carrier_scope_write_every_shipment_of_its_shipper_only():
    shop = factories.partner("Tienda Norte")
    other_shop = factories.partner("Tienda Sur")
    carrier, key = factories.partner_token(factories.partner("Linehaul Norte"))
    PartnerScope.objects.create(partner=carrier, kind=PartnerScope.Kind.CARRIER, shipper=shop)
    hauled = factories.shipment(partner=shop)
    not_hauled = factories.shipment(partner=other_shop)

    body = (
        ApiClient(key)
        .post(URL, {"events": [_event(hauled.tracking_number, "e-1"), _event(not_hauled.tracking_number, "e-2")]})
        .json()
    )

    assert [result["status"] for result in body["results"]] == ["accepted", "rejected"]
    hauled.refresh_from_db()
    not_hauled.refresh_from_db()
    assert (hauled.milestone, not_hauled.milestone) == ("delivered", "label_created")


def test_it_records_who_granted_a_scope_in_the_admin_history(client):
    admin_user = User.objects.create_superuser("chief", password="x")
    client.force_login(admin_user)
    carrier = factories.partner("Linehaul Norte")
    shop = factories.partner("Tienda Norte")

    response = client.post(
        "/admin/tracking/partnerscope/add/",
        {"partner": carrier.pk, "kind": "carrier", "shipper": shop.pk, "note": "Contract 2026-14"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    scope = PartnerScope.objects.get(partner=carrier)
    assert scope.shipper == shop
    record = scope.history.get()
    assert (record.history_type, record.history_user) == ("+", admin_user)


def test_it_refuses_a_hub_scope_without_a_facility_in_the_admin(client):
    client.force_login(User.objects.create_superuser("chief", password="x"))
    carrier = factories.partner("Linehaul Norte")

    response = client.post("/admin/tracking/partnerscope/add/", {"partner": carrier.pk, "kind": "hub"})

    assert response.status_code == 200
    assert "A hub scope names a facility and no shipper." in response.content.decode()
    assert not PartnerScope.objects.exists()


def test_it_creates_a_hub_scanner_partner_with_its_hub_scopes_from_the_command_line():
    hub = factories.facility("GDL01")
    output = io.StringIO()

    call_command("create_partner", "Hub GDL scanners", "--hub", "gdl01", stdout=output)

    scope = PartnerScope.objects.get(partner__name="Hub GDL scanners")
    assert (scope.kind, scope.facility) == ("hub", hub)
    assert "Hub scope: may write events scanned at GDL01." in output.getvalue()


def test_it_refuses_a_hub_scope_for_an_unknown_facility_from_the_command_line():
    with pytest.raises(CommandError, match="No facility has the code NOPE1"):
        call_command("create_partner", "Hub scanners", "--hub", "NOPE1", stdout=io.StringIO())
    assert not PartnerScope.objects.exists()
