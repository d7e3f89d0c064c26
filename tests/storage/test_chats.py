"""ChatRepository: a chat's language, reachability, what its next text answers, and the numbered
menu of chats that type numbers; all read at once with the chat's survey."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from storage.base import Storage
from storage.records import Rating, Role
from tests.storage.conftest import T0, TG_2001, add_dossier, entry, hours, set_people, start_survey


async def extend(
    db: Storage,
    channel: str,
    chat_id: str,
    options: Sequence[tuple[str, str]],
    *,
    keep_since: datetime | None,
    limit: int,
    now: datetime,
) -> int:
    """Numbers options after the chat's menu and records them as shown, as a channel does once
    the message went through; the number of the first."""
    first = await db.chats.menu_start(
        channel, chat_id, adding=len(options), keep_since=keep_since, limit=limit
    )
    assert await db.chats.remember_menu(channel, chat_id, options, first=first, now=now)
    return first


class TestChats:
    async def test_an_unknown_chat_has_an_empty_state(self, db: Storage):
        state = await db.chats.get_chat_state("telegram", "42")
        assert (state.channel, state.chat_id) == ("telegram", "42")
        assert (state.language, state.unreachable_since, state.survey, state.awaiting) == (None,) * 4
        assert state.menu == () and not state.is_person and state.person_channel is None

    async def test_chat_language_and_reachability(self, db: Storage):
        assert (await db.chats.get_chat_state("telegram", "42")).language is None
        await db.chats.set_language("telegram", "42", "en")
        await db.chats.mark_unreachable("telegram", "42", T0)
        await db.chats.mark_unreachable("telegram", "42", T0 + timedelta(hours=1))  # keeps the first time
        chat = await db.chats.get_chat_state("telegram", "42")
        assert chat.language == "en" and chat.unreachable_since == T0
        await db.chats.mark_reachable("telegram", "42")
        assert (await db.chats.get_chat_state("telegram", "42")).unreachable_since is None

    async def test_a_chat_is_one_channel_and_chat_id(self, db: Storage):
        await db.chats.set_language("telegram", "42", "en")
        await db.chats.set_language("telegram", "42", "vi")  # changed again
        await db.chats.mark_unreachable("telegram", "42", T0)
        await db.chats.set_awaiting("telegram", "42", "note:1")
        other = await db.chats.get_chat_state("zalo", "42")
        assert (other.language, other.unreachable_since, other.awaiting) == (None, None, None)
        chat = await db.chats.get_chat_state("telegram", "42")
        assert (chat.language, chat.unreachable_since, chat.awaiting) == ("vi", T0, "note:1")

    async def test_a_chat_found_reachable_before_it_was_known_stays_unknown(self, db: Storage):
        await db.chats.mark_reachable("zalo", "new")
        state = await db.chats.get_chat_state("zalo", "new")
        assert (state.language, state.unreachable_since, state.awaiting, state.menu) == (None, None, None, ())

    async def test_unreachable_is_kept_with_the_language(self, db: Storage):
        await db.chats.mark_unreachable("zalo", "z1", T0)  # a chat first seen blocked
        await db.chats.set_language("zalo", "z1", "en")
        chat = await db.chats.get_chat_state("zalo", "z1")
        assert (chat.language, chat.unreachable_since) == ("en", T0)
        await db.chats.mark_reachable("zalo", "z1")
        await db.chats.mark_unreachable("zalo", "z1", T0 + hours(3))  # blocked again later: a new time
        assert (await db.chats.get_chat_state("zalo", "z1")).unreachable_since == T0 + hours(3)

    async def test_what_the_next_text_answers_is_set_and_cleared(self, db: Storage):
        await db.chats.set_language("telegram", "2001", "en")
        await db.chats.set_awaiting("telegram", "2001", "note:12")
        assert (await db.chats.get_chat_state("telegram", "2001")).awaiting == "note:12"
        await db.chats.set_awaiting("telegram", "2001", "relay:3")
        assert (await db.chats.get_chat_state("telegram", "2001")).awaiting == "relay:3"
        await db.chats.set_awaiting("telegram", "2001", None)
        state = await db.chats.get_chat_state("telegram", "2001")
        assert state.awaiting is None and state.language == "en"
        await db.chats.set_awaiting("zalo", "fresh", "note:1")  # a chat not seen before
        assert (await db.chats.get_chat_state("zalo", "fresh")).awaiting == "note:1"

    async def test_chat_state_reads_language_reachability_and_survey_at_once(self, db: Storage):
        empty = await db.chats.get_chat_state("telegram", "42")
        assert (empty.language, empty.unreachable_since, empty.survey) == (None, None, None)
        dossier = await add_dossier(db)
        started = await start_survey(db, dossier.id)
        assert started.rating is None and started.unit_name == "UBND Phường Bến Nghé"
        await db.chats.set_language("telegram", "42", "en")
        await db.surveys.record_rating(
            started, rating=Rating.NEUTRAL, option_id="neutral", next_step="problem", now=T0
        )
        state = await db.chats.get_chat_state("telegram", "42")
        assert state.language == "en" and state.survey is not None
        assert state.survey.step == "problem" and state.survey.rating == Rating.NEUTRAL
        assert state.survey == (await db.chats.get_chat_state("telegram", "42")).survey
        assert (await db.chats.get_chat_state("telegram", "43")).survey is None
        assert dossier.unit_name == "UBND Phường Bến Nghé" and not dossier.answered
        assert (await db.dossiers.get_dossier_by_link(dossier.link_id)).answered

    async def test_chat_state_says_whether_an_active_head_or_staff_member_is_reached_there(self, db: Storage):
        await set_people(db, [entry("Q1", Role.HEAD, "An", TG_2001)])
        state = await db.chats.get_chat_state("telegram", "2001")
        assert state.is_person and state.person_channel is None  # they have not written yet
        await db.directory.note_person_channel("telegram", "2001")
        assert (await db.chats.get_chat_state("telegram", "2001")).person_channel == "telegram"
        await set_people(db, [])  # no longer listed: a citizen like any other
        assert not (await db.chats.get_chat_state("telegram", "2001")).is_person

    async def test_a_menu_numbers_on_or_starts_again(self, db: Storage):
        first = await extend(db, "zalo", "z1", [("a", "A"), ("b", "B")], keep_since=None, limit=60, now=T0)
        assert first == 1 and (await db.chats.get_chat_state("zalo", "z1")).menu == (("a", "A"), ("b", "B"))
        # a notice soon after numbers on; an answer to the person starts again
        assert (
            await extend(
                db, "zalo", "z1", [("c", "C")], keep_since=T0 - timedelta(hours=12), limit=60, now=T0
            )
            == 3
        )
        assert [k for k, _ in (await db.chats.get_chat_state("zalo", "z1")).menu] == ["a", "b", "c"]
        assert await extend(db, "zalo", "z1", [("d", "D")], keep_since=None, limit=60, now=T0) == 1
        # a notice a day later starts again too: nobody remembers yesterday's numbers
        later = T0 + timedelta(days=1)
        assert (
            await extend(
                db, "zalo", "z1", [("e", "E")], keep_since=later - timedelta(hours=12), limit=60, now=later
            )
            == 1
        )
        await extend(db, "zalo", "z1", [], keep_since=None, limit=60, now=later)
        assert (await db.chats.get_chat_state("zalo", "z1")).menu == ()
        # the language and the rest of the chat are untouched
        await db.chats.set_language("zalo", "z1", "en")
        await extend(db, "zalo", "z1", [("f", "F")], keep_since=None, limit=60, now=later)
        assert (await db.chats.get_chat_state("zalo", "z1")).language == "en"

    async def test_a_menu_never_grows_without_end(self, db: Storage):
        many = [(f"k{n}", f"L{n}") for n in range(40)]
        await extend(db, "zalo", "z1", many, keep_since=None, limit=60, now=T0)
        assert (
            await extend(db, "zalo", "z1", many, keep_since=T0 - timedelta(hours=12), limit=60, now=T0) == 1
        )
        assert len((await db.chats.get_chat_state("zalo", "z1")).menu) == 40

    async def test_a_menu_fills_up_to_its_limit_exactly(self, db: Storage):
        since = T0 - hours(1)
        await extend(db, "zalo", "z1", [("a", "A"), ("b", "B")], keep_since=None, limit=3, now=T0)
        assert await extend(db, "zalo", "z1", [("c", "C")], keep_since=since, limit=3, now=T0) == 3
        assert await extend(db, "zalo", "z1", [("d", "D")], keep_since=since, limit=3, now=T0) == 1
        assert (await db.chats.get_chat_state("zalo", "z1")).menu == (("d", "D"),)

    async def test_a_menu_is_kept_only_if_extended_after_keep_since(self, db: Storage):
        await extend(db, "zalo", "z1", [("a", "A")], keep_since=None, limit=60, now=T0)
        # extended exactly at `keep_since` is not after it
        assert await extend(db, "zalo", "z1", [("b", "B")], keep_since=T0, limit=60, now=T0) == 1
        # each extension renews the time the menu is kept from
        later = T0 + hours(2)
        await extend(db, "zalo", "z1", [("c", "C")], keep_since=T0 - hours(1), limit=60, now=later)
        number = await extend(db, "zalo", "z1", [("d", "D")], keep_since=T0 + hours(1), limit=60, now=later)
        assert number == 3 and [k for k, _ in (await db.chats.get_chat_state("zalo", "z1")).menu] == [
            "b",
            "c",
            "d",
        ]

    async def test_a_chat_without_a_menu_starts_at_one_whatever_keep_since(self, db: Storage):
        await db.chats.set_language("zalo", "z1", "vi")
        assert await extend(db, "zalo", "z1", [("a", "A")], keep_since=T0 - hours(1), limit=60, now=T0) == 1
        assert await extend(db, "zalo", "z2", [("a", "A")], keep_since=T0 - hours(1), limit=60, now=T0) == 1

    async def test_menus_are_per_chat(self, db: Storage):
        await extend(db, "zalo", "z1", [("a", "Ông An")], keep_since=None, limit=60, now=T0)
        await extend(db, "zalo", "z2", [("b", "Bà Bình")], keep_since=None, limit=60, now=T0)
        await extend(db, "zalo", "z2", [], keep_since=None, limit=60, now=T0)
        assert (await db.chats.get_chat_state("zalo", "z1")).menu == (("a", "Ông An"),)
        assert (await db.chats.get_chat_state("zalo", "z2")).menu == ()

    async def test_numbering_options_reads_only_until_they_are_remembered(self, db: Storage):
        await extend(db, "zalo", "z1", [("a", "A")], keep_since=None, limit=60, now=T0)
        since = T0 - hours(1)
        assert await db.chats.menu_start("zalo", "z1", adding=2, keep_since=since, limit=60) == 2
        assert await db.chats.menu_start("zalo", "z1", adding=2, keep_since=since, limit=60) == 2
        assert await db.chats.menu_start("zalo", "z1", adding=60, keep_since=since, limit=60) == 1
        assert await db.chats.menu_start("zalo", "z1", adding=2, keep_since=None, limit=60) == 1
        assert await db.chats.menu_start("zalo", "z9", adding=2, keep_since=since, limit=60) == 1
        assert (await db.chats.get_chat_state("zalo", "z1")).menu == (("a", "A"),)

    async def test_options_follow_the_menu_only_where_it_ends_just_before_them(self, db: Storage):
        await extend(db, "zalo", "z1", [("a", "A"), ("b", "B")], keep_since=None, limit=60, now=T0)
        # numbered 3 and 4 after a menu of two: they follow it
        assert await db.chats.remember_menu("zalo", "z1", [("c", "C"), ("d", "D")], first=3, now=T0)
        # numbered 4 after a menu that has four by now: not remembered, the menu is untouched
        assert not await db.chats.remember_menu("zalo", "z1", [("x", "X")], first=4, now=T0)
        assert not await db.chats.remember_menu("zalo", "z1", [("x", "X")], first=9, now=T0)
        assert not await db.chats.remember_menu("zalo", "z2", [("x", "X")], first=2, now=T0)
        assert [k for k, _ in (await db.chats.get_chat_state("zalo", "z1")).menu] == ["a", "b", "c", "d"]
        assert (await db.chats.get_chat_state("zalo", "z2")).menu == ()
        # numbered from 1: they replace whatever the menu holds
        assert await db.chats.remember_menu("zalo", "z1", [("e", "E")], first=1, now=T0)
        assert (await db.chats.get_chat_state("zalo", "z1")).menu == (("e", "E"),)
