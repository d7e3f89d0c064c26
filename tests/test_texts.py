"""Every text exists in both languages, with the same placeholders, and Vietnamese has diacritics."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.chat import Reply, numbered, split_text, text_length, utf16_units
from handlers.texts import CATALOG, LANGUAGES, language_of


@pytest.mark.parametrize("key", sorted(CATALOG))
def test_each_text_is_complete_in_every_language(key):
    entry = CATALOG[key]
    assert set(entry) == set(LANGUAGES)
    fields = {lang: {f for _, f, _, _ in string.Formatter().parse(entry[lang]) if f} for lang in LANGUAGES}
    assert fields["vi"] == fields["en"]
    assert all(entry[lang].strip() for lang in LANGUAGES)


# Texts whose Vietnamese words happen to need no diacritics ("giao cho").
PLAIN_VIETNAMESE = {"language_hint", "case_assignee"}


def test_vietnamese_texts_carry_diacritics():
    plain_ascii = [k for k, v in CATALOG.items() if v["vi"].isascii() and k not in PLAIN_VIETNAMESE]
    assert plain_ascii == []


def test_language_codes_map_onto_spoken_languages():
    assert language_of("vi", "en") == "vi"
    assert language_of("en-US", "vi") == "en"
    assert language_of("fr", "vi") == "vi"
    assert language_of(None, "en") == "en"


def test_numbered_lists_options_and_the_hint():
    from handlers.chat import Option

    reply = Reply("Chọn:", (Option("a", "Một"), Option("b", "Hai")), "Gõ số.")
    assert numbered(reply) == "Chọn:\n\n1. Một\n2. Hai\n\nGõ số."


def test_split_text_keeps_words_whole_and_pieces_short():
    words = ("Ông/Bà vui lòng mô tả cụ thể vấn đề. " * 300).strip()
    pieces = split_text(words, 2000)
    assert all(len(p) <= 2000 for p in pieces) and len(pieces) > 1
    assert " ".join(pieces).split() == words.split()
    assert split_text("ngắn", 2000) == ["ngắn"]
    assert split_text("x" * 4500, 2000) == ["x" * 2000, "x" * 2000, "x" * 500]


# Splitting in the platforms' unit: Telegram and Zalo count a message's length in UTF-16 code units,
# so an emoji beyond the Basic Multilingual Plane ("😡") takes two.


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_emoji_are_split_by_utf16_units_and_come_back_whole():
    angry = "😡" * 1500  # 1,500 characters, 3,000 units
    assert utf16_units(angry) == 3000
    pieces = split_text(angry, 2000)
    assert [units(p) for p in pieces] == [2000, 1000] and "".join(pieces) == angry


FAMILY = "👨\u200d👩\u200d👧"  # one emoji a person sees, five characters, eight units
FLAG = "🇻🇳"  # two regional indicators
THUMBS = "👍🏽"  # an emoji and its skin tone
ACCENTED = "e\u0302\u0301"  # "ế" typed as a letter and two combining accents


@pytest.mark.parametrize("cluster", [FAMILY, FLAG, THUMBS, ACCENTED])
def test_a_cut_never_falls_inside_what_a_person_sees_as_one_character(cluster: str):
    message = cluster * 700
    for limit in (97, 100, 101, 2000):
        pieces = split_text(message, limit)
        assert all(units(p) <= limit for p in pieces)
        assert all(p.replace(cluster, "") == "" for p in pieces), "a piece holds part of a cluster"
        assert "".join(pieces) == message.strip()


@given(
    message=st.lists(
        st.one_of(st.characters(codec="utf-8"), st.sampled_from([FAMILY, FLAG, THUMBS, ACCENTED, " ", "\n"])),
        max_size=300,
    ).map("".join),
    limit=st.integers(min_value=8, max_value=120),
)
def test_every_piece_fits_the_limit_in_utf16_units_and_nothing_but_spaces_is_lost(message: str, limit: int):
    pieces = split_text(message, limit)
    assert all(units(p) <= limit for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(message.split())


def test_what_people_write_is_measured_as_they_see_it():
    assert text_length("😡" * 1500) == 1500
    assert text_length(unicodedata.normalize("NFD", "Không hài lòng")) == len("Không hài lòng")
