"""Which question set a citizen is asked: the default set (shipped, or the config's file) unless an
active imported set is scoped to the dossier's unit (or a unit above it) and/or its procedure; the
most specific wins. Stored versions never change, so each is parsed once; the active sets and the
unit tree are kept until storage's question-set version says they changed."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from handlers.directory import ancestry_of
from handlers.question_set import QuestionSet, QuestionSetError, Scope, parse_question_set
from storage.base import DirectoryRepository, QuestionSetRepository
from storage.records import Dossier, StoredQuestionSet, Unit


def fingerprint(question_set: QuestionSet) -> str:
    """What a set says, whatever its version number or formatting: a changed set has another."""
    content = question_set.model_dump(mode="json", exclude={"version"})
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def says_the_same(one: QuestionSet, other: QuestionSet) -> bool:
    """Whether two sets are the same set with the same content, whatever their version numbers."""
    return one.id == other.id and fingerprint(one) == fingerprint(other)


def specificity(scope: Scope, dossier: Dossier, ancestry: Sequence[str]) -> tuple[int, int, int] | None:
    """How closely a scope fits a dossier (higher is closer), or None where it does not apply.
    `ancestry` is the dossier's unit followed by the units above it."""
    if scope.procedures and dossier.procedure not in scope.procedures:
        return None
    distance = next((n for n, code in enumerate(ancestry) if code in scope.units), None)
    if scope.units and distance is None:
        return None
    return (1 if scope.procedures else 0, 1 if scope.units else 0, -(distance or 0))


@dataclass(frozen=True)
class Scopes:
    """The active sets and the unit tree as of `version` (QuestionSetRepository's) or later."""

    version: int
    active: tuple[QuestionSet, ...]
    units: tuple[Unit, ...]


class QuestionSets:
    def __init__(
        self, repository: QuestionSetRepository, directory: DirectoryRepository, default: QuestionSet
    ) -> None:
        self.repository = repository
        self.directory = directory
        self.default = default
        self._parsed: dict[tuple[str, int], QuestionSet] = {(default.id, default.version): default}
        self._scopes: Scopes | None = None
        self._reloading = asyncio.Lock()

    def cached(self, set_id: str, version: int) -> QuestionSet | None:
        return self._parsed.get((set_id, version))

    def parsed(self, stored: StoredQuestionSet) -> QuestionSet:
        """A stored version as a QuestionSet with its stored version number."""
        key = (stored.set_id, stored.version)
        if key not in self._parsed:
            parsed = parse_question_set(stored.source, f"{stored.set_id} v{stored.version}")
            self._parsed[key] = parsed.model_copy(update={"version": stored.version})
        return self._parsed[key]

    async def load(self, set_id: str, version: int) -> QuestionSet | None:
        """The set a survey was begun with, from the cache or storage."""
        if (found := self.cached(set_id, version)) is not None:
            return found
        stored = await self.repository.find_question_set(set_id, version)
        return self.parsed(stored) if stored else None

    async def for_dossier(self, dossier: Dossier, seen_version: int | None = None) -> QuestionSet:
        """The most specific active set for this dossier, else the default. `seen_version` is the
        question-set version read with the chat's state (None: read it now)."""
        scopes = await self.scopes(seen_version)
        if not scopes.active:
            return self.default
        ancestry = ancestry_of(dossier.unit_code, scopes.units)
        best, best_fit = self.default, (-1, -1, -1)
        for candidate in scopes.active:
            fit = specificity(candidate.scope, dossier, ancestry)
            if fit is not None and fit >= best_fit:  # a tie goes to the later import
                best, best_fit = candidate, fit
        return best

    async def scopes(self, seen_version: int | None = None) -> Scopes:
        """The active sets (oldest import first) and the unit tree, kept until storage's version
        passes the one they were read under. The version is read before them, so what is kept is
        never older than the version it is kept under."""
        wanted = seen_version if seen_version is not None else await self.repository.question_sets_version()
        kept = self._scopes
        if kept is not None and kept.version >= wanted:
            return kept
        # One reload at a time: the chats that find the cache stale together wait for it.
        async with self._reloading:
            kept = self._scopes
            if kept is not None and kept.version >= wanted:
                return kept
            version = await self.repository.question_sets_version()
            stored = sorted(await self.repository.active_question_sets(), key=lambda s: s.id)
            units = await self.directory.list_units() if stored else []
            self._scopes = Scopes(version, tuple(self.parsed(s) for s in stored), tuple(units))
            return self._scopes

    async def import_set(
        self, source: str, name: str, now: datetime, actor: str
    ) -> tuple[StoredQuestionSet, bool]:
        """Validates and stores a set as its next version (unless unchanged). A stored version never
        takes the default set's label (its id and version, or below): answers name the set they were
        given with, so one label must mean one text. Raises QuestionSetError."""
        question_set = parse_question_set(source, name)
        first = self.default.version + 1 if question_set.id == self.default.id else 1
        return await self.repository.save_question_set(
            question_set.id, source, fingerprint(question_set), now, actor, first_version=first
        )

    def is_default(self, source: str, name: str) -> bool:
        """Whether a file says exactly what the default set says (whatever its formatting)."""
        return says_the_same(parse_question_set(source, name), self.default)


__all__ = [
    "QuestionSetError",
    "QuestionSets",
    "Scopes",
    "ancestry_of",
    "fingerprint",
    "says_the_same",
    "specificity",
]
