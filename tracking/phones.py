"""Recipient phone numbers for WhatsApp and SMS updates: validate, normalise to E.164, mask.

Pure helpers (no Django). Only mobile numbers of Mexico (+52) and the United States and Canada
(+1) are accepted: messages go to phones that can read them. libphonenumber cannot tell a
Mexican landline from a mobile since the 2019 numbering plan (both are "fixed line or
mobile"); a number it knows to be fixed, toll-free, premium or shared-cost is refused.
"""

import phonenumbers
from phonenumbers import PhoneNumberType

COUNTRIES = ("MX", "US", "CA")
_MOBILE = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class InvalidPhone(ValueError):
    """A number that cannot receive updates; the message says why, ``reason`` names the case
    (``empty``, ``unreadable``, ``invalid``, ``country``, ``not_mobile``) for translated pages."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def phone_normalize(raw: str, *, default_country: str = "MX") -> tuple[str, str]:
    """Return ``(e164, country)`` for a mobile number, or raise InvalidPhone saying why.

    A number without ``+`` is read as a number of ``default_country``. The old Mexican mobile
    prefix (``+52 1 ...``, dropped in 2019) is removed.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("Enter a mobile phone number.", "empty")
    try:
        number = phonenumbers.parse(text, default_country)
    except phonenumbers.NumberParseException:
        raise InvalidPhone("This is not a phone number.", "unreadable") from None
    national = str(number.national_number)
    if number.country_code == 52 and len(national) == 11 and national.startswith("1"):
        number = phonenumbers.parse(f"+52{national[1:]}")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("This phone number is not valid; check the digits and the country code.", "invalid")
    country = phonenumbers.region_code_for_number(number)
    if country not in COUNTRIES:
        raise InvalidPhone(
            "Only numbers of Mexico (+52) and the United States or Canada (+1) can get updates.", "country"
        )
    if phonenumbers.number_type(number) not in _MOBILE:
        raise InvalidPhone("This is not a mobile number; updates go to phones that can receive messages.", "not_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), country


def phone_mask(e164: str) -> str:
    """Return ``+52 •••• ••78``-style text: the country code and the last two digits only."""
    return f"{e164[:3] if e164.startswith('+52') else e164[:2]} ••• {e164[-2:]}"
