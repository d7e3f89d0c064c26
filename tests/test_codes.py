"""What a code or a name may hold: codes printed on receipts and typed again (dossier codes, unit
codes) refuse invisible, bidirectional and control characters and are stored composed (NFC), so two
codes that look the same are the same code; procedure names shown to citizens are one clean line."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from handlers.codes import TextRefused, checked_code, checked_name
from handlers.directory import UnitConfig

INVISIBLE = [
    ("HS-\u200b1", "U+200B ZERO WIDTH SPACE"),
    ("HS-1\u200d", "U+200D ZERO WIDTH JOINER"),
    ("\ufeffHS-1", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    ("HS-\u202e1-SH", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("HS-\u20661", "U+2066 LEFT-TO-RIGHT ISOLATE"),
    ("HS-\u00ad1", "U+00AD SOFT HYPHEN"),
    ("HS-1\nHS-2", "U+000A a control character"),
    ("HS-1\r2", "U+000D a control character"),
    ("HS\t1", "U+0009 a control character"),
    ("HS-\x001", "U+0000 a control character"),
    ("HS-\u20281", "U+2028 LINE SEPARATOR"),
    ("HS\u00a01", "U+00A0 NO-BREAK SPACE"),
    ("HS 1", "U+0020 SPACE"),
    ("HS-\ue0011", "U+E001 a private-use character"),
    ("HS-\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A"),
    ("\u0301HS-1", "U+0301 COMBINING ACUTE ACCENT"),
]


@pytest.mark.parametrize(("code", "named"), INVISIBLE)
def test_a_code_with_an_invisible_or_control_character_is_refused_naming_it(code: str, named: str):
    with pytest.raises(TextRefused) as refused:
        checked_code(code)
    assert named in str(refused.value) and "dossier code" in str(refused.value)


def test_a_code_is_trimmed_and_composed_so_look_alikes_are_one_code():
    assert checked_code("  HS-2026-0001 ") == checked_code("HS-2026-0001\r\n") == "HS-2026-0001"
    decomposed = unicodedata.normalize("NFD", "HS-ĐỒNG-1")
    assert decomposed != "HS-ĐỒNG-1" and checked_code(decomposed) == "HS-ĐỒNG-1"
    assert checked_code("000.00.17.H29-230815-0012") == "000.00.17.H29-230815-0012"


@pytest.mark.parametrize(
    ("code", "message"), [("", "is empty"), ("   ", "is empty"), ("X" * 65, "65 characters long, over 64")]
)
def test_an_empty_or_endless_code_is_refused(code: str, message: str):
    with pytest.raises(TextRefused, match=message):
        checked_code(code)


printable = st.characters(categories=["L", "N", "P", "S"])


@given(code=st.text(printable, min_size=1, max_size=64))
def test_letters_digits_punctuation_and_symbols_make_a_code(code: str):
    assert checked_code(code) == unicodedata.normalize("NFC", code)


@given(code=st.text(min_size=1, max_size=40))
def test_any_text_is_refused_or_a_code_of_visible_characters_in_nfc(code: str):
    try:
        checked = checked_code(code)
    except TextRefused:
        return
    assert checked == unicodedata.normalize("NFC", checked)
    assert all(unicodedata.category(c)[0] in "LNPSM" for c in checked)


def test_a_procedure_name_is_one_clean_line_in_nfc():
    assert checked_name(" Đăng\u00a0ký  khai sinh ", "procedure") == "Đăng ký khai sinh"
    assert checked_name(unicodedata.normalize("NFD", "Đăng ký khai sinh"), "procedure") == "Đăng ký khai sinh"
    for bad in ("Đăng ký\nkhai sinh", "Đăng ký\u200bkhai sinh", "Đăng ký \u202ekhai sinh", "\t"):
        with pytest.raises(TextRefused, match="procedure"):
            checked_name(bad, "procedure")
    with pytest.raises(TextRefused, match="is empty"):
        checked_name("  ", "procedure")


@pytest.mark.parametrize("code", ["Q1\u200b", "Q1\n", "Q1 ", "Q\u202e1", "Q1\u00a0", "Ｑ1"])
def test_unit_codes_in_a_directory_file_refuse_them_too(code: str):
    with pytest.raises(ValidationError):
        UnitConfig(code=code, name="UBND")
