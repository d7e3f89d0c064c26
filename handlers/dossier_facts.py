"""What the one-stop software says about a dossier or an event of its history, checked field by field
into records: one set of rules for the intake API, a row of an import file and `dossier add`.

Every problem of an input is found, not only the first, each with the field it is in (`loc`, as the
API reports it), so that a sender fixes a record in one go rather than one refusal at a time.

Values are text, as the one-stop software writes them; a number, true/false, a list or an object
is refused rather than turned into text (a phone number kept as a number has lost its leading 0;
a code kept as a number may have lost its leading zeros). An empty or blank text, or null, is an
optional field left out. A field the rules do not know is refused by name: a misspelt field
("phone_number") would otherwise be dropped silently.

A dossier's fields:
- unit, procedure, received_at, due_at: required; the unit's code, the procedure's name, the time
  the dossier was received and its appointment (due_at not before received_at);
- citizen_name, phone, channel_hint: optional. The channel hint says how the citizen would like
  to be reached, one of CHANNEL_HINTS: a chat platform (telegram; zalo, the Zalo bot; zalo_oa, the
  unit's Zalo Official Account, whose template messages go to the phone), sms, email, paper (at
  the desk), or none (the citizen asked not to be contacted; unlike a hint left out, which says
  nothing).

An event's fields: type and at, required; a supplement request (supplement_requested) also
requires reason and until, the day the citizen has to bring the documents (not before the day of
the request); an extension (extended) requires reason and new_due_at, the new appointment (after
the extension, `at`). A reason may run to several lines (the documents still missing, one a line):
each line is cleaned as a name is, blank lines dropped. A field another type of event carries is
refused on this one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from handlers.codes import TextRefused, checked_code, checked_name
from handlers.moments import MomentRefused, parse_day, parse_moment
from handlers.phones import normalised_phone
from storage.records import DossierEventFacts, DossierEventType, DossierFacts

T = TypeVar("T")

DOSSIER_FIELDS = ("unit", "procedure", "received_at", "due_at", "citizen_name", "phone", "channel_hint")
REQUIRED_DOSSIER_FIELDS = ("unit", "procedure", "received_at", "due_at")
CHANNEL_HINTS = ("telegram", "zalo", "zalo_oa", "sms", "email", "paper", "none")
MAX_CITIZEN_NAME_LENGTH = 200
MAX_REASON_LENGTH = 500

EVENT_FIELDS = ("type", "at", "reason", "until", "new_due_at")
# What each type of event carries beyond its type and time; every one of them is required.
EVENT_CARRIES: dict[DossierEventType, tuple[str, ...]] = {
    DossierEventType.SUPPLEMENT_REQUESTED: ("reason", "until"),
    DossierEventType.EXTENDED: ("reason", "new_due_at"),
}


class FieldProblem(NamedTuple):
    """One thing wrong with an input: where (the field's name, as the API's `loc`) and what."""

    loc: tuple[str | int, ...]
    message: str


class FactsRefused(ValueError):
    """An input with problems; `problems` holds all of them, in the order of the fields."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.message}" for p in problems))


def dossier_facts(code: str, fields: Mapping[str, object], zone: ZoneInfo) -> DossierFacts:
    """The dossier as the one-stop software describes it; raises FactsRefused with every problem."""
    facts = usual_dossier_facts(code, fields, zone)
    return facts if facts is not None else dossier_facts_in_full(code, fields, zone)


_KNOWN_DOSSIER_FIELDS = frozenset(DOSSIER_FIELDS)
_REFUSALS = (TextRefused, MomentRefused)


def usual_dossier_facts(code: str, fields: Mapping[str, object], zone: ZoneInfo) -> DossierFacts | None:
    """What dossier_facts gives for an input with nothing wrong, by the same rules read straight
    through; None at the first thing wrong, for dossier_facts_in_full to find every problem. The
    common case of a batch: about half the time of the full reading."""
    if not _KNOWN_DOSSIER_FIELDS.issuperset(fields):
        return None
    unit = fields.get("unit")
    procedure = fields.get("procedure")
    received = fields.get("received_at")
    due = fields.get("due_at")
    citizen_name = fields.get("citizen_name")
    phone = fields.get("phone")
    channel_hint = fields.get("channel_hint")
    if not (
        isinstance(code, str) and isinstance(unit, str) and isinstance(procedure, str)
        and isinstance(received, str) and isinstance(due, str) and isinstance(citizen_name, str | None)
        and isinstance(phone, str | None) and isinstance(channel_hint, str | None)
    ):  # fmt: skip
        return None
    try:
        checked = checked_code(code)
        if not (unit.strip() and procedure.strip()):
            return None
        unit = checked_code(unit, what="unit code")
        procedure = checked_name(procedure, "procedure")
        received_at = parse_moment(received, zone, "received_at")
        due_at = parse_moment(due, zone, "due_at")
        if due_at < received_at:
            return None
        # An optional field blank or left out is None, as _Problems.given reads it.
        citizen_name = checked_citizen_name(citizen_name) if citizen_name and citizen_name.strip() else None
        phone = normalised_phone(phone) if phone and phone.strip() else None
        channel_hint = checked_channel_hint(channel_hint) if channel_hint and channel_hint.strip() else None
    except _REFUSALS:
        return None
    return DossierFacts(
        code=checked,
        unit_code=unit,
        procedure=procedure,
        received_at=received_at,
        due_at=due_at,
        received_on=received_at.astimezone(zone).date(),
        due_on=due_at.astimezone(zone).date(),
        citizen_name=citizen_name,
        phone=phone,
        channel_hint=channel_hint,
    )


def dossier_facts_in_full(code: str, fields: Mapping[str, object], zone: ZoneInfo) -> DossierFacts:
    """dossier_facts, reading every field whatever was wrong before it, to name every problem."""
    found = _Problems(fields)
    checked = found.read("code", code, checked_code)
    unit = found.field("unit", lambda v: checked_code(v, what="unit code"), required=True)
    procedure = found.field("procedure", lambda v: checked_name(v, "procedure"), required=True)
    received_at = found.field("received_at", lambda v: parse_moment(v, zone, "received_at"), required=True)
    due_at = found.field("due_at", lambda v: parse_moment(v, zone, "due_at"), required=True)
    if received_at is not None and due_at is not None and due_at < received_at:
        found.add(
            "due_at", f"due_at ({_local(due_at, zone)}) is before received_at ({_local(received_at, zone)})"
        )
    citizen_name = found.field("citizen_name", checked_citizen_name)
    phone = found.field("phone", normalised_phone)
    channel_hint = found.field("channel_hint", checked_channel_hint)
    found.refuse_unknown(DOSSIER_FIELDS)
    if found.problems:
        raise FactsRefused(found.problems)
    assert checked is not None and unit is not None and procedure is not None
    assert received_at is not None and due_at is not None
    return DossierFacts(
        code=checked,
        unit_code=unit,
        procedure=procedure,
        received_at=received_at,
        due_at=due_at,
        received_on=received_at.astimezone(zone).date(),
        due_on=due_at.astimezone(zone).date(),
        citizen_name=citizen_name,
        phone=phone,
        channel_hint=channel_hint,
    )


def event_facts(fields: Mapping[str, object], zone: ZoneInfo) -> DossierEventFacts:
    """An event of a dossier's history as reported; raises FactsRefused with every problem."""
    found = _Problems(fields)
    kind = found.field("type", checked_event_type, required=True)
    at = found.field("at", lambda v: parse_moment(v, zone, "at"), required=True)
    carries = EVENT_CARRIES.get(kind, ()) if kind is not None else EVENT_FIELDS[2:]
    reason = until = new_due_at = None
    if "reason" in carries:
        reason = found.field("reason", checked_reason, required=kind is not None)
    if "until" in carries:
        until = found.field("until", lambda v: parse_day(v, "until"), required=kind is not None)
    if "new_due_at" in carries:
        new_due_at = found.field(
            "new_due_at", lambda v: parse_moment(v, zone, "new_due_at"), required=kind is not None
        )
    if kind is not None:
        for name in EVENT_FIELDS[2:]:
            if name not in carries and found.given(name) is not None:
                found.add(name, f"{kind.value} events carry no {name}: {_carried_by(name)}")
    if at is not None and until is not None and until < at.astimezone(zone).date():
        found.add("until", f"until ({until}) is before the day of the request ({_local(at, zone)})")
    if at is not None and new_due_at is not None and new_due_at <= at:
        found.add(
            "new_due_at",
            f"new_due_at ({_local(new_due_at, zone)}) is not after the extension ({_local(at, zone)})",
        )
    found.refuse_unknown(EVENT_FIELDS)
    if found.problems:
        raise FactsRefused(found.problems)
    assert kind is not None and at is not None
    return DossierEventFacts(type=kind, at=at, reason=reason, until=until, new_due_at=new_due_at)


def checked_citizen_name(value: str) -> str:
    """A citizen's name as stored: one clean line (as checked_name), at most 200 characters."""
    name = checked_name(value, "citizen name")
    if len(name) > MAX_CITIZEN_NAME_LENGTH:
        raise TextRefused(f"the citizen name is {len(name)} characters long, over {MAX_CITIZEN_NAME_LENGTH}")
    return name


def checked_channel_hint(value: str) -> str:
    """One of CHANNEL_HINTS, in any case."""
    hint = value.strip().lower()
    if hint not in CHANNEL_HINTS:
        raise TextRefused(f"the channel hint {value.strip()!r} is not one of: {', '.join(CHANNEL_HINTS)}")
    return hint


def checked_event_type(value: str) -> DossierEventType:
    """One of DossierEventType's values, in any case."""
    try:
        return DossierEventType(value.strip().lower())
    except ValueError:
        raise TextRefused(
            f"the event type {value.strip()!r} is not one of: {', '.join(t.value for t in DossierEventType)}"
        ) from None


def checked_reason(value: str) -> str:
    """A reason as stored: its lines cleaned as names are, blank ones dropped, at most 500 characters."""
    lines = [checked_name(line, "reason") for line in value.splitlines() if line.strip()]
    reason = "\n".join(lines)
    if len(reason) > MAX_REASON_LENGTH:
        raise TextRefused(f"the reason is {len(reason)} characters long, over {MAX_REASON_LENGTH}")
    return reason


class _Problems:
    """The problems found in one input, and the reading of its fields that finds them."""

    def __init__(self, fields: Mapping[str, object]) -> None:
        self.fields = fields
        self.problems: list[FieldProblem] = []

    def add(self, name: str, message: str) -> None:
        self.problems.append(FieldProblem((name,), message))

    def given(self, name: str) -> object | None:
        """The field's value; None when it is left out, null, or blank text."""
        value = self.fields.get(name)
        return None if isinstance(value, str) and not value.strip() else value

    def field(self, name: str, read: Callable[[str], T], *, required: bool = False) -> T | None:
        value = self.given(name)
        if value is None:
            if required:
                blank = self.fields.get(name) is not None
                self.add(name, f"{name} is empty" if blank else f"{name} is required")
            return None
        return self.read(name, value, read)

    def read(self, name: str, value: object, read: Callable[[str], T]) -> T | None:
        if not isinstance(value, str):
            self.add(name, _not_text(name, value))
            return None
        try:
            return read(value)
        except (TextRefused, MomentRefused) as exc:
            self.add(name, str(exc))
            return None

    def refuse_unknown(self, known: tuple[str, ...]) -> None:
        for name in self.fields:
            if name not in known:
                self.add(str(name), f"unknown field {str(name)!r}: the fields are {', '.join(known)}")


def _not_text(name: str, value: object) -> str:
    kind = (
        "true or false" if isinstance(value, bool)
        else "a number" if isinstance(value, int | float)
        else "a list" if isinstance(value, list | tuple)
        else "an object" if isinstance(value, Mapping)
        else type(value).__name__
    )  # fmt: skip
    if name == "phone" and isinstance(value, int | float) and not isinstance(value, bool):
        return (
            'phone is a number, which has lost its leading 0: send it as text, such as "0901234567" '
            "(in a spreadsheet, format the column as Text)"
        )
    return f"{name} is {kind}; it must be text"


def _carried_by(name: str) -> str:
    types = [t.value for t, carried in EVENT_CARRIES.items() if name in carried]
    return f"only {' and '.join(types)} events carry one"


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).isoformat(timespec="seconds")
