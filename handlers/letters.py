"""Apology letters (Thư xin lỗi) for dossiers that will be returned late.

When a unit extends a dossier (an `extended` event: a reason and a new appointment), the head of the
unit writes to the citizen. Ho Chi Minh City's rule (Decision 5157/QĐ-UBND) lists what the letter
holds: the citizen's name, the procedure and the dossier's code, when it was received, where it
stands, why it is late, the new appointment and the apology, signed by the head of the unit.

The letter's body comes from the catalog entry `apology_letter`, or from an admin's template (config
`letters.template.vi` / `.en`) with the same placeholders:

    {citizen}       who the letter is to: "Ông/Bà Nguyễn Văn An" ("Ông/Bà" without a name);
                    in English the name, or "Sir or Madam"
    {procedure}     the administrative procedure
    {code}          the dossier's code (mã hồ sơ)
    {received}      the day it was received
    {due}           the appointment first given (ngày hẹn trả)
    {state}         where it stands now, such as "đang được giải quyết"
    {reason}        why it is late, as the extension gives it
    {new_due}       the new appointment
    {unit}          the name of the dossier's unit
    {signer}        the signer's name, or their title when no head is known
    {signer_title}  "Thủ trưởng <unit>" / "Head of <unit>"
    {date}          the day the letter is written

Days are written 27/11/2026 in Vietnamese and 27 November 2026 in English; a day not recorded reads
"chưa ghi nhận" / "not recorded". The title, the date and the signature are laid out around the body,
the same way in the chat message (render_letter) and on the printed page (bot/letter_pdf.py)."""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from handlers.directory import ancestry_of
from handlers.templates import local_day
from handlers.texts import Language, text
from storage.records import Dossier, DossierEvent, DossierEventType, Person, Role, Unit

PLACEHOLDERS = (
    "citizen",
    "procedure",
    "code",
    "received",
    "due",
    "state",
    "reason",
    "new_due",
    "unit",
    "signer",
    "signer_title",
    "date",
)
# What Decision 5157/QĐ-UBND requires a letter to say; a template leaving one out is refused.
REQUIRED_PLACEHOLDERS = ("citizen", "procedure", "code", "received", "state", "reason", "new_due")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")  # fmt: skip
# Where a dossier stands, by the type of its latest event; before any event it is being processed.
STATE_KEYS: dict[DossierEventType | None, str] = {
    None: "letter_state_processing",
    DossierEventType.RECEIVED: "letter_state_processing",
    DossierEventType.SUPPLEMENT_RECEIVED: "letter_state_processing",
    DossierEventType.EXTENDED: "letter_state_processing",
    DossierEventType.SUPPLEMENT_REQUESTED: "letter_state_supplement",
    DossierEventType.SUSPENDED: "letter_state_suspended",
    DossierEventType.WITHDRAWN: "letter_state_withdrawn",
    DossierEventType.RETURNED: "letter_state_returned",
}


@dataclass(frozen=True)
class LetterContent:
    """What an apology letter says, worded in one language (`state`, `signer_title`)."""

    citizen_name: str | None
    code: str
    procedure: str
    unit_name: str
    received_on: date | None
    due_on: date | None  # the appointment first given
    state: str
    reason: str
    new_due_on: date
    signer_name: str | None  # None: no head is known, the letter is signed by `signer_title` alone
    signer_title: str
    written_on: date


@dataclass(frozen=True)
class LetterText:
    """The letter's parts in words: what the chat message and the printed page both show."""

    unit: str
    nation: str
    motto: str
    dated: str
    title: str
    body: str
    signer_title: str
    signer_name: str | None


def letter_content(
    dossier: Dossier,
    event: DossierEvent,
    units: Sequence[Unit],
    people: Sequence[Person],
    zone: ZoneInfo,
    today: date,
    *,
    language: Language = "vi",
) -> LetterContent:
    """The letter for the dossier's extension `event`, signed by the head of the dossier's unit, else
    by the nearest head above it, else by the title "Thủ trưởng <unit>" alone."""
    if event.type is not DossierEventType.EXTENDED or event.reason is None or event.new_due_at is None:
        raise ValueError(f"an apology letter follows an extended event with its reason and new date, "
                         f"not a {event.type.value} event")  # fmt: skip
    names = {unit.code: unit.name for unit in units}
    unit_name = dossier.unit_name or names.get(dossier.unit_code, dossier.unit_code)
    signer: Person | None = None
    signer_unit = unit_name
    for code in ancestry_of(dossier.unit_code, units):
        heads = [p for p in people if p.unit_code == code and p.role is Role.HEAD and p.active]
        if heads:
            signer, signer_unit = heads[0], names.get(code, unit_name)
            break
    returned = dossier.returned_at is not None
    state = "letter_state_returned" if returned else STATE_KEYS.get(dossier.state, "letter_state_processing")
    return LetterContent(
        citizen_name=dossier.citizen_name,
        code=dossier.code,
        procedure=dossier.procedure,
        unit_name=unit_name,
        received_on=dossier.received_on or local_day(dossier.received_at, zone),
        due_on=dossier.due_on or local_day(dossier.due_at, zone),
        state=text(state, language),
        reason=event.reason,
        new_due_on=event.new_due_at.astimezone(zone).date(),
        signer_name=signer.name if signer is not None else None,
        signer_title=text("letter_head_of", language, unit=signer_unit),
        written_on=today,
    )


def letter_text(content: LetterContent, language: Language, template: str | None = None) -> LetterText:
    """The letter's parts in `language`, its body from `template` (an admin's) or the catalog's."""
    if template is not None:
        check_letter_template(template)
    body = (template if template is not None else text("apology_letter", language)).format_map(
        letter_values(content, language)
    )
    return LetterText(
        unit=content.unit_name,
        nation=text("letter_nation", language),
        motto=text("letter_motto", language),
        dated=text("letter_dated", language, date=written_day(content.written_on, language)),
        title=text("letter_title", language),
        body=body.strip(),
        signer_title=content.signer_title,
        signer_name=content.signer_name,
    )


def render_letter(content: LetterContent, language: Language, template: str | None = None) -> str:
    """The letter as chat text: title, date, body, then the signature."""
    parts = letter_text(content, language, template)
    signature = [parts.signer_title, *([parts.signer_name] if parts.signer_name else [])]
    return "\n".join([parts.title, parts.dated, "", parts.body, "", *signature])


def letter_values(content: LetterContent, language: Language) -> dict[str, str]:
    """The placeholders' values for this letter."""
    citizen = (
        text("letter_citizen", language, name=content.citizen_name)
        if content.citizen_name
        else text("letter_citizen_unnamed", language)
    )
    return {
        "citizen": citizen,
        "procedure": content.procedure,
        "code": content.code,
        "received": written_day(content.received_on, language),
        "due": written_day(content.due_on, language),
        "state": content.state,
        "reason": content.reason,
        "new_due": written_day(content.new_due_on, language),
        "unit": content.unit_name,
        "signer": content.signer_name or content.signer_title,
        "signer_title": content.signer_title,
        "date": written_day(content.written_on, language),
    }


def written_day(day: date | None, language: Language) -> str:
    """27/11/2026 in Vietnamese, 27 November 2026 in English."""
    if day is None:
        return text("letter_no_date", language)
    if language == "vi":
        return f"{day.day:02d}/{day.month:02d}/{day.year}"
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def check_letter_template(template: str) -> None:
    """Raises ValueError naming what is wrong with a letter template: braces that do not pair (a
    literal brace is written twice, {{ or }}), a placeholder that is not one of PLACEHOLDERS or is
    written with a format (such as {code:>10}), or a required one left out."""
    if not template.strip():
        raise ValueError("the letter template is empty")
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]  # fmt: skip
    except ValueError as exc:
        raise ValueError(f"the letter template has unpaired braces ({exc}); write a brace itself as "
                         "{{ or }}") from exc  # fmt: skip
    known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
    unknown = sorted({name for name, _, _ in fields if name not in PLACEHOLDERS})
    if unknown:
        listed = ", ".join(f"{{{name}}}" for name in unknown)
        raise ValueError(f"unknown placeholder {listed} in the letter template; the placeholders are {known}")
    formatted = sorted({name for name, spec, conversion in fields if spec or conversion})
    if formatted:
        listed = ", ".join(f"{{{name}}}" for name in formatted)
        raise ValueError(f"write {listed} in the letter template without a format or conversion, "
                         "as {code}")  # fmt: skip
    missing = [name for name in REQUIRED_PLACEHOLDERS if name not in {name for name, _, _ in fields}]
    if missing:
        listed = ", ".join(f"{{{name}}}" for name in missing)
        raise ValueError(f"the letter template leaves out {listed}, which an apology letter must say")
