"""A citizen's phone number: every way Vietnamese numbers are written becomes one stored form,
84 and the national number (what Zalo's template messages take); anything else is refused with a
message that says what is wrong and shows a number written right."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.codes import TextRefused
from handlers.phones import normalised_phone, shown_phone

MOBILE = "84901234567"
LANDLINE = "842838221234"


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("0901234567", MOBILE),
        ("+84 90 123 4567", MOBILE),
        ("84901234567", MOBILE),
        ("0084 901 234 567", MOBILE),
        ("090-123-4567", MOBILE),
        ("0901.234.567", MOBILE),
        ("(+84) 90 123 4567", MOBILE),
        ("+84 (0) 90 123 4567", MOBILE),
        (" 0901\u00a0234\u00a0567 ", MOBILE),  # a no-break space from a web page
        ("0351234567", "84351234567"),
        ("0581234567", "84581234567"),
        ("0771234567", "84771234567"),
        ("0861234567", "84861234567"),
        ("028 3822 1234", LANDLINE),
        ("(028) 3822-1234", LANDLINE),
        ("+84 28 3822 1234", LANDLINE),
        ("842838221234", LANDLINE),
        ("0243 826 1234", "842438261234"),
    ],
)
def test_every_vietnamese_way_of_writing_a_number_is_one_stored_form(written: str, stored: str):
    assert normalised_phone(written) == stored


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("090123456", "has 8 digits without its 0 or +84: a mobile has 9"),
        ("09012345678", "has 10 digits without its 0 or +84: a mobile has 9"),
        ("+84 90 123 45678", "has 10 digits"),
        ("028 3822 123", "has 9 digits without its 0 or +84: a landline has 10"),
        ("0123456789", "is not a Vietnamese mobile (03, 05, 07, 08, 09) or landline (02)"),
        ("0612345678", "is not a Vietnamese mobile"),
        ("901234567", "has no leading 0 or +84 (a spreadsheet that keeps phone numbers as numbers drops"),
        ("+1 202 555 0143", "is not a Vietnamese number (+84)"),
        ("0065 6123 4567", "is not a Vietnamese number (+84)"),
        ("0901234567 ext 12", "holds U+0065 LATIN SMALL LETTER E"),
        ("0901\n234567", "holds U+000A"),
        ("09012+34567", "holds U+002B PLUS SIGN"),
        ("０９０１２３４５６７", "holds U+FF10 FULLWIDTH DIGIT ZERO"),
        ("()", "holds no digits"),
        ("0" * 41, "41 characters long"),
    ],
)
def test_anything_else_is_refused_saying_what_is_wrong_and_how_to_write_it(written: str, message: str):
    with pytest.raises(TextRefused) as refused:
        normalised_phone(written)
    assert message in str(refused.value)
    assert "0901234567" in str(refused.value) or "028 3822 1234" in str(refused.value)  # written right


def test_a_stored_number_is_shown_in_its_international_form():
    assert shown_phone(MOBILE) == "+84 90 123 4567"
    assert shown_phone(LANDLINE) == "+84 28 3822 1234"


@given(st.text(max_size=50))
def test_any_text_is_refused_or_a_valid_stored_number(text: str):
    try:
        stored = normalised_phone(text)
    except TextRefused:
        return
    national = stored.removeprefix("84")
    assert stored.isascii() and stored.isdigit()
    assert (len(national) == 9 and national[0] in "35789") or (len(national) == 10 and national[0] == "2")
    assert normalised_phone(stored) == stored
    assert normalised_phone(shown_phone(stored)) == stored


@given(st.sampled_from("35789"), st.text("0123456789", min_size=8, max_size=8), st.sampled_from(
    ["0{}", "+84{}", "84{}", "0084{}", "+84 (0){}"]
))  # fmt: skip
def test_a_mobile_in_any_prefix_is_the_same_number(first: str, rest: str, form: str):
    assert normalised_phone(form.format(first + rest)) == "84" + first + rest
