"""Admins, listed in the config, change what citizens are asked without touching the server:
they send a question-set YAML file to the bot, see it as a citizen would, and activate it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from handlers.chat import Option, Reply
from handlers.question_set import QuestionSet, QuestionSetError
from handlers.question_sets import QuestionSets
from handlers.texts import Language, text
from storage.records import ChatState, StoredQuestionSet

ACTIVATE = "activate"


def question_set_key(row_id: int, action: str) -> str:
    return f"qs{row_id}.{action}"


def parse_question_set_key(key: str) -> tuple[int, str] | None:
    head, _, action = key.partition(".")
    if not head.startswith("qs") or not head[2:].isdigit() or not action:
        return None
    return int(head[2:]), action


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
    def __init__(self, sets: QuestionSets, admins: Iterable[tuple[str, str]]) -> None:
        self.sets = sets
        self.admins = frozenset(admins)  # (channel, chat id)

    def is_admin(self, chat: ChatState) -> bool:
        return (chat.channel, chat.chat_id) in self.admins

    async def receive_document(
        self, chat: ChatState, name: str, data: bytes | None, language: Language, now: datetime
    ) -> list[Reply]:
        """Validates a question-set file an admin sent, stores it as a version and previews it."""
        if not self.is_admin(chat):
            return [Reply(text("admin_only_file", language))]
        try:
            source = data.decode("utf-8") if data is not None else None
        except UnicodeDecodeError:
            source = None
        if source is None:
            return [Reply(text("file_unreadable", language, name=name))]
        try:
            stored, created = await self.sets.import_set(source, name, now, f"{chat.channel}:{chat.chat_id}")
        except QuestionSetError as exc:
            problems = str(exc).removeprefix(f"{name}: ").replace("; ", "\n")
            return [Reply(text("qs_invalid", language, name=name, problems=problems))]
        intro = text(
            "qs_imported" if created else "qs_unchanged", language, set=stored.set_id, version=stored.version
        )
        return [self._previewed(stored, intro, language)]

    def _previewed(self, stored: StoredQuestionSet, intro: str, language: Language) -> Reply:
        body = f"{intro}\n\n{preview(self.sets.parsed(stored), language)}"
        if stored.active:
            return Reply(body)
        return Reply(
            body, (Option(question_set_key(stored.id, ACTIVATE), text("button_activate", language)),)
        )

    async def press(self, chat: ChatState, key: str, language: Language, now: datetime) -> list[Reply]:
        """Activates a stored version, if an admin pressed the button."""
        parsed = parse_question_set_key(key)
        if not self.is_admin(chat):
            return [Reply(text("admin_only", language))]
        if parsed is None or parsed[1] != ACTIVATE:
            return [Reply(text("stale_option", language))]
        stored = await self.sets.store.activate_question_set(parsed[0], now, f"{chat.channel}:{chat.chat_id}")
        if stored is None:
            return [Reply(text("stale_option", language))]
        return [Reply(text("qs_activated", language, set=stored.set_id, version=stored.version))]

    async def list_sets(self, chat: ChatState, language: Language) -> list[Reply]:
        """/questions: every stored version with its scope, state and answer count."""
        if not self.is_admin(chat):
            return [Reply(text("admin_only", language))]
        stored = await self.sets.store.list_question_sets()
        if not stored:
            return [Reply(text("qs_none", language))]
        lines = [
            text(
                "qs_line", language, id=s.id, set=s.set_id, version=s.version, answers=s.answers,
                state=text("qs_active" if s.active else "qs_inactive", language),
                scope=describe_scope(self.sets.parsed(s), language),
            )
            for s in stored
        ]  # fmt: skip
        buttons = tuple(
            Option(question_set_key(s.id, ACTIVATE), f"{text('button_activate', language)} #{s.id}")
            for s in stored
            if not s.active
        )
        return [Reply("\n".join(lines), buttons)]
