"""What a WhatsApp or SMS update says: the WhatsApp templates and the one-segment SMS texts.

A leaf: it renders, it never sends or stores. WhatsApp utility templates are approved in the
WhatsApp Manager under the names and with the parameters below (docs/notifications.md lists
them); the page link is the template's URL button, whose dynamic suffix is the tracking number.
An SMS is at most one segment: 160 GSM-7 characters, or 70 when some character forces UCS-2.
The only personal data in any message is the recipient's first name.
"""

import unicodedata
from dataclasses import dataclass

from tracking import milestones, numbers

EXCEPTION = "exception"
CODE = "code"

# key -> WhatsApp template name. Body parameters: {{1}} first name, {{2}} tracking number
# (grouped in fours); button 0: URL .../track/{{1}}/. The code template (authentication):
# {{1}} the code, and the code again as its copy-code button's parameter.
WHATSAPP_TEMPLATES = {
    milestones.PICKED_UP: "qp_picked_up",
    milestones.OUT_FOR_DELIVERY: "qp_out_for_delivery",
    milestones.DELIVERED: "qp_delivered",
    milestones.AVAILABLE_FOR_PICKUP: "qp_ready_for_pickup",
    EXCEPTION: "qp_exception_opened",
    CODE: "qp_phone_code",
}
WHATSAPP_LANGUAGES = {"es": "es_MX", "en": "en_US"}
TOPICS = tuple(key for key in WHATSAPP_TEMPLATES if key != CODE)
# Sent even in quiet hours: the parcel is coming today, or something needs the recipient.
URGENT = (milestones.OUT_FOR_DELIVERY, EXCEPTION, CODE)

# The approved bodies, for the SMS and for the docs; {name} {number} {url} {code}.
_TEXTS = {
    "es": {
        milestones.PICKED_UP: "QualityPost: Hola {name}, recogimos tu paquete {number}. Siguelo: {url}",
        milestones.OUT_FOR_DELIVERY: "QualityPost: Hola {name}, tu paquete {number} llega hoy. Siguelo: {url}",
        milestones.DELIVERED: "QualityPost: Hola {name}, entregamos tu paquete {number}. Detalles: {url}",
        milestones.AVAILABLE_FOR_PICKUP: "QualityPost: Hola {name}, tu paquete {number} esta listo para recoger: {url}",
        EXCEPTION: "QualityPost: Hola {name}, hay un problema con tu paquete {number}. Revisa: {url}",
        CODE: "QualityPost: tu codigo es {code}. Vence en 10 min. No lo compartas.",
    },
    "en": {
        milestones.PICKED_UP: "QualityPost: Hi {name}, we picked up your parcel {number}. Track it: {url}",
        milestones.OUT_FOR_DELIVERY: "QualityPost: Hi {name}, your parcel {number} arrives today. Track it: {url}",
        milestones.DELIVERED: "QualityPost: Hi {name}, we delivered your parcel {number}. Details: {url}",
        milestones.AVAILABLE_FOR_PICKUP: "QualityPost: Hi {name}, your parcel {number} is ready for pickup: {url}",
        EXCEPTION: "QualityPost: Hi {name}, there is a problem with your parcel {number}. See: {url}",
        CODE: "QualityPost: your code is {code}. It expires in 10 min. Do not share it.",
    },
}
_STOP = {"es": " Resp BAJA para no recibir.", "en": " Reply STOP to opt out."}

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")  # two septets each
GSM7_LIMIT = 160
UCS2_LIMIT = 70


@dataclass(frozen=True)
class WhatsAppTemplate:
    name: str
    language: str
    body: list[str]
    button: str | None  # the URL button's dynamic suffix


def topic_of(key: str) -> str:
    """Return the topic of an outbox key: ``milestone:delivered`` -> delivered, ``exception:12`` -> exception."""
    kind, _, rest = key.partition(":")
    return rest if kind == "milestone" else kind


def whatsapp_template(*, key: str, language: str, first_name: str, number: str, code: str = "") -> WhatsAppTemplate:
    """Return the template message for an outbox key."""
    topic = topic_of(key)
    lang = WHATSAPP_LANGUAGES.get(language, "es_MX")
    if topic == CODE:
        # An authentication template: the code in the body and in its copy-code button.
        return WhatsAppTemplate(name=WHATSAPP_TEMPLATES[CODE], language=lang, body=[code], button=code)
    name = first_name.strip() or ("cliente" if language == "es" else "there")
    return WhatsAppTemplate(
        name=WHATSAPP_TEMPLATES[topic], language=lang, body=[name, numbers.display(number)], button=number
    )


def sms_text(*, key: str, language: str, first_name: str, number: str, url: str, code: str = "") -> str:
    """Return the SMS for an outbox key, in one segment (see ``segment_fits``).

    The first name is kept when it fits; accents are dropped from it when they would force
    UCS-2; the opt-out hint is added when there is room.
    """
    texts = _TEXTS.get(language, _TEXTS["es"])
    template = texts[topic_of(key)]
    display = numbers.display(number)
    plain = _ascii(first_name.strip())
    for name in (first_name.strip(), plain, ""):
        text = template.format(name=name, number=display, url=url, code=code)
        if not name:
            text = text.replace(" ,", ",").replace("  ", " ")
        if segment_fits(text):
            break
    else:  # the link alone is too long: the bare link still reaches the page
        text = url
    hint = text + _STOP.get(language, _STOP["es"])
    return hint if segment_fits(hint) and topic_of(key) != CODE else text


def encoding(text: str) -> str:
    """Return ``GSM-7`` when every character is in the GSM 03.38 alphabet, else ``UCS-2``."""
    return "GSM-7" if all(c in GSM7 or c in GSM7_EXTENDED for c in text) else "UCS-2"


def segment_fits(text: str) -> bool:
    """Return True when ``text`` is one SMS segment (160 GSM-7 septets, or 70 UCS-2 units)."""
    if encoding(text) == "GSM-7":
        return sum(2 if c in GSM7_EXTENDED else 1 for c in text) <= GSM7_LIMIT
    return len(text.encode("utf-16-le")) // 2 <= UCS2_LIMIT


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
