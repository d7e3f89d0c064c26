"""`questions validate | import | list | activate | preview`: question sets from the command line, as
admins manage them in the chat. The listing shows the default set too (shipped, or the config's
`question_set:` file), since admins start from it and it is what citizens get outside every scope."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from bot.cli.commands.run import demo
from bot.cli.common import CommandError, cli_actor, with_store
from bot.cli.output import Column, emit, render
from bot.config import Config
from handlers.question_set import QuestionSet, QuestionSetError, load_question_set
from handlers.question_sets import QuestionSets, says_the_same
from storage.base import Storage
from storage.records import StoredQuestionSet


def validate_questions(config: Config, args: argparse.Namespace) -> int:
    """Checks a question-set file; prints what it asks, or each problem with its line."""
    question_set = question_set_file(args.file, config)
    rating = question_set.rating_question
    print(f"{args.file}: valid: {question_set.id}, {len(question_set.questions)} questions, rating options: "
          + ", ".join(o.text(config.language) for o in rating.options))  # fmt: skip
    return 0


def question_set_file(path: Path, config: Config) -> QuestionSet:
    """The set in a file; its problems told in the config's language."""
    try:
        return load_question_set(path)
    except QuestionSetError as exc:
        raise CommandError(exc.describe(config.language)) from exc


def _sets(config: Config, store: Storage) -> QuestionSets:
    return QuestionSets(store.question_sets, store.directory, load_question_set(config.question_set))


def import_questions(config: Config, args: argparse.Namespace) -> int:
    """Stores a question-set file as its set's next version, unless it is unchanged."""
    declared = question_set_file(args.file, config)  # refuse an invalid file before touching the database
    source = args.file.read_text(encoding="utf-8")
    default = load_question_set(config.question_set)
    if says_the_same(declared, default):
        print(f"unchanged: the same as the default set {default.id} v{default.version}; nothing stored")
        return 0

    async def store_it(store: Storage) -> tuple[StoredQuestionSet, bool]:
        return await _sets(config, store).import_set(source, str(args.file), datetime.now(UTC), cli_actor())

    stored, created = with_store(config, store_it)
    if created:
        renumbered = (
            f" (the file says version {declared.version}; versions are numbered in order and never reused)"
            if declared.version != stored.version
            else ""
        )
        print(f"imported {stored.set_id} v{stored.version} as id {stored.id}{renumbered}; "
              f"activate it with: feedback-bot questions activate {stored.id}")  # fmt: skip
    else:
        print(f"unchanged: the same as {stored.set_id} v{stored.version} (id {stored.id})")
    return 0


QUESTION_SET_COLUMNS = (
    Column("id"),
    Column("set"),
    Column("version"),
    Column("state"),
    Column("answers"),
    Column("scope"),
)


def list_questions(config: Config, args: argparse.Namespace) -> int:
    """Lists every stored version with its scope, state and answer count, then the default set."""

    async def fetch(store: Storage) -> list[dict[str, object]]:
        sets = _sets(config, store)
        rows: list[dict[str, object]] = []
        for stored in await store.question_sets.list_question_sets():
            scope = sets.parsed(stored).scope
            rows.append({
                "id": stored.id, "set": stored.set_id, "version": stored.version,
                "state": "active" if stored.active else "inactive", "answers": stored.answers,
                "scope": ", ".join([*scope.units, *scope.procedures]) or "everywhere",
            })  # fmt: skip
        default = sets.default
        rows.append({
            "id": None, "set": default.id, "version": default.version,
            "state": "built-in" if config.question_set is None else "config file",
            "answers": None, "scope": "wherever no active set applies",
        })  # fmt: skip
        return rows

    emit(render(with_store(config, fetch), QUESTION_SET_COLUMNS, args.format, empty=None))
    return 0


def activate_questions(config: Config, args: argparse.Namespace) -> int:
    """Makes a stored version its set's active one."""

    async def activate(store: Storage) -> StoredQuestionSet | None:
        return await store.question_sets.activate_question_set(args.id, datetime.now(UTC), cli_actor())

    stored = with_store(config, activate)
    if stored is None:
        raise CommandError(f"no question set with id {args.id}: see `feedback-bot questions list`")
    print(f"{stored.set_id} v{stored.version} is active; new surveys in its scope use it")
    return 0


def preview_questions(config: Config, args: argparse.Namespace) -> int:
    """Runs a stored version's survey in the terminal on a throwaway database."""

    async def fetch(store: Storage) -> QuestionSet:
        stored = await store.question_sets.get_question_set(args.id)
        if stored is None:
            raise CommandError(f"no question set with id {args.id}: see `feedback-bot questions list`")
        return _sets(config, store).parsed(stored)

    return demo(config, with_store(config, fetch))
