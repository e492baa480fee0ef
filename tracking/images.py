"""Proof-of-delivery images: checked by their content (Pillow), not by name or declared type,
re-encoded without their metadata, stored under names that reveal nothing, and handed out
privately (never by a public URL)."""

import io
import logging
import uuid
import warnings

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

# Pillow format name -> (content type, file extension).
FORMATS = {
    "JPEG": ("image/jpeg", ".jpg"),
    "PNG": ("image/png", ".png"),
    "WEBP": ("image/webp", ".webp"),
}
EXTENSIONS = {content_type: extension for content_type, extension in FORMATS.values()}
MIN_PIXELS = 16


def image_content_type(file) -> str:
    """Return the content type of an uploaded image, or raise ValidationError.

    Reads the file: its size, its format by content, a full decode check and its dimensions.
    Leaves the file at its start.
    """
    size = getattr(file, "size", None)
    if size is None:
        file.seek(0, 2)
        size = file.tell()
    if size > settings.PHOENIX_POD_MAX_BYTES:
        raise ValidationError(
            _("The image is %(size)s KB; the largest accepted is %(limit)s KB."),
            code="too_large",
            params={"size": size // 1024, "limit": settings.PHOENIX_POD_MAX_BYTES // 1024},
        )
    file.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                kind, (width, height) = image.format, image.size
                image.verify()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValidationError(_("The file is not a readable JPEG, PNG or WebP image."), code="not_an_image") from None
    finally:
        file.seek(0)
    if kind not in FORMATS:
        raise ValidationError(
            _("%(kind)s images are not accepted; upload a JPEG, PNG or WebP image."),
            code="format",
            params={"kind": kind},
        )
    limit = settings.PHOENIX_POD_MAX_PIXELS
    if not (MIN_PIXELS <= width <= limit and MIN_PIXELS <= height <= limit):
        raise ValidationError(
            _("The image is %(width)s×%(height)s pixels; each side must be between %(min)s and %(max)s."),
            code="dimensions",
            params={"width": width, "height": height, "min": MIN_PIXELS, "max": limit},
        )
    return FORMATS[kind][0]


# How each format is written again; nothing of the upload's metadata is passed on.
_ENCODER = {"JPEG": {"quality": 90, "optimize": True}, "PNG": {"optimize": True}, "WEBP": {"quality": 90}}


def image_clean(file, content_type: str) -> ContentFile:
    """Return the image re-encoded from its pixels alone, in the same format.

    Drops what a phone or scanner puts beside the picture: EXIF (with GPS position, device,
    time), XMP, comments, text chunks, ICC profiles and any bytes after the image's end. The
    EXIF orientation is applied to the pixels first, so the picture still stands upright.
    Call after ``image_content_type`` accepted the file.
    """
    fmt = next(name for name, (kind, _extension) in FORMATS.items() if kind == content_type)
    file.seek(0)
    with Image.open(file) as uploaded:
        image = ImageOps.exif_transpose(uploaded)
    # Only what decoding the pixels needs stays (a palette image's transparent colour).
    image.info = {key: value for key, value in image.info.items() if key == "transparency"}
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **_ENCODER[fmt])
    return ContentFile(buffer.getvalue(), name=getattr(file, "name", None) or "pod")


def validate_pod_image(file) -> None:
    """Model field validator: raise ValidationError unless ``file`` is an acceptable image."""
    image_content_type(file)


def pod_upload_to(instance, filename: str) -> str:
    """Return a storage name that reveals nothing about the shipment or the uploaded file name."""
    extension = EXTENSIONS.get(instance.content_type, "")
    return f"pod/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{extension}"


# Both answers below must stay out of shared caches: the image is personal data.
PRIVATE_CACHE_CONTROL = "private, no-store"


def proof_response(proof) -> HttpResponse:
    """Return the image of a ProofOfDelivery: a redirect to a presigned URL, or the file itself.

    A private S3 bucket (``querystring_auth``) answers 302 to a URL signed for
    PHOENIX_MEDIA_URL_SECONDS, whose answer carries the stored content type and the same
    caching rules; local disk streams the file. The caller checks who may see it.
    """
    storage = proof.image.storage
    if getattr(storage, "querystring_auth", False):
        url = storage.url(
            proof.image.name,
            parameters={
                "ResponseContentType": proof.content_type,
                "ResponseContentDisposition": "inline",
                "ResponseCacheControl": PRIVATE_CACHE_CONTROL,
            },
        )
        response = HttpResponseRedirect(url)
    else:
        try:
            handle = proof.image.open("rb")
        except FileNotFoundError:
            # The row outlived its file (a restore without the media, a hand-deleted file).
            logger.error("proof of delivery %s: its file %s is missing", proof.pk, proof.image.name)
            raise Http404(_("The image of this proof of delivery is missing.")) from None
        response = FileResponse(handle, content_type=proof.content_type)
        response["Content-Disposition"] = "inline"
        response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = PRIVATE_CACHE_CONTROL
    return response
