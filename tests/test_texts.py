"""Every text exists in both languages, with the same placeholders, and Vietnamese has diacritics."""

from __future__ import annotations

import string

import pytest

from handlers.chat import Reply, numbered, split_text
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
