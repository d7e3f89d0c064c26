"""Buttons as typed classes: every kind packs and unpacks itself within Telegram's 64 bytes, reads
the data buttons already in chats carry, refuses forged data without an error, cannot be declared
with a prefix another kind could be confused with, and reaches its handler through the one table."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.admin import ActivateQuestionSet, ApplyDirectory
from handlers.buttons import MAX_DATA_BYTES, Button, ButtonError, read_button
from handlers.cases import TYPED_ACTIONS, CaseAction, CaseButton, CasesPage, typed_case_button
from handlers.dispatch import ChooseLanguage
from handlers.extensions import DelegateExtension, ExtendDossier
from handlers.privacy import ConsentAnswer, ForgetMe
from handlers.survey import SurveyOption
from handlers.texts import LANGUAGES
from storage.records import CaseState, Rating
from tests.conftest import Citizen, add_dossier, labels, texts
from tests.test_cases import complain, only_case
from tests.test_directory import MERGED, source
from tests.test_question_sets import WARD_SET

STALE = "không còn hiệu lực"

ids = st.integers(min_value=0, max_value=2**63 - 1)  # SQLite's row ids
words = st.from_regex(r"[a-z0-9_]{1,20}", fullmatch=True)  # question and option ids in a question set


@st.composite
def case_buttons(draw: st.DrawFn) -> CaseButton:
    action = draw(st.sampled_from(CaseAction))
    staff_id = draw(ids) if action == CaseAction.ASSIGN_TO else None
    return CaseButton(draw(ids), action, staff_id)


# One strategy per kind of button; a kind declared without one here fails the test below.
EXAMPLES: dict[type[Button], st.SearchStrategy[Button]] = {
    SurveyOption: st.builds(SurveyOption, ids, words, words),
    CaseButton: case_buttons(),
    CasesPage: st.builds(CasesPage, ids),
    ActivateQuestionSet: st.builds(ActivateQuestionSet, ids),
    ApplyDirectory: st.builds(ApplyDirectory, ids),
    ChooseLanguage: st.builds(ChooseLanguage, st.sampled_from(LANGUAGES)),
    ExtendDossier: st.builds(ExtendDossier, ids),
    DelegateExtension: st.builds(DelegateExtension, ids, st.none() | ids),
    ForgetMe: st.builds(ForgetMe, st.sampled_from(("yes", "no"))),
    ConsentAnswer: st.builds(ConsentAnswer, st.sampled_from(("yes", "no"))),
}


def test_every_kind_of_button_is_tested_here():
    assert set(EXAMPLES) == set(Button.declared.values())


@given(button=st.one_of(*EXAMPLES.values()))
def test_every_button_packs_within_64_bytes_and_unpacks_to_itself(button: Button):
    data = button.pack()
    assert len(data.encode()) <= MAX_DATA_BYTES
    assert type(button).unpack(data) == button
    assert read_button(data) == button


# What the bot sent before buttons were classes, and may still be pressed in people's chats.
SENT_BEFORE = [
    ("s12.rating.unsatisfied", SurveyOption(12, "rating", "unsatisfied")),
    ("s12.comment.skip", SurveyOption(12, "comment", "skip")),
    ("c7.assign", CaseButton(7, CaseAction.ASSIGN)),
    ("c7.to.3", CaseButton(7, CaseAction.ASSIGN_TO, 3)),
    ("c7.resolve", CaseButton(7, CaseAction.RESOLVE)),
    ("c7.ok", CaseButton(7, CaseAction.CONFIRM)),
    ("c7.no", CaseButton(7, CaseAction.REOPEN)),
    ("cases.page.1", CasesPage(1)),
    ("qs5.activate", ActivateQuestionSet(5)),
    ("dir2.apply", ApplyDirectory(2)),
    ("lang.vi", ChooseLanguage("vi")),
    ("lang.en", ChooseLanguage("en")),
]


@pytest.mark.parametrize(("data", "button"), SENT_BEFORE)
def test_buttons_already_in_chats_read_as_the_same_buttons(data: str, button: Button):
    assert read_button(data) == button
    assert button.pack() == data


FORGED = [
    "",
    "garbage",
    "s.x.y",
    "s12.rating",  # a field missing
    "s12.rating.ok.more",  # one too many
    "s12..ok",  # an empty field
    "sx.rating.ok",  # not a number
    "s-1.rating.ok",
    "s012.rating.ok",  # a number pack() never writes
    "s١٢.rating.ok",  # digits, but not ASCII ones
    "s²",
    "c12",
    "c12.frobnicate",
    "c12.to",  # assigning names a staff member
    "c12.to.abc",
    "c12.assign.5",  # and nothing else does
    "c12.assign.",
    "cases.page.",
    "cases.page.x",
    "cases.page.1.2",
    "qs5",
    "qs5.delete",
    "qs5.activate.now",
    "dir2.remove",
    "lang.fr",
    "lang.",
    "LANG.vi",
]


@pytest.mark.parametrize("data", FORGED)
def test_malformed_or_forged_data_is_no_button(data: str):
    assert read_button(data) is None


@given(data=st.text(max_size=80))
def test_any_text_is_a_button_it_packs_back_into_or_none(data: str):
    button = read_button(data)
    assert button is None or button.pack() == data


@given(
    data=st.builds(
        lambda prefix, parts: prefix + ".".join(parts),
        st.sampled_from([*Button.declared, "s", "c"]),
        st.lists(st.text(alphabet="0123456789.-_²١ ab", max_size=6), max_size=4),
    )
)
def test_nearly_valid_data_is_a_button_it_packs_back_into_or_none(data: str):
    button = read_button(data)
    assert button is None or button.pack() == data


def test_data_over_64_bytes_of_utf8_is_refused_when_packed():
    at_limit = SurveyOption(1, "q" * 30, "o" * (MAX_DATA_BYTES - len("s1..") - 30))
    assert len(at_limit.pack().encode()) == MAX_DATA_BYTES
    with pytest.raises(ButtonError, match="65 bytes, over Telegram's 64"):
        SurveyOption(1, "q" * 30, "o" * (MAX_DATA_BYTES - len("s1..") - 29)).pack()
    accented = SurveyOption(1, "đ" * 20, "đ" * 20)  # 44 characters, 84 bytes
    with pytest.raises(ButtonError, match="84 bytes"):
        accented.pack()


@pytest.mark.parametrize("bad", ["a.b", ""])
def test_a_field_that_would_not_read_back_is_refused_when_packed(bad: str):
    with pytest.raises(ButtonError, match=r"SurveyOption\.question_id"):
        SurveyOption(1, bad, "ok").pack()


@pytest.mark.parametrize(
    ("button", "field"),
    [
        (CasesPage(-1), "CasesPage.page"),  # below zero
        (CasesPage("3"), "CasesPage.page"),  # a number given as text
        (ActivateQuestionSet(1, "delete"), "ActivateQuestionSet.action"),
        (ChooseLanguage("fr"), "ChooseLanguage.language"),
    ],
)
def test_a_value_that_would_not_read_back_is_refused_when_packed(button: Button, field: str):
    with pytest.raises(ButtonError, match=rf"{re.escape(field)}=.* does not hold"):
        button.pack()


def test_a_case_button_names_a_staff_member_only_to_assign_to_them():
    with pytest.raises(ValueError, match="staff member"):
        CaseButton(1, CaseAction.ASSIGN_TO)
    with pytest.raises(ValueError, match="staff member"):
        CaseButton(1, CaseAction.RESOLVE, 5)


def test_a_prefix_another_kind_of_button_could_be_confused_with_is_refused():
    before = dict(Button.declared)
    with pytest.raises(ButtonError, match="'c' clashes with CaseButton's 'c'"):

        class AgainC(Button, prefix="c"):
            case_id: int

    with pytest.raises(ButtonError, match="'c1' clashes with CaseButton's 'c'"):

        class AfterC(Button, prefix="c1"):  # "c12.x": case 12, or this with 2?
            number: int

    with pytest.raises(ButtonError, match=r"'lang\.v' clashes with ChooseLanguage's 'lang\.'"):

        class AfterLang(Button, prefix="lang.v"):  # "lang.vi"
            number: int

    with pytest.raises(ButtonError, match="'s' clashes with SurveyOption's 's'"):

        class Shorter(Button, prefix="s"):
            words: str

    assert Button.declared == before  # refused kinds are not declared


def test_the_declared_prefixes_are_told_apart_by_the_longest_that_matches():
    # "c" starts "cases.page.", which is allowed only because a case number starts with a digit.
    assert read_button("cases.page.3") == CasesPage(3)
    assert CaseButton.unpack("cases.page.3") is None and CasesPage.unpack("c3.assign") is None


def test_fields_are_numbers_words_or_fixed_choices_and_only_the_last_may_be_left_out():
    with pytest.raises(ButtonError, match="an int, a str, a StrEnum or a Literal"):

        class Price(Button, prefix="price"):
            amount: float

    with pytest.raises(ButtonError, match="only the last field may be optional"):

        class Gap(Button, prefix="gap"):
            first: int | None
            second: int


@pytest.mark.parametrize(
    ("typed", "button"),
    [
        ("giao 12", CaseButton(12, CaseAction.ASSIGN)),
        ("Giao #12", CaseButton(12, CaseAction.ASSIGN)),
        ("/giao 12", CaseButton(12, CaseAction.ASSIGN)),
        ("giáo 12", CaseButton(12, CaseAction.ASSIGN)),  # compared without diacritics
        ("assign 12", CaseButton(12, CaseAction.ASSIGN)),
        ("xong 12", CaseButton(12, CaseAction.RESOLVE)),
        ("  XONG   12 ", CaseButton(12, CaseAction.RESOLVE)),
        ("done 12", CaseButton(12, CaseAction.RESOLVE)),
        ("resolve 12", CaseButton(12, CaseAction.RESOLVE)),
        ("giao", None),
        ("giao 12 13", None),
        ("giao mười hai", None),
        ("ok 12", None),  # the citizen's answers are buttons, never typed commands
        ("to 12", None),
    ],
)
def test_short_commands_are_the_case_buttons(typed: str, button: CaseButton | None):
    assert typed_case_button(typed) == button


# Each kind of button reaches its handler through the dispatcher's table.


def test_every_kind_of_button_has_a_handler(dispatcher):
    assert set(dispatcher.buttons) == set(Button.declared.values())


async def test_a_survey_option_records_the_answer(config, store, dispatcher):
    dossier, token = await add_dossier(config, store)
    alice = Citizen(dispatcher)
    await alice.command("start", token)
    survey = (await store.chats.get_chat_state("telegram", "1001")).survey
    await alice.press_key(SurveyOption(survey.id, "rating", "satisfied"))
    assert (await store.surveys.get_answer(dossier.id)).rating == Rating.SATISFIED


async def test_a_case_button_acts_on_the_case(config, store, dispatcher):
    await complain(dispatcher, config, store)
    case = await only_case(store)
    head = Citizen(dispatcher, chat_id="2101")
    assert labels(await head.press_key(CaseButton(case.id, CaseAction.ASSIGN))) == ["Phạm Thị D", "Võ Văn E"]
    assert labels(await head.press_key(f"c{case.id}.assign")) == ["Phạm Thị D", "Võ Văn E"]  # as sent before
    await head.press("Võ Văn E")
    assert (await store.cases.get_case(case.id)).state == CaseState.ASSIGNED


async def test_a_short_command_is_answered_as_its_button(config, store, dispatcher):
    await complain(dispatcher, config, store)
    case = await only_case(store)
    head = Citizen(dispatcher, chat_id="2101")
    typed = await head.say(f"giao {case.id}")
    assert typed == await head.press_key(CaseButton(case.id, CaseAction.ASSIGN))
    assert labels(typed) == ["Phạm Thị D", "Võ Văn E"]
    citizen = Citizen(dispatcher, chat_id="1001")
    # a citizen's words are never taken for a command
    assert "không có phiếu khảo sát nào đang mở" in texts(await citizen.say(f"giao {case.id}"))


async def test_a_cases_page_lists_open_cases(config, store, dispatcher):
    await complain(dispatcher, config, store)
    replies = await Citizen(dispatcher, chat_id="2101").press_key(CasesPage(0))
    assert "Phản ánh đang mở: 1–1 trên 1" in texts(replies)


async def test_activating_a_question_set(store, dispatcher):
    admin = Citizen(dispatcher, chat_id="9001")
    await admin.send_document("ward.yaml", WARD_SET.encode())
    (stored,) = await store.question_sets.list_question_sets()
    assert "Đã kích hoạt ward-five-level" in texts(await admin.press_key(ActivateQuestionSet(stored.id)))
    assert (await store.question_sets.list_question_sets())[0].active


async def test_applying_a_directory(store, dispatcher):
    admin = Citizen(dispatcher, chat_id="9001")
    await admin.send_document("merge.yaml", source(MERGED))
    assert "Đã áp dụng danh bạ mới" in texts(await admin.press_key(ApplyDirectory(1)))
    assert [u.code for u in await store.directory.list_units()] == ["Q1", "Q1-SG", "Q3"]


async def test_choosing_a_language(store, dispatcher):
    chosen = texts(await Citizen(dispatcher).press_key(ChooseLanguage("en")))
    # The first answer carries the privacy notice, in the language just chosen.
    assert chosen.startswith("🔒 About your personal data")
    assert chosen.endswith("\n\nLanguage set to English.")
    assert (await store.chats.get_chat_state("telegram", "1001")).language == "en"


@pytest.mark.parametrize("data", FORGED)
async def test_forged_data_gets_the_polite_stale_reply(dispatcher, data: str):
    assert STALE in texts(await Citizen(dispatcher, chat_id="2101").press_key(data))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.text(max_size=80))
async def test_any_pressed_data_gets_a_reply_and_never_an_error(dispatcher, data: str):
    replies = await Citizen(dispatcher, chat_id="2101").press_key(data)
    assert replies and all(r.text for r in replies)


# Ids beyond what SQLite stores (a signed 64-bit integer) are no button, whoever forges them.

BEYOND_64_BITS = [
    "c99999999999999999999999.assign",
    f"c{2**63}.assign",
    f"c1.to.{2**63}",
    f"s{2**64}.rating.satisfied",
    f"cases.page.{10**30}",
    f"qs{2**63}.activate",
    f"dir{2**70}.apply",
]


@pytest.mark.parametrize("data", BEYOND_64_BITS)
def test_an_id_beyond_64_bits_is_no_button(data: str):
    assert read_button(data) is None


def test_the_largest_id_sqlite_stores_is_still_a_button():
    assert read_button(f"c{2**63 - 1}.assign") == CaseButton(2**63 - 1, CaseAction.ASSIGN)


# Mostly beyond 64 bits, some just within: the numbers a forged button carries.
numbers = st.one_of(st.integers(min_value=2**63 - 2, max_value=10**40), st.integers(0, 3)).map(str)


@st.composite
def renumbered(draw: st.DrawFn) -> str:
    """A genuine button's data with every number in it replaced by one drawn from `numbers`."""
    data = draw(st.one_of(*EXAMPLES.values())).pack()
    return re.sub(r"\d+", lambda _: draw(numbers), data)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=renumbered(), chat_id=st.sampled_from(["1001", "2101", "2102", "9001"]))
async def test_any_number_in_pressed_data_gets_a_reply_and_never_an_error(
    dispatcher, data: str, chat_id: str
):
    replies = await Citizen(dispatcher, chat_id=chat_id).press_key(data)
    assert replies and all(r.text for r in replies)


@pytest.mark.parametrize("typed", ["giao 99999999999999999999", f"xong {2**63}", "nhan " + "9" * 5000])
async def test_a_typed_case_number_beyond_64_bits_is_no_case(dispatcher, typed: str):
    replies = await Citizen(dispatcher, chat_id="2101").say(typed)
    assert replies and all(r.text for r in replies)


@pytest.mark.parametrize("argument", ["99999999999999999999", "9" * 5000])
async def test_a_cases_page_beyond_64_bits_is_answered(config, store, dispatcher, argument: str):
    await complain(dispatcher, config, store)
    replies = await Citizen(dispatcher, chat_id="2101").command("cases", argument)
    assert "Phản ánh đang mở: 1–1 trên 1" in texts(replies)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    typed=st.builds(
        "{} {}".format,
        st.sampled_from([*TYPED_ACTIONS, "/giao", "/xong"]),
        numbers | st.just("0" * 30 + "12"),
    ),
    channel=st.sampled_from(["telegram", "zalo"]),
)
async def test_any_typed_case_command_gets_a_reply_and_never_an_error(dispatcher, typed: str, channel: str):
    head = Citizen(dispatcher, chat_id="2101", channel=channel)
    replies = await (head.command(*typed[1:].split(" ")) if typed.startswith("/") else head.say(typed))
    assert replies and all(r.text for r in replies)
    replies = await head.command("cases", typed.split(" ")[1])
    assert replies and all(r.text for r in replies)
