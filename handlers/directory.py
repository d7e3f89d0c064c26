"""The directory: the unit tree and its heads and staff. The config seeds it on first start; after
that admins change it at run time from a directory YAML file. Administrative reforms that merge or
split units are a normal operation: a unit that leaves the tree is retired, never deleted, and its
open cases move to the unit the file names."""

from __future__ import annotations

import functools
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from handlers.texts import Language, text
from handlers.yaml_safe import YamlRefused, load_yaml
from storage.base import DirectoryRepository
from storage.records import CaseCounts, Contact, Person, PersonEntry, Role, Unit

MAX_UNITS = 5000  # Ho Chi Minh City has a few hundred units that serve citizens
MAX_UNIT_DEPTH = 8  # city, district, ward and the teams under them fit with room to spare
MAX_PROBLEMS = 20  # problems listed when a file is refused; the rest are counted
Roles = frozenset[tuple[str, str]]
# A Zalo user id is a string; YAML reads one made of digits as a number, so take that too.
ZaloId = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v),
                   Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]  # fmt: skip


class Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PersonConfig(Entry):
    """A person and the chats they are reached on: a Telegram user id, a Zalo user id (Bot
    Platform), a Zalo Official Account follower's user id (`zalo_oa`), or several (then the one
    they last wrote from is used, else the first of these)."""

    name: str = Field(min_length=1)
    telegram: int | None = None
    zalo: ZaloId | None = None
    zalo_oa: ZaloId | None = None

    @model_validator(mode="after")
    def _reachable(self) -> PersonConfig:
        if self.telegram is None and self.zalo is None and self.zalo_oa is None:
            raise ValueError(f"{self.name}: give a telegram or a zalo user id (or both), or a zalo_oa one")
        return self

    @property
    def contacts(self) -> tuple[Contact, ...]:
        found = [Contact(channel="telegram", chat_id=str(self.telegram))] if self.telegram is not None else []
        found += [Contact(channel="zalo", chat_id=self.zalo)] if self.zalo is not None else []
        return (
            *found,
            *([Contact(channel="zalo_oa", chat_id=self.zalo_oa)] if self.zalo_oa is not None else []),
        )


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
    retire: tuple[Retirement, ...] = Field(default=(), max_length=MAX_UNITS)

    @model_validator(mode="after")
    def _a_tree_the_bot_keeps(self) -> DirectoryFile:
        check_tree(self.units)
        codes = Counter(u.code for u, _ in walk_units(self.units))
        duplicated = sorted(code for code, seen in codes.items() if seen > 1)
        if duplicated:
            raise ValueError(f"unit codes appear more than once: {', '.join(duplicated)}")
        for retirement in self.retire:
            if retirement.move_cases_to not in codes:
                raise ValueError(
                    f"retire {retirement.code}: {retirement.move_cases_to} is not in the new tree"
                )
        return self


def check_tree(units: Sequence[UnitConfig]) -> None:
    """Raises a validation error when the tree has more than MAX_UNITS units or is deeper than
    MAX_UNIT_DEPTH: the directory, its previews and every digest's walk up the tree stay small."""
    count, depth, deepest = 0, 0, ""
    level: list[UnitConfig] = list(units)
    while level:  # a level of the tree at a time
        count += len(level)
        if count > MAX_UNITS:
            raise PydanticCustomError(
                "dir_units", "the directory has {count} units; at most {limit}",
                {"count": sum(1 for _ in walk_units(units)), "limit": MAX_UNITS},
            )  # fmt: skip
        depth, deepest = depth + 1, level[0].code
        level = [child for unit in level for child in unit.children]
    if depth > MAX_UNIT_DEPTH:
        raise PydanticCustomError(
            "dir_depth", "the unit tree is {depth} levels deep; at most {limit} (down to {code})",
            {"depth": depth, "limit": MAX_UNIT_DEPTH, "code": deepest},
        )  # fmt: skip


def ancestry_of(unit_code: str, units: Sequence[Unit]) -> list[str]:
    """The unit's code, then those of the units above it, nearest first (a loop in the tree ends it)."""
    parents = {u.code: u.parent_code for u in units}
    chain: list[str] = []
    code: str | None = unit_code
    while code is not None and code not in chain:
        chain.append(code)
        code = parents.get(code)
    return chain


async def head_over(
    directory: DirectoryRepository, unit_code: str, people: Sequence[Person]
) -> Person | None:
    """Of these people (those at one chat), the one who heads the unit or a unit above it, nearest
    first; None when none does."""
    heads = {p.unit_code: p for p in people if p.role == Role.HEAD}
    if not heads:
        return None
    above = ancestry_of(unit_code, await directory.list_units())
    return next((heads[code] for code in above if code in heads), None)


async def nearest_heads(directory: DirectoryRepository, unit_code: str) -> list[Person]:
    """The unit's heads, else those of the nearest unit above that has one (retired units count)."""
    for code in ancestry_of(unit_code, await directory.list_units(retired=True)):
        heads = [p for p in await directory.unit_people(code) if p.role == Role.HEAD]
        if heads:
            return heads
    return []


def subtree(roots: Sequence[str], units: Sequence[Unit]) -> list[str]:
    """These units' codes and those of every unit under them, each once, parents first."""
    children: dict[str | None, list[str]] = {}
    for unit in units:
        children.setdefault(unit.parent_code, []).append(unit.code)
    found: list[str] = []
    seen: set[str] = set()
    waiting = deque(roots)
    while waiting:
        code = waiting.popleft()
        if code not in seen:
            seen.add(code)
            found.append(code)
            waiting += children.get(code, [])
    return found


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
    """A directory file that cannot be applied; the message names the file (if any) and says why.
    `describe` says why in the reader's language, where the catalog has the words for it."""

    def __init__(self, name: str, problem: str, worded: Callable[[Language], str] | None = None) -> None:
        super().__init__(f"{name}: {problem}" if name else problem)
        self.problem, self._worded = problem, worded

    def describe(self, language: Language) -> str:
        """The problem, without the file's name."""
        return self._worded(language) if self._worded is not None else self.problem


# Errors of the tree as a whole that the catalog words in both languages (key: error_<type>).
_WORDED = frozenset({"dir_units", "dir_depth"})


def parse_directory(source: str, name: str) -> DirectoryFile:
    try:
        return DirectoryFile.model_validate(load_yaml(source))
    except YamlRefused as exc:
        raise DirectoryError(name, str(exc), exc.describe) from exc
    except (yaml.YAMLError, ValueError) as exc:
        if not isinstance(exc, ValidationError):
            raise DirectoryError(name, f"not valid YAML: {exc}") from exc
        errors = exc.errors()
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: " + e["msg"].removeprefix("Value error, ")
            for e in errors[:MAX_PROBLEMS]
        ) + (f"; … and {len(errors) - MAX_PROBLEMS} more problems" if len(errors) > MAX_PROBLEMS else "")
        worded = None
        if len(errors) == 1 and errors[0]["type"] in _WORDED:
            key, values = f"error_{errors[0]['type']}", dict(errors[0].get("ctx") or {})
            worded = functools.partial(_worded, key, values)
        raise DirectoryError(name, problems, worded) from exc


def _worded(key: str, values: dict[str, Any], language: Language) -> str:
    return text(key, language, **values)


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
            "",
            "these units leave the tree with open cases; say where the cases go under 'retire:' "
            "(- {code: X, move_cases_to: Y}): " + ", ".join(stranded),
        )

    old, new = _humans(people), _humans(entries)
    # A chat belongs to one person of `old` (rows sharing a chat are one person).
    owner = {contact: n for n, (_, contacts, _) in enumerate(old) for contact in contacts}
    matched: set[int] = set()
    for name, contacts, held in new:
        same = min((owner[c] for c in contacts if c in owner and owner[c] not in matched), default=None)
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
    # Stored people by (unit, role, chat), best first; each list is read from the front, past the
    # people already taken, so matching costs as much as the lists are long, once.
    sharing: dict[tuple[str, Role, Contact], list[Person]] = defaultdict(list)
    for person in sorted(stored, key=lambda p: (p.active, p.id), reverse=True):
        for contact in set(person.contacts):
            sharing[(person.unit_code, person.role, contact)].append(person)
    read: dict[tuple[str, Role, Contact], int] = defaultdict(int)
    taken: set[int] = set()
    matched = []
    for entry in entries:
        candidates = []
        for contact in set(entry.contacts):
            key = (entry.unit_code, entry.role, contact)
            found = sharing.get(key, [])
            while read[key] < len(found) and found[read[key]].id in taken:
                read[key] += 1
            if read[key] < len(found):
                candidates.append(found[read[key]])
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
    # Union-find over rows: a row joins the earliest row that shares a chat with it, so each person
    # is named and placed by the first row that lists them.
    first = list(range(len(group)))

    def root(n: int) -> int:
        while first[n] != n:
            first[n] = first[first[n]]
            n = first[n]
        return n

    seen: dict[Contact, int] = {}
    for n, entry in enumerate(group):
        for contact in entry.contacts:
            if contact in seen:
                a, b = root(seen[contact]), root(n)
                first[max(a, b)] = min(a, b)
            else:
                seen[contact] = n
    people: dict[int, tuple[str, set[Contact], set[tuple[str, str]]]] = {}
    for n, entry in enumerate(group):
        _, contacts, held = people.setdefault(root(n), (group[root(n)].name, set(), set()))
        contacts.update(entry.contacts)
        held.add((entry.role.value, entry.unit_code))
    return [(name, frozenset(contacts), frozenset(held)) for name, contacts, held in people.values()]
