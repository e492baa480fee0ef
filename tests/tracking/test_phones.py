"""Recipient numbers: mobiles of +52 and +1 only, normalised to E.164, masked for pages."""

import pytest

from tracking.phones import InvalidPhone, phone_mask, phone_normalize


@pytest.mark.parametrize(
    "raw, country, expected",
    [
        ("+52 55 1234 5678", "MX", "+525512345678"),
        ("55-1234-5678", "MX", "+525512345678"),
        ("+52 1 55 1234 5678", "MX", "+525512345678"),  # the pre-2019 mobile prefix
        ("+1 (415) 555-2671", "MX", "+14155552671"),
        ("415 555 2671", "US", "+14155552671"),
    ],
)
def test_it_normalises_mobiles_to_e164(raw, country, expected):
    assert phone_normalize(raw, default_country=country)[0] == expected


@pytest.mark.parametrize("raw", ["+1 800 555 0199", "+34 600 000 000", "+52 55 12", "hola", "  "])
def test_it_refuses_what_cannot_receive_messages(raw):
    with pytest.raises(InvalidPhone):
        phone_normalize(raw)


def test_the_mask_keeps_the_country_code_and_two_digits():
    assert phone_mask("+525512345678") == "+52 ••• 78"
    assert phone_mask("+14155552671") == "+1 ••• 71"
