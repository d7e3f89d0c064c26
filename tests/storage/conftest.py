"""The storage contract: every test in this package runs against every backend in BACKENDS, each
time on a fresh database holding the small unit tree TREE. A new backend passes when it is added
here and the whole package is green.

The builders reach every record through the repositories themselves, never through SQL, so they
work unchanged on any backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from storage.base import Storage
from storage.postgresql import PostgreSQLStorage
from storage.records import (
    Answer,
    Case,
    CaseState,
    Contact,
    Dossier,
    Person,
    PersonEntry,
    Rating,
    Role,
    Survey,
    Unit,
)
from storage.sqlite import SQLiteStorage

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
DEADLINE = date(2026, 11, 22)

BACKENDS: dict[str, Callable[[Path], Storage]] = {
    "sqlite": lambda folder: SQLiteStorage(folder / "contract.db"),
}

TREE = [
    Unit(code="HCM", name="TP. Hồ Chí Minh"),
    Unit(code="Q1", name="UBND Quận 1", parent_code="HCM"),
    Unit(code="Q1-BN", name="UBND Phường Bến Nghé", parent_code="Q1"),
    Unit(code="Q3", name="UBND Quận 3", parent_code="HCM"),
]

TG_2001 = Contact(channel="telegram", chat_id="2001")
TG_2002 = Contact(channel="telegram", chat_id="2002")
ZALO_A = Contact(channel="zalo", chat_id="z-an")


@pytest.fixture(params=[*sorted(BACKENDS), "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "postgresql":
        backend: Storage = PostgreSQLStorage(request.getfixturevalue("postgresql_emptied_url"))
    else:
        backend = BACKENDS[request.param](tmp_path)
    await backend.open()
    await set_units(backend, TREE)
    yield backend
    await backend.close()


async def set_units(
    db: Storage,
    units: list[Unit],
    retired: tuple[str, ...] = (),
    moves: dict[str, str] | None = None,
    *,
    people: list[PersonEntry] | None = None,
    now: datetime = T0,
) -> None:
    """Applies a directory; its people (none by default) become the active heads and staff."""
    await db.directory.apply_directory(
        units=units,
        people=people or [],
        retired=retired,
        moves=moves or {},
        now=now,
        actor="test",
        summary="",
    )


async def set_people(db: Storage, people: list[PersonEntry]) -> list[Person]:
    """Makes these the active heads and staff of TREE, exactly as given (a `person_id` is kept,
    none is matched for them), and returns everyone now active."""
    await set_units(db, [], people=people)
    return await db.directory.all_people()


def entry(unit: str, role: Role, name: str, *contacts: Contact, person_id: int | None = None) -> PersonEntry:
    return PersonEntry(
        unit_code=unit, role=role, name=name, contacts=contacts or (TG_2001,), person_id=person_id
    )


def same(stored: Person) -> PersonEntry:
    """The directory entry that keeps a stored person as they are."""
    return PersonEntry.model_validate(
        {**stored.model_dump(include=set(PersonEntry.model_fields)), "person_id": stored.id}
    )


async def add_dossier(
    db: Storage,
    code: str = "HS-1",
    unit: str = "Q1-BN",
    *,
    returned: bool = True,
    now: datetime = T0,
    survey_code: str | None = None,
) -> Dossier:
    return await db.dossiers.add_dossier(
        code=code,
        unit_code=unit,
        procedure="Đăng ký kết hôn",
        link_id=f"L-{code}",
        now=now,
        received_on=date(2026, 11, 1),
        due_on=date(2026, 11, 10),
        returned_at=now if returned else None,
        survey_code=survey_code,
    )


async def start_survey(
    db: Storage, dossier_id: int, chat: str = "42", *, channel: str = "telegram", now: datetime = T0
) -> Survey:
    return await db.surveys.start_survey(
        channel=channel,
        chat_id=chat,
        dossier_id=dossier_id,
        question_set="default",
        question_set_version=1,
        first_step="rating",
        now=now,
    )


async def answer(
    db: Storage,
    code: str = "HS-1",
    unit: str = "Q1-BN",
    *,
    chat: str = "42",
    rating: Rating = Rating.SATISFIED,
    now: datetime = T0,
    question_set: tuple[str, int] = ("default", 1),
    case_deadline: date | None = None,
) -> Answer:
    """A new dossier answered with one tap (a complaint case opened when `case_deadline` is given)."""
    dossier = await add_dossier(db, code, unit, now=now)
    survey = await db.surveys.start_survey(
        channel="telegram",
        chat_id=chat,
        dossier_id=dossier.id,
        question_set=question_set[0],
        question_set_version=question_set[1],
        first_step="rating",
        now=now,
    )
    return await db.surveys.record_rating(
        survey, rating=rating, option_id=rating.value, next_step=None, now=now, case_deadline=case_deadline
    )


async def open_case(
    db: Storage,
    code: str = "HS-1",
    unit: str = "Q1-BN",
    *,
    chat: str = "42",
    now: datetime = T0,
    deadline: date = DEADLINE,
) -> Case:
    """A complaint case, opened as the survey opens one: by an unsatisfied answer."""
    answered = await answer(
        db, code, unit, chat=chat, rating=Rating.UNSATISFIED, now=now, case_deadline=deadline
    )
    (found,) = [
        c
        for c in await db.cases.list_cases([unit], states=list(CaseState))
        if c.dossier_id == answered.dossier_id
    ]
    return found


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
