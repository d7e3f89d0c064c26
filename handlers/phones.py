"""A citizen's phone number, wherever one enters the bot (the intake API, an import file, `dossier
add`): one stored form, so that the same phone written two ways is the same phone.

The stored form is 84 and the national number, digits only ("84901234567"): Zalo's template
messages (ZNS), the one channel that reaches a citizen by phone number, take the number that way,
and it is the international form without its "+", so it reads the same in every country's software.

People write Vietnamese numbers many ways: 0901234567, 090 123 4567, 0901.234.567, (+84) 90 123 4567,
+84 (0) 90 123 4567, 84901234567, 0084 901 234 567. Spaces, dots, dashes and parentheses are only
layout and are dropped; what is left is a national number after a leading 0, +84, 0084 or 84.
A national number is valid when it is a mobile (9 digits, starting with 3, 5, 7, 8 or 9) or a
landline (10 digits, starting with 2, the area code included). Anything else is refused rather
than guessed at: a wrong number would send a citizen's dossier to a stranger."""

from __future__ import annotations

import unicodedata

from handlers.codes import TextRefused, describe

EXAMPLE = "0901234567 or +84 90 123 4567 (a landline: 028 3822 1234)"
MOBILE_STARTS = "35789"
MOBILE_DIGITS = 9
LANDLINE_DIGITS = 10
# Longer than any way of writing a valid number (0084 (0) 28 3822 1234 is 24 characters) with room
# for generous spacing; a longer text is not a phone number and is not read through.
MAX_WRITTEN_LENGTH = 40
_LAYOUT = frozenset(".-()/")


def normalised_phone(text: str) -> str:
    """The phone number as stored: 84 and the national number, digits only; raises TextRefused
    saying what is wrong and showing a number written as it should be."""
    written = text.strip()
    if not written:
        raise TextRefused(f"the phone number is empty: write it as {EXAMPLE}")
    if len(written) > MAX_WRITTEN_LENGTH:
        raise TextRefused(f"the phone number is {len(written)} characters long: write it as {EXAMPLE}")
    digits = _digits(written)
    if not digits.strip("+"):
        raise TextRefused(f"the phone number {written!r} holds no digits: write it as {EXAMPLE}")
    national = _national(digits, written)
    if national.startswith("2"):
        if len(national) != LANDLINE_DIGITS:
            raise TextRefused(
                f"the phone number {written!r} has {len(national)} digits without its 0 or +84: a "
                f"landline has {LANDLINE_DIGITS}, its area code included (028 3822 1234)"
            )
    elif national and national[0] in MOBILE_STARTS:
        if len(national) != MOBILE_DIGITS:
            raise TextRefused(
                f"the phone number {written!r} has {len(national)} digits without its 0 or +84: a "
                f"mobile has {MOBILE_DIGITS} (0901234567)"
            )
    else:
        raise TextRefused(
            f"the phone number {written!r} is not a Vietnamese mobile (03, 05, 07, 08, 09) or landline "
            f"(02): write it as {EXAMPLE}"
        )
    return "84" + national


def _digits(written: str) -> str:
    """The digits and a leading "+", layout characters dropped; refuses any other character."""
    if written.isascii() and written.isdigit():  # as most one-stop software writes them
        return written
    kept: list[str] = []
    for char in written:
        if "0" <= char <= "9" or (char == "+" and not kept):
            kept.append(char)
        elif char not in _LAYOUT and unicodedata.category(char) != "Zs":
            raise TextRefused(
                f"the phone number {written!r} holds {describe(char)}: a phone number is digits, "
                f"written as {EXAMPLE}"
            )
    return "".join(kept)


def _national(digits: str, written: str) -> str:
    """The national number: the digits after +84, 0084, 84 (when what follows has a national
    number's length) or the leading 0. "+84 (0) 90..." writes the national 0 after the country code,
    which cannot begin a national number, so it is dropped too."""
    if digits.startswith(("+84", "0084")):
        national = digits.removeprefix("+84").removeprefix("0084")
    elif digits.startswith(("+", "00")):
        raise TextRefused(
            f"the phone number {written!r} is not a Vietnamese number (+84): write it as {EXAMPLE}"
        )
    elif digits.startswith("84") and len(digits) - 2 in (MOBILE_DIGITS, LANDLINE_DIGITS):
        national = digits[2:]
    elif digits.startswith("0"):
        return digits[1:]
    else:
        raise TextRefused(
            f"the phone number {written!r} has no leading 0 or +84 (a spreadsheet that keeps phone "
            f"numbers as numbers drops the 0): write it as {EXAMPLE}"
        )
    return national[1:] if national.startswith("0") else national


def shown_phone(phone: str) -> str:
    """A stored phone (84...) as people read an international number: "+84 90 123 4567",
    "+84 28 3822 1234"."""
    national = phone[2:] if phone.startswith("84") else phone
    if len(national) == MOBILE_DIGITS:
        return f"+84 {national[:2]} {national[2:5]} {national[5:]}"
    if len(national) == LANDLINE_DIGITS:
        return f"+84 {national[:2]} {national[2:6]} {national[6:]}"
    return f"+{phone}"
