"""Forms of the public tracking pages: they turn what people type into tracking numbers."""

import re
import unicodedata
from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tracking import numbers

MAX_NUMBERS = 25
# 25 numbers written in groups of four with a separator each take 25 * 20 = 500 characters;
# twice that leaves room for generous spacing and nothing more.
MAX_INPUT_LENGTH = 1000
# Letters and digits (numbers), spaces and dashes (grouping), commas, semicolons and newlines
# (separators). Anything else cannot be part of a list of tracking numbers.
_ALLOWED = re.compile(r"[A-Za-z0-9\s,;\-]*")


@dataclass(frozen=True)
class Entry:
    """One token of the lookup input: its canonical number, or why it is not one."""

    input: str
    number: str = ""
    problem: str = ""  # "", "format" or "check_digit"


def _control_characters(value: str) -> bool:
    return any(unicodedata.category(char) == "Cc" and char not in "\t\n\r" for char in value)


class LookupForm(forms.Form):
    """Up to 25 tracking numbers, separated by commas, spaces or new lines."""

    # The length is checked in clean_numbers() so that the message can say what to do.
    numbers = forms.CharField(
        label=_("Tracking numbers"),
        strip=True,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": _("Enter at least one tracking number.")},
    )

    def clean_numbers(self) -> list[Entry]:
        value = self.cleaned_data["numbers"]
        if len(value) > MAX_INPUT_LENGTH:
            raise forms.ValidationError(
                _("That is more text than %(max)s tracking numbers take. Enter at most %(max)s numbers."),
                code="too_long",
                params={"max": MAX_NUMBERS},
            )
        if _control_characters(value):
            raise forms.ValidationError(
                _("The text contains invisible control characters. Type or paste the numbers again."),
                code="control_characters",
            )
        if not _ALLOWED.fullmatch(value):
            raise forms.ValidationError(
                _(
                    "Tracking numbers contain only letters and digits. Separate them with commas, "
                    "spaces or new lines, and remove any other characters."
                ),
                code="characters",
            )
        tokens = numbers.split_many(value)
        if len(tokens) > MAX_NUMBERS:
            raise forms.ValidationError(
                ngettext(
                    "You can track up to %(max)s numbers at a time; you entered %(count)s. Remove %(extra)s number.",
                    "You can track up to %(max)s numbers at a time; you entered %(count)s. Remove %(extra)s numbers.",
                    len(tokens) - MAX_NUMBERS,
                ),
                code="too_many",
                params={"max": MAX_NUMBERS, "count": len(tokens), "extra": len(tokens) - MAX_NUMBERS},
            )
        entries: list[Entry] = []
        seen: set[str] = set()
        for token in tokens:
            try:
                number = numbers.parse(token)
            except numbers.InvalidTrackingNumber as exc:
                entries.append(Entry(input=token, problem=exc.reason))
                continue
            if number not in seen:
                seen.add(number)
                entries.append(Entry(input=token, number=number))
        if not entries:
            raise forms.ValidationError(_("Enter at least one tracking number."), code="required")
        if all(entry.problem == "format" for entry in entries):
            raise forms.ValidationError(
                _(
                    "This does not look like a QualityPost tracking number. Our numbers start with QP "
                    "followed by 12 digits, for example QP12 3456 7890 1234."
                ),
                code="format",
            )
        return entries


class PostalCodeForm(forms.Form):
    """The destination postal code, which unlocks the recipient's details."""

    postal_code = forms.RegexField(
        label=_("Destination postal code"),
        regex=r"^[A-Za-z0-9][A-Za-z0-9 \-]{1,9}$",
        max_length=10,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "inputmode": "numeric", "size": 10}),
        error_messages={
            "required": _("Enter the postal code of the delivery address."),
            "invalid": _("A postal code has 3 to 10 letters or digits, for example 44100."),
            "max_length": _("A postal code has 3 to 10 letters or digits, for example 44100."),
        },
    )

    wrong_code = _("This postal code does not match the delivery address. Check it and try again.")
    code_in_link = _(
        "For your privacy the postal code is no longer read from the link. Enter it here to see the delivery details."
    )

    @staticmethod
    def locked_message(minutes: int) -> str:
        return ngettext(
            "Too many wrong postal codes were entered for this shipment. To protect the recipient, "
            "try again in %(minutes)d minute.",
            "Too many wrong postal codes were entered for this shipment. To protect the recipient, "
            "try again in %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}
