"""The directory: the unit tree and its heads and staff. The config seeds it on first start; after
that admins change it at run time from a directory YAML file. Administrative reforms that merge or
split units are a normal operation: a unit that leaves the tree is retired, never deleted, and its
open cases move to the unit the file names."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from handlers.texts import Language, text
from storage.records import CaseCounts, Contact, Person, PersonEntry, Role, Unit

Roles = frozenset[tuple[str, str]]
# A Zalo user id is a string; YAML reads one made of digits as a number, so take that too.
ZaloId = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v),
                   Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]  # fmt: skip


class Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PersonConfig(Entry):
    """A person and the chats they are reached on: a Telegram user id, a Zalo user id, or both
    (then the one they last wrote from is used, else Telegram)."""

    name: str = Field(min_length=1)
    telegram: int | None = None
    zalo: ZaloId | None = None

    @model_validator(mode="after")
    def _reachable(self) -> PersonConfig:
        if self.telegram is None and self.zalo is None:
            raise ValueError(f"{self.name}: give a telegram or a zalo user id (or both)")
        return self

    @property
    def contacts(self) -> tuple[Contact, ...]:
        found = [Contact(channel="telegram", chat_id=str(self.telegram))] if self.telegram is not None else []
        return (*found, *([Contact(channel="zalo", chat_id=self.zalo)] if self.zalo is not None else []))


class UnitConfig(Entry):
    code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    name: str = Field(min_length=1)
    head: PersonConfig | None = None
    staff: tuple[PersonConfig, ...] = ()
    children: tuple[UnitConfig, ...] = ()

    def walk(self, parent: str | None = None) -> Iterator[tuple[UnitConfig, str | None]]:
        """This unit and its subtree, parents first, each with its parent's code."""
        yield self, parent
        for child in self.children:
            yield from child.walk(self.code)


class Retirement(Entry):
    code: str
    move_cases_to: str


class DirectoryFile(Entry):
    units: tuple[UnitConfig, ...]
    retire: tuple[Retirement, ...] = ()

    @model_validator(mode="after")
    def _unique_codes(self) -> DirectoryFile:
        codes = [u.code for u, _ in walk_units(self.units)]
        duplicated = sorted({c for c in codes if codes.count(c) > 1})
        if duplicated:
            raise ValueError(f"unit codes appear more than once: {', '.join(duplicated)}")
        for retirement in self.retire:
            if retirement.move_cases_to not in codes:
                raise ValueError(
                    f"retire {retirement.code}: {retirement.move_cases_to} is not in the new tree"
                )
        return self


def walk_units(units: Sequence[UnitConfig]) -> Iterator[tuple[UnitConfig, str | None]]:
    for unit in units:
        yield from unit.walk()


def flatten(units: Sequence[UnitConfig]) -> tuple[list[Unit], list[PersonEntry]]:
    """The tree as unit records (parents first) and the people of each unit."""
    flat, people = [], []
    for unit, parent in walk_units(units):
        flat.append(Unit(code=unit.code, name=unit.name, parent_code=parent))
        members = [(Role.HEAD, unit.head)] if unit.head else []
        members += [(Role.STAFF, person) for person in unit.staff]
        people += [
            PersonEntry(unit_code=unit.code, role=role, name=p.name, contacts=p.contacts)
            for role, p in members
        ]
    return flat, people


class DirectoryError(ValueError):
    """A directory file that cannot be applied; the message says why."""


def parse_directory(source: str, name: str) -> DirectoryFile:
    try:
        data = yaml.safe_load(source)
        return DirectoryFile.model_validate(data)
    except (yaml.YAMLError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: "
                + e["msg"].removeprefix("Value error, ")
                for e in exc.errors()
            )
            raise DirectoryError(f"{name}: {problems}") from exc
        raise DirectoryError(f"{name}: not valid YAML: {exc}") from exc


@dataclass
class DirectoryChange:
    """What applying a directory file would change."""

    units: list[Unit]
    people: list[PersonEntry]
    moves: dict[str, str]  # retired unit → where its open cases go
    added: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str, str]] = field(default_factory=list)
    moved: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    # people: (name, roles before, roles after); a role is (role, unit code)
    people_added: list[tuple[str, Roles, Roles]] = field(default_factory=list)
    people_removed: list[tuple[str, Roles, Roles]] = field(default_factory=list)
    role_changed: list[tuple[str, Roles, Roles]] = field(default_factory=list)
    contacts_changed: list[tuple[str, frozenset[Contact], frozenset[Contact]]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.renamed or self.moved or self.retired or self.people_added
                    or self.people_removed or self.role_changed or self.contacts_changed)  # fmt: skip

    def lines(self, language: Language) -> list[str]:
        """The change, a line an item, in the reader's language."""

        def roles(held: Roles) -> str:
            return ", ".join(f"{text('role_' + role, language)} {unit}" for role, unit in sorted(held))

        out = [f"+ {code}" for code in self.added]
        out += [f"~ {code}: {old} → {new}" for code, old, new in self.renamed]
        out += [f"↳ {code}: {old or '—'} → {new or '—'}" for code, old, new in self.moved]
        out += [f"− {code} → {self.moves.get(code, '—')}" for code in self.retired]
        out += [f"+ {name} ({roles(after)})" for name, _, after in self.people_added]
        out += [f"− {name} ({roles(before)})" for name, before, _ in self.people_removed]
        out += [f"~ {name}: {roles(before)} → {roles(after)}" for name, before, after in self.role_changed]
        out += [
            f"~ {name}: {_chats(before)} → {_chats(after)}" for name, before, after in self.contacts_changed
        ]
        return out


def plan_change(
    file: DirectoryFile, current: Sequence[Unit], people: Sequence[Person], counts: dict[str, CaseCounts]
) -> DirectoryChange:
    """Compares a directory file with the stored directory (`people`: every stored person, those
    no longer listed too). Raises DirectoryError when a unit with open cases would leave the tree
    without saying where its cases go."""
    units, listed = flatten(file.units)
    entries = same_people(listed, people)
    people = [p for p in people if p.active]
    moves = {r.code: r.move_cases_to for r in file.retire}
    change = DirectoryChange(units=units, people=entries, moves=moves)
    now_units = {u.code: u for u in current}
    for unit in units:
        before = now_units.get(unit.code)
        if before is None:
            change.added.append(unit.code)
            continue
        if before.name != unit.name:
            change.renamed.append((unit.code, before.name, unit.name))
        if before.parent_code != unit.parent_code:
            change.moved.append((unit.code, before.parent_code, unit.parent_code))
    new_codes = {u.code for u in units}
    change.retired = [code for code in now_units if code not in new_codes]
    stranded = [c for c in change.retired if counts.get(c, CaseCounts()).open and c not in moves]
    if stranded:
        raise DirectoryError(
            "these units leave the tree with open cases; say where the cases go under 'retire:' "
            "(- {code: X, move_cases_to: Y}): " + ", ".join(stranded)
        )

    old, new = _humans(people), _humans(entries)
    matched: set[int] = set()
    for name, contacts, held in new:
        same = next((n for n, h in enumerate(old) if n not in matched and h[1] & contacts), None)
        if same is None:
            change.people_added.append((name, frozenset(), held))
            continue
        matched.add(same)
        if old[same][2] != held:
            change.role_changed.append((name, old[same][2], held))
        if old[same][1] != contacts:
            change.contacts_changed.append((name, old[same][1], contacts))
    change.people_removed = [
        (name, held, frozenset()) for n, (name, _, held) in enumerate(old) if n not in matched
    ]
    return change


def same_people(entries: Sequence[PersonEntry], stored: Sequence[Person]) -> list[PersonEntry]:
    """The entries, each naming the stored person it is: the one of the same unit and role who
    shares any of its chats (active first, then the latest). So adding a Zalo id to a head, or
    listing again someone removed earlier, keeps the same person and the cases they hold."""
    taken: set[int] = set()
    matched = []
    for entry in entries:
        contacts = set(entry.contacts)
        candidates = [
            p for p in stored
            if p.id not in taken and p.unit_code == entry.unit_code and p.role == entry.role
            and contacts & set(p.contacts)
        ]  # fmt: skip
        same = max(candidates, key=lambda p: (p.active, p.id), default=None)
        if same is not None:
            taken.add(same.id)
        matched.append(entry.model_copy(update={"person_id": same.id if same else None}))
    return matched


def _chats(contacts: frozenset[Contact]) -> str:
    return ", ".join(
        f"{c.channel} {c.chat_id}" for c in sorted(contacts, key=lambda c: (c.channel, c.chat_id))
    )


def _humans(group: Sequence[PersonEntry]) -> list[tuple[str, frozenset[Contact], Roles]]:
    """The people behind directory rows: rows sharing a contact are one person, with every role
    they hold, in the order first listed."""
    found: list[tuple[str, set[Contact], set[tuple[str, str]]]] = []
    for entry in group:
        contacts = set(entry.contacts)
        same = [h for h in found if h[1] & contacts]
        if not same:
            found.append((entry.name, contacts, set()))
            same = [found[-1]]
        keep = same[0]
        for other in same[1:]:  # this row joins people listed apart so far
            keep[1].update(other[1])
            keep[2].update(other[2])
            found.remove(other)
        keep[1].update(contacts)
        keep[2].add((entry.role.value, entry.unit_code))
    return [(name, frozenset(contacts), frozenset(held)) for name, contacts, held in found]
