"""Admins, listed in the config, change what citizens are asked without touching the server:
they send a question-set YAML file to the bot, see it as a citizen would, and activate it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import date, datetime
from typing import Literal

import yaml

from handlers.buttons import Button
from handlers.chat import MAX_ATTACHMENT, Fetch, Option, Reply
from handlers.directory import DirectoryChange, DirectoryError, parse_directory, plan_change
from handlers.question_set import QuestionSet, QuestionSetError, parse_question_set
from handlers.question_sets import QuestionSets
from handlers.texts import Language, text
from handlers.yaml_safe import YamlRefused, load_yaml
from storage.base import DigestRepository, DirectoryRepository, QuestionSetRepository
from storage.records import ChatState, StoredQuestionSet


class ActivateQuestionSet(Button, prefix="qs"):
    """Activates a stored question-set version (its row id)."""

    stored_id: int
    action: Literal["activate"] = "activate"


class ApplyDirectory(Button, prefix="dir"):
    """Applies a proposed directory file."""

    proposal_id: int
    action: Literal["apply"] = "apply"


def is_directory(data: object) -> bool:
    """A directory file has `units:` at the top; a question set has `questions:`."""
    return isinstance(data, dict) and "units" in data and "questions" not in data


async def plan_directory(
    directory: DirectoryRepository, digests: DigestRepository, source: str, name: str, today: date
) -> DirectoryChange:
    """What applying a directory file would change now. Raises DirectoryError."""
    # Reading and comparing a large file takes a moment of CPU: in a worker thread, so that other
    # chats are answered meanwhile.
    file = await asyncio.to_thread(parse_directory, source, name)
    counts = await digests.case_counts(today)
    people = await directory.all_people(inactive=True)
    return await asyncio.to_thread(plan_change, file, await directory.list_units(), people, counts)


async def apply_directory(
    directory: DirectoryRepository,
    change: DirectoryChange,
    now: datetime,
    actor: str,
    proposal_id: int | None = None,
) -> bool:
    return await directory.apply_directory(
        units=change.units, people=change.people, retired=change.retired, moves=change.moves, now=now,
        actor=actor, summary=summarize(change), proposal_id=proposal_id,
    )  # fmt: skip


def summarize(change: DirectoryChange) -> str:
    return (
        f"units +{len(change.added)} renamed {len(change.renamed)} moved {len(change.moved)} "
        f"retired {len(change.retired)}; people +{len(change.people_added)} −{len(change.people_removed)} "
        f"role changed {len(change.role_changed)} chats changed {len(change.contacts_changed)}"
    )


def describe_scope(question_set: QuestionSet, language: Language) -> str:
    scope = question_set.scope
    return ", ".join([*scope.units, *scope.procedures]) or text("qs_everywhere", language)


def preview(question_set: QuestionSet, language: Language) -> str:
    """The questions as a citizen would see them, numbered options included."""
    lines = [
        f"{question_set.name(language)}",
        text("qs_scope", language, scope=describe_scope(question_set, language)),
    ]
    for number, question in enumerate(question_set.questions, 1):
        lines.append(f"\n{number}. {question.text(language)}")
        if number > 1:
            ratings = ", ".join(text(f"rating_{r.value}", language) for r in question.show_for)
            lines.append(text("qs_shown_after", language, ratings=ratings))
        if question.type == "text":
            lines.append(text("qs_free_text", language, limit=question.max_length))
        lines += [f"   {n}) {o.text(language)}" for n, o in enumerate(question.options, 1)]
    return "\n".join(lines)


class AdminDesk:
    def __init__(
        self,
        sets: QuestionSets,
        directory: DirectoryRepository,
        digests: DigestRepository,
        admins: Iterable[tuple[str, str]],
    ) -> None:
        self.sets = sets
        self.question_sets: QuestionSetRepository = sets.repository
        self.directory = directory
        self.digests = digests
        self.admins = frozenset(admins)  # (channel, chat id)

    def is_admin(self, chat: ChatState) -> bool:
        return (chat.channel, chat.chat_id) in self.admins

    async def receive_document(
        self, chat: ChatState, name: str, attachment: Fetch | None, language: Language, now: datetime
    ) -> list[Reply]:
        """Validates a question-set or directory file an admin sent and previews it; fetches the
        file only for an admin, and never more of it than MAX_ATTACHMENT."""
        if not self.is_admin(chat):
            return [Reply(text("admin_only_file", language))]
        data = await attachment(MAX_ATTACHMENT) if attachment is not None else None
        try:
            source = data.decode("utf-8") if data is not None else None
        except UnicodeDecodeError:
            source = None
        if source is None:
            return [Reply(text("file_unreadable", language, name=name))]
        try:
            data = await asyncio.to_thread(load_yaml, source)
        except YamlRefused as exc:
            return [Reply(text("file_refused", language, name=name, problem=exc.describe(language)))]
        except (yaml.YAMLError, ValueError):
            data = None  # then it is taken for a question set, whose parser names the line at fault
        if is_directory(data):
            return await self.propose_directory(chat, source, name, language, now)
        default = self.sets.default
        try:
            declared = (await asyncio.to_thread(parse_question_set, source, name)).version
            if self.sets.is_default(source, name):  # the set just read is remembered: no second reading
                return [Reply(text("qs_is_default", language, set=default.id, version=default.version))]
            stored, created = await self.sets.import_set(source, name, now, f"{chat.channel}:{chat.chat_id}")
        except QuestionSetError as exc:
            problems = exc.describe(language).removeprefix(f"{name}: ").replace("; ", "\n")
            return [Reply(text("qs_invalid", language, name=name, problems=problems))]
        kind = "qs_unchanged"
        if created:
            kind = "qs_imported" if declared == stored.version else "qs_renumbered"
        intro = text(kind, language, set=stored.set_id, version=stored.version, declared=declared)
        return [self._previewed(stored, intro, language)]

    def _previewed(self, stored: StoredQuestionSet, intro: str, language: Language) -> Reply:
        body = f"{intro}\n\n{preview(self.sets.parsed(stored), language)}"
        if stored.active:
            return Reply(body)
        return Reply(
            body, (Option(ActivateQuestionSet(stored.id).pack(), text("button_activate", language)),)
        )

    async def activate(
        self, chat: ChatState, button: ActivateQuestionSet, language: Language, now: datetime
    ) -> list[Reply]:
        """Activates a stored version, if an admin pressed the button."""
        if not self.is_admin(chat):
            return [Reply(text("admin_only", language))]
        stored = await self.question_sets.activate_question_set(
            button.stored_id, now, f"{chat.channel}:{chat.chat_id}"
        )
        if stored is None:
            return [Reply(text("stale_option", language))]
        return [Reply(text("qs_activated", language, set=stored.set_id, version=stored.version))]

    async def propose_directory(
        self, chat: ChatState, source: str, name: str, language: Language, now: datetime
    ) -> list[Reply]:
        """Shows an admin what a directory file would change, with an Apply button."""
        try:
            change = await plan_directory(self.directory, self.digests, source, name, now.date())
        except DirectoryError as exc:
            return [Reply(text("dir_invalid", language, name=name, problem=exc.describe(language)))]
        if change.empty:
            return [Reply(text("dir_none", language))]
        proposal = await self.directory.propose_directory(source, now, f"{chat.channel}:{chat.chat_id}")
        body = text("dir_preview", language, name=name, lines="\n".join(change.lines(language)))
        return [Reply(body, (Option(ApplyDirectory(proposal.id).pack(), text("button_apply", language)),))]

    async def apply_proposal(
        self, chat: ChatState, button: ApplyDirectory, language: Language, now: datetime
    ) -> list[Reply]:
        """Applies a proposed directory, checked again against the directory as it is now."""
        if not self.is_admin(chat):
            return [Reply(text("admin_only", language))]
        proposal = await self.directory.get_directory_proposal(button.proposal_id)
        if proposal is None:
            return [Reply(text("stale_option", language))]
        if proposal.applied_at is not None:
            return [Reply(text("dir_already", language))]
        try:
            change = await plan_directory(
                self.directory, self.digests, proposal.source, f"#{proposal.id}", now.date()
            )
        except DirectoryError as exc:
            return [
                Reply(text("dir_invalid", language, name=f"#{proposal.id}", problem=exc.describe(language)))
            ]
        if not await apply_directory(
            self.directory, change, now, f"{chat.channel}:{chat.chat_id}", proposal.id
        ):
            return [Reply(text("dir_already", language))]
        return [Reply(text("dir_applied", language, summary=summarize(change)))]

    async def list_sets(self, chat: ChatState, language: Language) -> list[Reply]:
        """/questions: every stored version with its scope, state and answer count."""
        if not self.is_admin(chat):
            return [Reply(text("admin_only", language))]
        stored = await self.question_sets.list_question_sets()
        default = self.sets.default
        lines = [text("qs_default_line", language, set=default.id, version=default.version)]
        if not stored:
            return [Reply("\n".join([*lines, text("qs_none", language)]))]
        lines += [
            text(
                "qs_line", language, id=s.id, set=s.set_id, version=s.version, answers=s.answers,
                state=text("qs_active" if s.active else "qs_inactive", language),
                scope=describe_scope(self.sets.parsed(s), language),
            )
            for s in stored
        ]  # fmt: skip
        buttons = tuple(
            Option(ActivateQuestionSet(s.id).pack(), f"{text('button_activate', language)} #{s.id}")
            for s in stored
            if not s.active
        )
        return [Reply("\n".join(lines), buttons, text("typing_hint", language) if buttons else "")]
