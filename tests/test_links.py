"""Survey links: opaque, short, URL-safe, and impossible to forge without the secret."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from handlers.links import SurveyLinks

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
    token = LINKS.token(LINKS.new_link_id())
    assert "HS" not in token and "Q1" not in token


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
