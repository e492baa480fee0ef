"""Factories for tests: small functions that create valid objects through the domain services."""

import io
import itertools

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from tracking.models import Facility, Partner, ProofOfDelivery, Shipment
from tracking.services import proof_of_delivery_attach, shipment_create

_counter = itertools.count(1)


def facility(code: str | None = None, **fields) -> Facility:
    code = code or f"F{next(_counter):04d}"
    defaults = {"name": f"{code} hub", "city": "Guadalajara", "state": "Jalisco", "country": "MX"}
    return Facility.objects.create(code=code, **{**defaults, **fields})


def partner(name: str | None = None, **fields) -> Partner:
    return Partner.objects.create(name=name or f"Partner {next(_counter)}", **fields)


def shipment(*, postal_code: str = "44100", occurred_at=None, **fields) -> Shipment:
    origin = fields.pop("origin_facility", None) or facility(city="Ciudad de México", state="CDMX")
    destination = fields.pop("destination_facility", None) or facility()
    recipient = fields.pop("recipient", None) or {
        "name": "Fernanda Ruiz Ortega",
        "phone": "+52 33 1234 5678",
        "email": "fernanda@example.com",
        "address": "Av. Juárez 123",
        "city": destination.city,
        "postal_code": postal_code,
    }
    return shipment_create(
        origin_facility=origin,
        destination_facility=destination,
        destination_postal_code=postal_code,
        weight_grams=fields.pop("weight_grams", 1200),
        recipient=recipient,
        sender=fields.pop("sender", {"name": "Tienda Ejemplo SA de CV", "city": origin.city}),
        occurred_at=occurred_at or timezone.now(),
        **fields,
    )


def subscription(shipment: Shipment, *, email: str = "someone@example.com", topics=None, **fields):
    """Return an active (confirmed) e-mail subscription, stored as the subscribe page stores it."""
    from tracking import sealing
    from tracking.models import Subscription
    from tracking.notify import subscriptions

    defaults = {"language": "es", "status": Subscription.Status.ACTIVE}
    return Subscription.objects.create(
        shipment=shipment,
        email_encrypted=sealing.seal(email),
        email_hash=sealing.digest(email, purpose="notify.email"),
        email_masked=subscriptions.email_mask(email),
        topics=list(topics or subscriptions.DEFAULT_TOPICS),
        **{**defaults, **fields},
    )


def partner_token(partner_obj: Partner | None = None, name: str = "") -> tuple[Partner, str]:
    """Return a partner and a fresh API key for it."""
    from tracking.api.tokens import partner_token_create

    partner_obj = partner_obj or partner()
    _, key = partner_token_create(partner=partner_obj, name=name)
    return partner_obj, key


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def pixels(content: bytes) -> tuple:
    """Return an image's size and pixels, to compare pictures whatever their encoding."""
    with Image.open(io.BytesIO(content)) as image:
        return image.size, tuple(image.convert("RGB").get_flattened_data())


def proof_of_delivery(shipment: Shipment, content: bytes, *, kind: str = "signature") -> ProofOfDelivery:
    """Attach an image to a delivered shipment, as the admin does (stored in the default storage)."""
    return proof_of_delivery_attach(shipment=shipment, kind=kind, image=SimpleUploadedFile("pod", content))


def phone_subscription(shipment: Shipment, *, phone: str = "+52 55 1234 5678", **fields):
    """Return an active phone subscription with the shipper's consent, stored as the API stores it."""
    from django.utils import timezone

    from tracking.services import phone_subscription_add

    defaults = {"consent_source": "checkout checkbox", "consent_at": timezone.now(), "source": "api"}
    return phone_subscription_add(shipment=shipment, phone=phone, **{**defaults, **fields})
