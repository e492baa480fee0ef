"""Proof-of-delivery images are stored re-encoded from their pixels: a phone's EXIF with the GPS
position, the device and anything after the image's end are dropped; the picture stays upright."""

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from tests import factories
from tracking.services import event_record, proof_of_delivery_attach

pytestmark = pytest.mark.django_db

GPS_IFD, ORIENTATION, MAKE = 0x8825, 0x0112, 0x010F


def _phone_photo() -> bytes:
    """A 64x32 JPEG as a phone writes it: EXIF with GPS, the maker, 'rotate 90°' and a trailer."""
    image = Image.new("RGB", (64, 32), (10, 200, 30))
    image.paste((250, 250, 250), (0, 0, 8, 8))  # a white corner, to see where the top left went
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # the camera was held upright: show the picture turned 90° clockwise
    exif[MAKE] = "PhoneMaker"
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (19.0, 25.0, 42.0), 3: "W", 4: (99.0, 8.0, 1.0)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes(), quality=95)
    return buffer.getvalue() + b"TRAILING-SECRET-BYTES"


def test_a_phone_photo_is_stored_without_gps_exif_or_trailing_bytes_and_upright(media_root):
    upload = _phone_photo()
    with Image.open(io.BytesIO(upload)) as original:  # the upload really carries all of it
        assert original.getexif().get_ifd(GPS_IFD)[2] == (19.0, 25.0, 42.0)
    assert upload.endswith(b"TRAILING-SECRET-BYTES")

    shipment = factories.shipment()
    event_record(shipment=shipment, code="delivered", occurred_at=timezone.now() - timedelta(minutes=5))
    proof = proof_of_delivery_attach(shipment=shipment, kind="photo", image=SimpleUploadedFile("IMG_0001.jpg", upload))

    with proof.image.open("rb") as handle:
        stored = handle.read()
    assert b"Exif" not in stored and b"PhoneMaker" not in stored and b"TRAILING-SECRET" not in stored
    assert stored.endswith(b"\xff\xd9")  # the JPEG's end, nothing after it
    with Image.open(io.BytesIO(stored)) as kept:
        assert kept.format == "JPEG" and proof.content_type == "image/jpeg"
        assert dict(kept.getexif()) == {}
        assert kept.size == (32, 64)  # turned upright
        # The white corner was top left; turned 90° clockwise it is now top right.
        assert min(kept.convert("RGB").getpixel((28, 2))) > 200
        assert kept.convert("RGB").getpixel((2, 2))[1] > 150 > kept.convert("RGB").getpixel((2, 2))[0]


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_text_and_exif_are_dropped_too(media_root, fmt):
    image = Image.new("RGB", (40, 40), (200, 30, 30))
    exif = Image.Exif()
    exif[MAKE] = "PhoneMaker"
    buffer = io.BytesIO()
    extra = {"exif": exif.tobytes()}
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        text = PngInfo()
        text.add_text("Comment", "PhoneMaker at 19.42N 99.13W")
        extra["pnginfo"] = text
    image.save(buffer, fmt, **extra)
    shipment = factories.shipment()
    event_record(shipment=shipment, code="delivered", occurred_at=timezone.now() - timedelta(minutes=5))
    proof = proof_of_delivery_attach(
        shipment=shipment, kind="signature", image=SimpleUploadedFile("s", buffer.getvalue())
    )
    with proof.image.open("rb") as handle:
        stored = handle.read()
    assert b"PhoneMaker" not in stored
    assert factories.pixels(stored)[0] == (40, 40)
