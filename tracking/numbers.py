"""Tracking numbers: ``QP`` + 11 random digits + 1 Damm check digit (14 characters).

The Damm algorithm catches every single-digit error and every adjacent transposition, so a
mistyped number is rejected here, before any database query. No Django imports.
"""

import re
import secrets

PREFIX = "QP"
BODY_DIGITS = 11
LENGTH = len(PREFIX) + BODY_DIGITS + 1

# The totally anti-symmetric quasigroup of order 10 from H. Michael Damm's thesis (2004).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

_SHAPE = re.compile(rf"{PREFIX}\d{{{BODY_DIGITS + 1}}}")
_IGNORED = re.compile(r"[\s\-]+")


class InvalidTrackingNumber(ValueError):
    """The input is not a tracking number; ``reason`` is ``"format"`` or ``"check_digit"``."""

    def __init__(self, value: str, reason: str):
        self.value = value
        self.reason = reason
        super().__init__(f"{value!r}: {reason}")


def damm_digit(digits: str) -> int:
    """Return the Damm check digit of a string of decimal digits."""
    interim = 0
    for char in digits:
        interim = _DAMM[interim][ord(char) - 48]
    return interim


# Bodies that start with SANDBOX_MARK are the sandbox's (docs/api.md, Sandbox): the digit after
# the mark names the script the shipment follows. Live numbers are never drawn there.
SANDBOX_MARK = "99"


def generate() -> str:
    """Return a new random tracking number (uniqueness is the database's job)."""
    while True:
        body = "".join(secrets.choice("0123456789") for _ in range(BODY_DIGITS))
        if not body.startswith(SANDBOX_MARK):
            return f"{PREFIX}{body}{damm_digit(body)}"


def sandbox_generate(script: int) -> str:
    """Return a new random sandbox number for the script numbered ``script`` (1 to 9)."""
    rest = "".join(secrets.choice("0123456789") for _ in range(BODY_DIGITS - len(SANDBOX_MARK) - 1))
    body = f"{SANDBOX_MARK}{script}{rest}"
    return f"{PREFIX}{body}{damm_digit(body)}"


def sandbox_script(number: str) -> int | None:
    """Return the script digit of a canonical sandbox number, or None for a live number."""
    body = number[len(PREFIX) :]
    return int(body[len(SANDBOX_MARK)]) if body.startswith(SANDBOX_MARK) else None


def from_body(body: int) -> str:
    """Return the tracking number for an 11-digit integer body (used by bulk seeding)."""
    digits = f"{body:0{BODY_DIGITS}d}"
    return f"{PREFIX}{digits}{damm_digit(digits)}"


def normalize(value: str) -> str:
    """Return the input upper-cased, without spaces and dashes."""
    return _IGNORED.sub("", value).upper()


def parse(value: str) -> str:
    """Return the canonical tracking number for user input, or raise InvalidTrackingNumber."""
    number = normalize(value)
    if not _SHAPE.fullmatch(number):
        raise InvalidTrackingNumber(value, "format")
    if damm_digit(number[len(PREFIX) :]) != 0:
        raise InvalidTrackingNumber(value, "check_digit")
    return number


def error_message(value: str, reason: str) -> str:
    """Return why ``value`` is not a tracking number, for people (``reason`` from ``parse``)."""
    if reason == "check_digit":
        return f"{value} has a wrong check digit: it was probably mistyped."
    return f"{value} is not a tracking number (QP followed by 12 digits)."


def is_valid(value: str) -> bool:
    try:
        parse(value)
    except InvalidTrackingNumber:
        return False
    return True


def display(number: str) -> str:
    """Return the number grouped in fours for people: ``QP12 3456 7890 1234``."""
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def split_many(text: str) -> list[str]:
    """Return the tokens of a multi-number input (comma, semicolon, space or newline separated).

    Grouped input such as ``QP12 3456 7890 1234`` is re-joined: a token that does not start a
    number is glued to the previous one while that one is shorter than a whole number.
    """
    tokens: list[str] = []
    for chunk in re.split(r"[,;\n\r]+", text):
        words = [w for w in re.split(r"\s+", chunk.strip()) if w]
        current = ""
        for word in words:
            if current and not word.upper().startswith(PREFIX) and len(normalize(current)) < LENGTH:
                current += word
            else:
                if current:
                    tokens.append(current)
                current = word
        if current:
            tokens.append(current)
    return tokens
