"""A dossier and an event of its history as the one-stop software describes them, checked field by
field: every problem of an input found at once, each with its field; text only (a phone kept as a
number has lost its 0); unknown fields named; whatever JSON arrives, either facts or FactsRefused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.dossier_facts import (
    CHANNEL_HINTS,
    DOSSIER_FIELDS,
    EVENT_FIELDS,
    FactsRefused,
    FieldProblem,
    dossier_facts,
    dossier_facts_in_full,
    event_facts,
    usual_dossier_facts,
)
from storage.records import DossierEventType, DossierFacts

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
FIELDS: dict[str, object] = {
    "unit": "Q1-BN",
    "procedure": "Đăng ký khai sinh",
    "received_at": "2026-11-20T08:30:00+07:00",
    "due_at": "20261127170000",
}


def problems(code: str = "HS-1", **changes: object) -> dict[tuple[str | int, ...], str]:
    fields = {k: v for k, v in {**FIELDS, **changes}.items() if v is not ...}
    with pytest.raises(FactsRefused) as refused:
        dossier_facts(code, fields, ZONE)
    assert all(isinstance(p, FieldProblem) for p in refused.value.problems)
    return {p.loc: p.message for p in refused.value.problems}


def test_a_dossier_is_read_into_facts_with_its_local_days():
    facts = dossier_facts(
        " HS-2026-0001 ",
        {**FIELDS, "received_at": "2026-11-20T23:30:00+07:00", "citizen_name": " Nguyễn  Văn A ",
         "phone": "090 123 4567", "channel_hint": "Zalo_OA"},
        ZONE,
    )  # fmt: skip
    assert facts == DossierFacts(
        code="HS-2026-0001",
        unit_code="Q1-BN",
        procedure="Đăng ký khai sinh",
        received_at=datetime(2026, 11, 20, 16, 30, tzinfo=UTC),
        due_at=datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        received_on=date(2026, 11, 20),  # the local day, not UTC's (the 20th too, here)
        due_on=date(2026, 11, 27),
        citizen_name="Nguyễn Văn A",
        phone="84901234567",
        channel_hint="zalo_oa",
    )
    late = dossier_facts("HS-1", {**FIELDS, "received_at": "2026-11-20T18:30:00Z"}, ZONE)
    assert late.received_on == date(2026, 11, 21)  # 01:30 on the 21st in Vietnam


def test_empty_optional_fields_are_left_out():
    facts = dossier_facts("HS-1", {**FIELDS, "citizen_name": "", "phone": "  ", "channel_hint": None}, ZONE)
    assert (facts.citizen_name, facts.phone, facts.channel_hint) == (None, None, None)


def test_every_problem_is_reported_at_once_with_its_field():
    found = problems(
        "HS\n1",
        unit=...,
        procedure=" ",
        received_at="2026-11-20T08:30:00",
        due_at="20261332000000",
        citizen_name="Nguyễn\u200bVăn A",
        phone=901234567,
        channel_hint="fax",
        phone_number="0901234567",
    )
    assert list(found) == [("code",), ("unit",), ("procedure",), ("received_at",), ("due_at",),
                           ("citizen_name",), ("phone",), ("channel_hint",), ("phone_number",)]  # fmt: skip
    assert "U+000A" in found[("code",)]
    assert found[("unit",)] == "unit is required"
    assert found[("procedure",)] == "procedure is empty"
    assert "has no offset" in found[("received_at",)]
    assert "is not a real date and time" in found[("due_at",)]
    assert "U+200B ZERO WIDTH SPACE" in found[("citizen_name",)]
    assert "lost its leading 0" in found[("phone",)] and '"0901234567"' in found[("phone",)]
    assert found[("channel_hint",)] == f"the channel hint 'fax' is not one of: {', '.join(CHANNEL_HINTS)}"
    assert found[("phone_number",)].startswith("unknown field 'phone_number': the fields are unit, procedure")


@pytest.mark.parametrize(
    ("value", "named"), [(12, "a number"), (1.5, "a number"), (True, "true or false"), (["Q1"], "a list"),
                         ({"code": "Q1"}, "an object")],
)  # fmt: skip
def test_a_value_that_is_not_text_is_refused_saying_what_it_is(value: Any, named: str):
    assert problems(unit=value) == {("unit",): f"unit is {named}; it must be text"}


def test_the_appointment_may_not_come_before_the_receipt():
    assert problems(due_at="2026-11-20T08:29:59+07:00") == {
        ("due_at",): "due_at (2026-11-20T08:29:59+07:00) is before received_at (2026-11-20T08:30:00+07:00)"
    }
    assert dossier_facts("HS-1", {**FIELDS, "due_at": FIELDS["received_at"]}, ZONE).due_on == date(
        2026, 11, 20
    )


def test_a_code_is_at_most_64_characters_and_a_citizen_name_200():
    assert dossier_facts("X" * 64, FIELDS, ZONE).code == "X" * 64
    assert "65 characters long, over 64" in problems("X" * 65)[("code",)]
    assert dossier_facts("HS-1", {**FIELDS, "citizen_name": "A" * 200}, ZONE).citizen_name == "A" * 200
    assert "201 characters long, over 200" in problems(citizen_name="A" * 201)[("citizen_name",)]
    assert "unit code" in problems(unit="Q 1")[("unit",)]


# Events


AT = "2026-11-25T10:00:00+07:00"


def event_problems(fields: dict[str, object]) -> dict[tuple[str | int, ...], str]:
    with pytest.raises(FactsRefused) as refused:
        event_facts(fields, ZONE)
    return {p.loc: p.message for p in refused.value.problems}


def test_events_carry_what_their_type_needs():
    returned = event_facts({"type": "returned", "at": AT, "reason": ""}, ZONE)
    assert (returned.type, returned.at) == (DossierEventType.RETURNED, datetime(2026, 11, 25, 3, tzinfo=UTC))
    supplement = event_facts(
        {"type": "supplement_requested", "at": AT, "reason": "Thiếu bản sao\r\n\r\n  giấy khai sinh ",
         "until": "2026-11-25"}, ZONE,
    )  # fmt: skip
    assert supplement.reason == "Thiếu bản sao\ngiấy khai sinh" and supplement.until == date(2026, 11, 25)
    extended = event_facts(
        {"type": "extended", "at": AT, "reason": "Cần xác minh", "new_due_at": "20261203170000"}, ZONE
    )
    assert extended.new_due_at == datetime(2026, 12, 3, 10, tzinfo=UTC)


def test_an_event_missing_what_its_type_needs_or_carrying_what_it_does_not_is_refused():
    assert event_problems({"type": "supplement_requested", "at": AT}) == {
        ("reason",): "reason is required",
        ("until",): "until is required",
    }
    assert event_problems({"type": "extended", "at": AT, "reason": "x", "until": "2026-12-01"}) == {
        ("new_due_at",): "new_due_at is required",
        ("until",): "extended events carry no until: only supplement_requested events carry one",
    }
    assert event_problems({"type": "withdrawn", "at": AT, "reason": "x"}) == {
        ("reason",): "withdrawn events carry no reason: only supplement_requested and extended events "
        "carry one"
    }


def test_an_event_type_time_and_fields_are_checked():
    found = event_problems({"type": "late", "at": "2026-11-25", "until": "25/11/2026", "note": "x"})
    assert list(found) == [("type",), ("at",), ("until",), ("note",)]
    assert found[("type",)] == ("the event type 'late' is not one of: received, supplement_requested, "
                                "supplement_received, extended, suspended, withdrawn, returned")  # fmt: skip
    assert found[("note",)] == f"unknown field 'note': the fields are {', '.join(EVENT_FIELDS)}"
    assert event_problems({}) == {("type",): "type is required", ("at",): "at is required"}


def test_an_extension_ends_after_it_and_a_supplement_is_due_no_earlier_than_asked():
    assert event_problems({"type": "extended", "at": AT, "reason": "x", "new_due_at": AT}) == {
        ("new_due_at",): "new_due_at (2026-11-25T10:00:00+07:00) is not after the extension "
        "(2026-11-25T10:00:00+07:00)"
    }
    assert event_problems(
        {"type": "supplement_requested", "at": AT, "reason": "x", "until": "2026-11-24"}
    ) == {("until",): "until (2026-11-24) is before the day of the request (2026-11-25T10:00:00+07:00)"}


def test_a_reason_is_clean_lines_of_at_most_500_characters():
    fields = {"type": "extended", "at": AT, "new_due_at": "20261203170000"}
    assert "U+0009" in event_problems({**fields, "reason": "Cần\txác minh"})[("reason",)]
    assert (
        "501 characters long, over 500"
        in event_problems({**fields, "reason": ("A" * 99 + "\n") * 5 + "A"})[("reason",)]
    )
    assert event_problems({**fields, "reason": "\n \n"}) == {("reason",): "reason is empty"}


# Whatever arrives


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
moments = st.sampled_from(["2026-11-20T08:30:00+07:00", "20261127170000", "2026-11-27", "20261332000000", ""])
field_values = json_values | moments | st.sampled_from([*CHANNEL_HINTS, "0901234567", "Q1", "Khai sinh"])


@given(
    code=st.text(max_size=70),
    fields=st.dictionaries(st.sampled_from(DOSSIER_FIELDS) | st.text(max_size=8), field_values, max_size=9),
)
def test_any_json_is_facts_or_refused_with_every_problem_in_a_field(code: str, fields: dict[str, object]):
    try:
        facts = dossier_facts(code, fields, ZONE)
    except FactsRefused as refused:
        assert refused.problems and all(len(p.loc) == 1 and p.message for p in refused.problems)
        return
    assert facts.received_at and facts.due_at and facts.received_at <= facts.due_at
    assert facts.received_on == facts.received_at.astimezone(ZONE).date()
    assert 0 < len(facts.code) <= 64 and (facts.phone is None or facts.phone.startswith("84"))


# Inputs near a good dossier: every field good, or one or two wrong in a way a sender gets them
# wrong, or one left out.
blank = st.sampled_from(["", " ", "\t", "\u00a0", None])
odd_text = st.text(max_size=12) | st.sampled_from(["HS-\u200b1", "Q1 BN", "\u0301Q1", "Khai\nsinh", "x" * 65])
good_moments = st.sampled_from([
    "20261120083000", " 20261127170000 ", "2026-11-27T08:30:00+07:00", "2026-11-27T01:30Z",
    "2026-11-27T08:30:00.5+0700", "20261231235959", "20260101000000",
])  # fmt: skip
bad_moments = st.sampled_from([
    "20261332000000", "20260230080000", "19991231000000", "21010101000000", "2026112708300",
    "202611270830000", "2026-11-27T08:30:00", "２０２６１１２７０８３０００", "2026112708300٠", "2026-11-27",
])  # fmt: skip
GOOD: dict[str, st.SearchStrategy[object]] = {
    "code": st.sampled_from(["HS-1", " 000.00.17.H29-230815-0012 ", "ＨＳ-１", "Hồ-sơ-1"]),
    "unit": st.sampled_from(["Q1-BN", " Q3 ", "Q1-BN\u0301"]),
    "procedure": st.sampled_from(["Đăng ký khai sinh", "  Khai   sinh ", "Khai\u00a0sinh"]),
    "received_at": good_moments,
    "due_at": good_moments,
    "citizen_name": st.sampled_from(["Nguyễn Thị Lan", "Lan"]) | blank,
    "phone": st.sampled_from(["0901234567", "+84 90 123 4567", "0283822123"]) | blank,
    "channel_hint": st.sampled_from(["zalo", " SMS "]) | blank,
}
WRONG: dict[str, st.SearchStrategy[object]] = {
    "code": st.sampled_from(["HS 1", "", "x" * 65]) | odd_text | json_values,
    "unit": blank | odd_text | json_values,
    "procedure": blank | odd_text | st.just("y" * 301),
    "received_at": bad_moments | blank | json_values,
    "due_at": bad_moments | blank,
    "citizen_name": st.just("y" * 201) | odd_text | st.integers(),
    "phone": st.sampled_from(["12345", "+1 555 0100", "0901234567x"]) | odd_text | st.integers(),
    "channel_hint": st.just("fax") | odd_text,
    "phone_number": st.just("0901234567"),
}


@st.composite
def near_dossiers(draw: st.DrawFn) -> tuple[Any, dict[str, object]]:
    """A code and the fields of a dossier."""
    fields = {name: draw(value) for name, value in GOOD.items()}
    for name in draw(st.sets(st.sampled_from(sorted(WRONG)), max_size=2)):
        fields[name] = draw(WRONG[name])
    for name in draw(st.sets(st.sampled_from(DOSSIER_FIELDS), max_size=1)):
        del fields[name]
    return fields.pop("code"), fields


@settings(max_examples=500)  # each of a dozen ways to be wrong, alone, a few dozen times
@given(near_dossiers())
def test_the_usual_reading_gives_what_the_full_one_gives_or_leaves_it_to_it(
    code_and_fields: tuple[Any, dict[str, object]],
):
    code, fields = code_and_fields
    try:
        full: DossierFacts | None = dossier_facts_in_full(code, fields, ZONE)
    except FactsRefused:
        full = None
    usual = usual_dossier_facts(code, fields, ZONE)
    assert usual == full or (usual is None and full is None)
    assert dossier_facts(code, fields, ZONE) == full if full else usual is None


@given(fields=st.dictionaries(st.sampled_from(EVENT_FIELDS) | st.text(max_size=8), field_values, max_size=6))
def test_any_json_is_an_event_or_refused(fields: dict[str, object]):
    try:
        event = event_facts(fields, ZONE)
    except FactsRefused as refused:
        assert refused.problems
        return
    assert (event.reason is not None) == (event.type in (DossierEventType.EXTENDED,
                                                          DossierEventType.SUPPLEMENT_REQUESTED))  # fmt: skip


@given(st.sampled_from(list(DossierEventType)))
def test_every_type_of_event_can_be_reported(kind: DossierEventType):
    carried = {"reason": "Lý do", "until": "2026-12-01", "new_due_at": "20261203170000"}
    needs = {"supplement_requested": ("reason", "until"), "extended": ("reason", "new_due_at")}
    fields = {"type": kind.value, "at": AT, **{k: carried[k] for k in needs.get(kind.value, ())}}
    assert event_facts(fields, ZONE).type == kind
