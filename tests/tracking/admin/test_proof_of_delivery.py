"""Proof of delivery in the admin: images checked by content, stored on disk or S3, served to staff.

Partners fetch their own over the API: tests/tracking/api/test_proofs.py.
"""

import io
import os
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from tests.factories import image_bytes, pixels
from tests.tracking.admin.conftest import change_form_data, staff
from tracking.models import ProofOfDelivery
from tracking.services import event_record

pytestmark = pytest.mark.django_db

CHANGE = "/admin/tracking/shipment/{}/change/"


@pytest.fixture
def delivered(shipment):
    event_record(shipment=shipment, code="delivered", occurred_at=timezone.now() - timedelta(hours=1))
    return shipment


def _attach(client, shipment, content: bytes, name="pod.png", kind="signature"):
    data = change_form_data(client.get(CHANGE.format(shipment.pk)))
    data.update(
        {
            "proofs-TOTAL_FORMS": "1",
            "proofs-0-kind": kind,
            "proofs-0-upload": SimpleUploadedFile(name, content, content_type="image/png"),
            "_continue": "1",
        }
    )
    return client.post(CHANGE.format(shipment.pk), data)


def test_a_dispatcher_attaches_a_signature_stored_on_local_disk(dispatcher, delivered, media_root):
    content = image_bytes("PNG")
    response = _attach(dispatcher, delivered, content)
    assert response.status_code == 302, response.context and response.context["inline_admin_formsets"]
    proof = ProofOfDelivery.objects.get()
    assert (proof.kind, proof.content_type, proof.uploaded_by.username) == ("signature", "image/png", "dispatcher-user")
    assert proof.event.code == "delivered" and proof.event.shipment == delivered
    stored = Path(media_root, proof.image.name)
    assert pixels(stored.read_bytes()) == pixels(content)  # re-encoded (no metadata), same picture
    assert delivered.tracking_number not in proof.image.name and "pod.png" not in proof.image.name

    served = dispatcher.get(f"/admin/tracking/shipment/proof/{proof.pk}/")
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == stored.read_bytes()
    assert served["Content-Type"] == "image/png"
    assert "no-store" in served["Cache-Control"]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"GIF89a not really", "pod.png", "not a readable"),
        (b"%PDF-1.4 hello", "pod.jpg", "not a readable"),
        ("gif", "pod.gif", "GIF images are not accepted"),
        ("tiny", "pod.png", "each side must be between"),
        ("huge", "pod.png", "largest accepted"),
    ],
)
def test_files_that_are_not_acceptable_images_are_refused(
    dispatcher, delivered, media_root, settings, content, name, message
):
    settings.PHOENIX_POD_MAX_BYTES = 20_000
    if content == "gif":
        content = image_bytes("GIF")
    elif content == "tiny":
        content = image_bytes("PNG", (8, 8))
    elif content == "huge":
        content = os.urandom(30_000)
    response = _attach(dispatcher, delivered, content, name=name)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ProofOfDelivery.objects.exists()
    assert not list(Path(media_root).rglob("*.*"))


def test_proof_needs_a_delivery_event(dispatcher, shipment, media_root):
    response = _attach(dispatcher, shipment, image_bytes("JPEG"))
    assert response.status_code == 200
    assert "Record the delivery before attaching" in response.content.decode()
    assert not ProofOfDelivery.objects.exists()


def test_the_file_is_for_staff_with_the_permission_only(client, dispatcher, delivered, media_root):
    _attach(dispatcher, delivered, image_bytes("PNG"))
    url = f"/admin/tracking/shipment/proof/{ProofOfDelivery.objects.get().pk}/"
    anonymous = type(client)()
    response = anonymous.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    nobody = type(client)()
    nobody.force_login(staff(None))
    assert nobody.get(url).status_code == 403
    assert anonymous.get(f"/media/{ProofOfDelivery.objects.get().image.name}").status_code == 404


def test_with_a_bucket_it_stores_on_s3_and_hands_out_a_short_lived_signed_url(dispatcher, delivered, s3_media):
    content = image_bytes("JPEG")
    response = _attach(dispatcher, delivered, content, name="photo.jpg", kind="photo")
    assert response.status_code == 302
    proof = ProofOfDelivery.objects.get()
    (stored,) = s3_media.list_objects_v2(Bucket="phoenix-media")["Contents"]
    assert stored["Key"] == proof.image.name and stored["Key"].endswith(".jpg")
    kept = s3_media.get_object(Bucket="phoenix-media", Key=stored["Key"])["Body"].read()
    assert Image.open(io.BytesIO(kept)).size == Image.open(io.BytesIO(content)).size

    served = dispatcher.get(f"/admin/tracking/shipment/proof/{proof.pk}/")
    assert served.status_code == 302
    signed = served["Location"]
    endpoint = s3_media.meta.endpoint_url
    assert signed.startswith(f"{endpoint}/phoenix-media/") and "Signature" in signed and "Expires" in signed
    with urllib.request.urlopen(signed, timeout=10) as answer:
        assert answer.read() == kept
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(signed.split("?")[0], timeout=10)
    assert refused.value.code == 403
