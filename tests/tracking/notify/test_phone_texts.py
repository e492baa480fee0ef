"""SMS texts: one segment, GSM-7 where the text allows, the page link, the first name at most."""

import pytest

from tracking.notify import texts

URL = "https://rastreo.qualitypost.mx/track/QP123456789012/"
KEYS = [
    "milestone:picked_up",
    "milestone:out_for_delivery",
    "milestone:delivered",
    "milestone:available_for_pickup",
    "exception:7",
]


@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("key", KEYS)
def test_every_update_is_one_gsm7_segment_with_the_link(key, language):
    text = texts.sms_text(key=key, language=language, first_name="María", number="QP123456789012", url=URL)
    assert URL in text
    assert texts.encoding(text) == "GSM-7" and len(text) <= texts.GSM7_LIMIT


def test_a_name_only_ucs2_can_write_is_left_out_rather_than_split_the_message():
    text = texts.sms_text(
        key="milestone:delivered", language="es", first_name="李小龍", number="QP123456789012", url=URL
    )
    assert "李" not in text and text.startswith("QualityPost: Hola, entregamos")
    assert texts.segment_fits(text)


def test_segments_count_ucs2_and_gsm7_extension_characters():
    assert texts.segment_fits("a" * 160) and not texts.segment_fits("a" * 161)
    assert not texts.segment_fits("€" * 81)  # two septets each
    assert texts.encoding("á") == "UCS-2" and texts.segment_fits("á" * 70) and not texts.segment_fits("á" * 71)


def test_the_whatsapp_template_carries_the_first_name_number_and_button():
    template = texts.whatsapp_template(key="milestone:delivered", language="en", first_name="", number="QP123456789012")
    assert (template.name, template.language) == ("qp_delivered", "en_US")
    assert template.body == ["there", "QP12 3456 7890 12"]
    assert template.button == "QP123456789012"
