"""Survey links: opaque, short, URL-safe, and impossible to forge without the secret."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.links import (
    CODE_ALPHABET,
    CodeKind,
    SurveyLinks,
    new_survey_code,
    normalized_code,
    read_survey_code,
)

LINKS = SurveyLinks("server-secret", "HcmFeedbackBot")


def test_a_token_is_short_url_safe_and_round_trips():
    link_id = LINKS.new_link_id()
    token = LINKS.token(link_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", token)
    assert LINKS.link_id(token) == link_id
    assert LINKS.url(link_id) == f"https://t.me/HcmFeedbackBot?start={token}"


def test_link_ids_are_random():
    assert len({LINKS.new_link_id() for _ in range(1000)}) == 1000


def test_a_token_reveals_nothing_it_was_not_given():
    # A fixed link id: a random one's base64 holds "HS" or "Q1" by chance about once in 40 runs.
    token = LINKS.token("kR7vW2pXz9TqLm4B")
    assert "HS" not in token and "Q1" not in token and LINKS.link_id(token) == "kR7vW2pXz9TqLm4B"


def test_another_secret_does_not_verify():
    token = SurveyLinks("other-secret", "x_bot").token("AAAAAAAAAAAAAAAA")
    assert LINKS.link_id(token) is None


def test_every_single_character_change_is_refused():
    token = LINKS.token(LINKS.new_link_id())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for position in range(len(token)):
        for replacement in alphabet[:8]:
            forged = token[:position] + replacement + token[position + 1 :]
            if forged != token:
                assert LINKS.link_id(forged) is None


@given(st.text(max_size=100))
def test_arbitrary_payloads_are_refused(payload):
    assert LINKS.link_id(payload) is None


# Survey codes: ten random characters and two check characters; codes printed before the check
# characters (ten characters, XXXXX-XXXXX) are still read.

codes = st.builds(lambda _: new_survey_code(), st.integers())


@given(code=codes)
def test_a_new_code_is_three_groups_of_four_whose_check_holds(code: str):
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", code)
    typed = read_survey_code(code)
    assert typed is not None and typed.kind == CodeKind.CHECKED and typed.code == code
    for variant in (code.lower(), code.replace("-", ""), code.replace("-", " "), f"  {code.lower()} "):
        assert normalized_code(variant) == code
    assert normalized_code(code.replace("0", "O").replace("1", "I")) == code  # look-alike letters


@given(code=codes, position=st.integers(0, 13), replacement=st.sampled_from(CODE_ALPHABET))
def test_any_one_character_mistyped_fails_the_check(code: str, position: int, replacement: str):
    mistyped = code[:position] + replacement + code[position + 1 :]
    if code[position] != "-" and mistyped != code:
        assert normalized_code(mistyped) is None
        typed = read_survey_code(mistyped)
        assert typed is not None and typed.kind == CodeKind.MISTYPED and not typed.counts_when_wrong


# Neighbours within the ten, or the two check characters; a swap across the border (the tenth and
# the first check character) is caught only as a random text is: about 999 times in 1,000.
@given(code=codes, position=st.sampled_from([*range(9), 10]))
def test_two_neighbours_swapped_fail_the_check(code: str, position: int):
    compact = code.replace("-", "")
    if compact[position] != compact[position + 1]:
        swapped = compact[:position] + compact[position + 1] + compact[position] + compact[position + 2 :]
        assert normalized_code(swapped) is None


def test_random_twelve_character_texts_pass_the_check_about_once_in_a_thousand():
    import random

    draw = random.Random(10)
    passed = sum(
        read_survey_code("".join(draw.choice(CODE_ALPHABET) for _ in range(12))).kind == CodeKind.CHECKED  # type: ignore[union-attr]
        for _ in range(20_000)
    )
    assert passed < 60  # 20,000 / 1,021 ≈ 20 expected


@pytest.mark.parametrize(
    ("typed", "counted"),
    [
        ("7K3QM-X9D2F", True),  # printed before the check characters: digits and letters
        ("7k3qm x9d2f", True),
        ("hello world", False),  # letters only: words, never counted as a wrong code
        ("khong thich", False),
        ("KHONG-THICH", False),
        ("09012 34567", False),  # digits only: a phone number
        ("0901234567", False),
    ],
)
def test_a_code_printed_before_the_check_is_read_and_only_a_likely_one_counts_when_wrong(typed, counted):
    code = read_survey_code(typed)
    assert code is not None and code.kind == CodeKind.PRINTED_BEFORE_CHECK
    assert code.counts_when_wrong == counted


@pytest.mark.parametrize(
    "typed", ["xin chao ban", "cam on nhieu", "hello", "ab-cd", "Không hài lòng", "１２３４５６７８９０"]
)
def test_ordinary_text_is_no_code(typed: str):
    assert read_survey_code(typed) is None and normalized_code(typed) is None
