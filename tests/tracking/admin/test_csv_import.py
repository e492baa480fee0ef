"""CSV import of scan events and shipments: a dry run that names every bad row, then all or nothing."""

import csv
import io
from datetime import timedelta

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests import factories
from tests.tracking.admin.conftest import shipment_made_yesterday, staff
from tracking.admin.resources import EventImportResource
from tracking.models import Contact, Shipment, TrackingEvent

pytestmark = pytest.mark.django_db

EVENTS = "/admin/tracking/trackingevent/"
SHIPMENTS = "/admin/tracking/shipment/"
EVENT_HEADER = ["tracking_number", "code", "occurred_at", "facility", "reason", "close_exception", "note"]


def _csv(header, rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _upload(client, url, content: bytes):
    upload = SimpleUploadedFile("scans.csv", content, content_type="text/csv")
    return client.post(f"{url}import/", {"format": "0", "import_file": upload})


def _when(hours_ago: float) -> str:
    return (timezone.now() - timedelta(hours=hours_ago)).isoformat()


def test_the_dry_run_names_every_bad_row_with_its_line_and_reason(dispatcher, shipment):
    factories.facility("MEX01")
    wrong_digit = shipment.tracking_number[:-1] + str((int(shipment.tracking_number[-1]) + 1) % 10)
    content = _csv(
        EVENT_HEADER,
        [
            [shipment.tracking_number, "picked_up", _when(20), "MEX01", "", "", ""],  # line 2: fine
            [wrong_digit, "in_transit", _when(19), "MEX01", "", "", ""],  # line 3
            [shipment.tracking_number, "teleported", _when(18), "MEX01", "", "", ""],  # line 4
            [shipment.tracking_number, "in_transit", "yesterday", "NOPE1", "", "", ""],  # line 5
            [shipment.tracking_number, "exception", _when(17), "", "abducted", "", ""],  # line 6
        ],
    )
    response = _upload(dispatcher, EVENTS, content)
    assert response.status_code == 200
    result = response.context["result"]
    bad = {row.number: row.error_dict for row in result.invalid_rows}
    assert sorted(bad) == [3, 4, 5, 6]
    assert "probably mistyped" in bad[3]["tracking_number"][0]
    assert "not an event code" in bad[4]["code"][0]
    assert set(bad[5]) == {"occurred_at", "facility"}
    assert "not an exception reason" in bad[6]["reason"][0]
    assert "confirm_form" not in response.context
    page = response.content.decode()
    assert "teleported" in page and "NOPE1" in page
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 1


def test_one_bad_row_in_a_thousand_imports_nothing_and_names_the_row(dispatcher):
    shipments = [shipment_made_yesterday() for _ in range(10)]
    rows = [
        [shipments[i % 10].tracking_number, "in_transit", _when(10 - i / 200), "", "", "", f"row {i}"]
        for i in range(1000)
    ]
    rows[636][0] = "QP000"  # data row 637 = line 638 of the file
    content = _csv(EVENT_HEADER, rows)

    response = _upload(dispatcher, EVENTS, content)
    assert [row.number for row in response.context["result"].invalid_rows] == [638]
    assert TrackingEvent.objects.count() == 10

    # The import itself (what the confirm step runs) is one transaction: nothing is kept.
    result = EventImportResource().import_data(tablib.Dataset().load(content.decode(), format="csv"), dry_run=False)
    assert [row.number for row in result.invalid_rows] == [638]
    assert TrackingEvent.objects.count() == 10
    assert set(Shipment.objects.values_list("milestone", flat=True)) == {"label_created"}


def test_a_clean_file_is_imported_after_confirmation_through_event_record(dispatcher, shipment):
    content = _csv(
        EVENT_HEADER,
        [
            [shipment.display_number, "picked_up", _when(5), "", "", "", "first"],
            [shipment.tracking_number.lower(), "out_for_delivery", _when(1), "", "", "", ""],
            # Late: older than the milestone, joins the timeline without moving it back.
            [shipment.tracking_number, "in_transit", _when(3), "", "", "", ""],
        ],
    )
    response = _upload(dispatcher, EVENTS, content)
    confirm = response.context["confirm_form"]
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 1
    response = dispatcher.post(f"{EVENTS}process_import/", {**confirm.initial})
    assert response.status_code == 302
    shipment.refresh_from_db()
    assert shipment.milestone == "out_for_delivery"
    events = shipment.events.exclude(code="label_created")
    assert sorted(events.values_list("code", flat=True)) == ["in_transit", "out_for_delivery", "picked_up"]
    assert {(e.source, e.created_by.username) for e in events} == {("import", "dispatcher-user")}


SHIPMENT_HEADER = [
    "reference",
    "weight_grams",
    "origin_facility",
    "destination_facility",
    "destination_postal_code",
    "recipient_name",
    "recipient_phone",
    "recipient_email",
    "sender_name",
]


def test_shipment_import_draws_numbers_and_creates_contacts(customer_service):
    factories.facility("MEX01")
    factories.facility("GDL01")
    content = _csv(
        SHIPMENT_HEADER,
        [
            [
                "PO-1",
                "1200",
                "MEX01",
                "GDL01",
                "44100",
                "Lucía Pérez",
                "+52 33 1111 2222",
                "lucia@example.com",
                "Tienda",
            ],
            ["PO-2", "800", "mex01", "GDL01", "44600", "Juan Gómez", "", "", ""],
        ],
    )
    response = _upload(customer_service, SHIPMENTS, content)
    assert not response.context["result"].invalid_rows
    response = customer_service.post(f"{SHIPMENTS}process_import/", {**response.context["confirm_form"].initial})
    assert response.status_code == 302
    first, second = Shipment.objects.order_by("reference")
    assert first.reference == "PO-1" and first.tracking_number.startswith("QP") and len(first.tracking_number) == 14
    assert first.destination_city == "Guadalajara"
    assert first.contacts.get(role="recipient").name == "Lucía Pérez"
    assert first.contacts.get(role="sender").name == "Tienda"
    assert not second.contacts.filter(role="sender").exists()
    assert first.events.get().code == "label_created" and first.events.get().source == "import"


def test_bad_shipment_rows_are_named_and_nothing_is_created(customer_service):
    factories.facility("MEX01")
    content = _csv(
        SHIPMENT_HEADER,
        [
            ["PO-1", "1200", "MEX01", "MEX01", "44100", "Lucía Pérez", "", "", ""],
            ["PO-2", "heavy", "MEX01", "ZZZ99", "44100", "", "", "not-an-email", ""],
        ],
    )
    response = _upload(customer_service, SHIPMENTS, content)
    (bad,) = response.context["result"].invalid_rows
    assert bad.number == 3
    assert {"weight_grams", "destination_facility", "recipient_name", "recipient_email"} <= set(bad.error_dict)
    assert Shipment.objects.count() == 0 and Contact.objects.count() == 0


def test_only_roles_with_the_add_permission_may_import(client):
    client.force_login(staff("Customer service"))
    assert client.get(f"{EVENTS}import/").status_code == 403


def test_with_a_bucket_the_file_waits_on_s3_so_another_instance_can_confirm(
    dispatcher, shipment, s3_media, settings, tmp_path
):
    # In AWS the confirming request may land on another instance: the uploaded file must wait
    # in the shared media bucket, not on the disk of the instance that ran the dry run.
    settings.MEDIA_ROOT = tmp_path / "instance-a"
    content = _csv(EVENT_HEADER, [[shipment.tracking_number, "picked_up", _when(2), "", "", "", "from s3"]])
    response = _upload(dispatcher, EVENTS, content)
    confirm = response.context["confirm_form"]
    (waiting,) = s3_media.list_objects_v2(Bucket="phoenix-media")["Contents"]
    assert waiting["Key"].startswith("django-import-export/")
    assert s3_media.get_object(Bucket="phoenix-media", Key=waiting["Key"])["Body"].read() == content
    assert not (tmp_path / "instance-a").exists()  # nothing on this instance's disk

    settings.MEDIA_ROOT = tmp_path / "instance-b"  # the other instance's (empty) disk
    response = dispatcher.post(f"{EVENTS}process_import/", {**confirm.initial})

    assert response.status_code == 302
    assert shipment.events.filter(code="picked_up", note="from s3").exists()
    assert s3_media.list_objects_v2(Bucket="phoenix-media").get("KeyCount") == 0  # removed once imported


@pytest.mark.parametrize("storage", ["disk", "s3"])
def test_confirming_an_import_twice_says_so_and_imports_once(
    dispatcher, shipment, storage, request, tmp_path, settings
):
    # A double click, or Back and confirm again: the file was removed after the first import.
    if storage == "s3":
        request.getfixturevalue("s3_media")
    else:
        settings.MEDIA_ROOT = tmp_path
    content = _csv(EVENT_HEADER, [[shipment.tracking_number, "picked_up", _when(2), "", "", "", "once"]])
    confirm = _upload(dispatcher, EVENTS, content).context["confirm_form"]
    assert dispatcher.post(f"{EVENTS}process_import/", {**confirm.initial}).status_code == 302

    again = dispatcher.post(f"{EVENTS}process_import/", {**confirm.initial}, follow=True)

    assert again.status_code == 200
    assert again.redirect_chain[-1][0] == f"{EVENTS}import/"
    assert "ya se importó o su carga caducó" in again.content.decode()  # Spanish, the default language
    assert shipment.events.filter(note="once").count() == 1
