"""`answers`: the stored answers as a table, CSV or JSON, each with the texts of the options chosen
(in the config's language, from the very question set and version the answer was given with) beside
their codes, and the complaint case it opened. Citizens' chat ids, names and phones are left out,
unless `--with-personal-data` is given: that export is in the audit."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.cli.common import cli_actor, unknown_unit, with_store
from bot.cli.output import Column, emit, render
from bot.config import Config
from handlers.question_set import QuestionSet, load_question_set
from handlers.question_sets import QuestionSets
from storage.base import Storage
from storage.records import AnswerRow

# Shown only with --with-personal-data.
PERSONAL_COLUMNS = (Column("chat_id", in_table=False), Column("citizen_name"), Column("phone"))


def _follow_up_codes(value: object) -> str:
    assert isinstance(value, list)
    return "; ".join(f"{f['option_id']} ({f['factor']})" if f["factor"] else f["option_id"] for f in value)


ANSWER_COLUMNS = (
    Column("dossier"),
    Column("unit"),
    Column("procedure"),
    Column("rating"),
    Column("rating_option", in_table=False),
    Column("rating_text", in_table=False),
    Column("follow_ups", text=_follow_up_codes),
    Column("follow_up_texts", in_table=False),
    Column("text"),
    Column("channel"),
    Column("answered_at"),
    Column("question_set"),
    Column("case"),
    Column("case_state"),
    # Whether the dossier was late when answered, and whether an apology letter had reached the
    # citizen (empty for answers given before lateness was recorded).
    Column("dossier_late"),
    Column("letter_sent"),
)


def list_answers(config: Config, args: argparse.Namespace) -> int:
    """Prints stored answers as a table, CSV or JSON."""

    async def fetch(store: Storage) -> list[dict[str, object]]:
        if args.unit and await store.directory.get_unit(args.unit) is None:
            raise unknown_unit(args.unit, config)
        answers = await store.surveys.list_answers(args.unit)
        sets = QuestionSets(store.question_sets, store.directory, load_question_set(config.question_set))
        asked: dict[tuple[str, int], QuestionSet | None] = {}
        for row in answers:
            key = (row.answer.question_set, row.answer.question_set_version)
            if key not in asked:
                asked[key] = await sets.load(*key)
        rows = [
            answer_fields(row, asked[(row.answer.question_set, row.answer.question_set_version)], config)
            for row in answers
        ]
        if personal:
            for fields, row in zip(rows, answers, strict=True):
                fields.update(
                    chat_id=row.answer.chat_id or None, citizen_name=row.citizen_name, phone=row.phone
                )
            detail = f"answers{f' of {args.unit}' if args.unit else ''}: {len(rows)} rows, {args.format}"
            await store.audit.record_access(cli_actor(), "personal data exported", detail, datetime.now(UTC))
        return rows

    personal = bool(getattr(args, "with_personal_data", False))
    columns = (*ANSWER_COLUMNS, *PERSONAL_COLUMNS) if personal else ANSWER_COLUMNS
    emit(render(with_store(config, fetch), columns, args.format, empty="no answers yet"))
    return 0


def answer_fields(row: AnswerRow, question_set: QuestionSet | None, config: Config) -> dict[str, object]:
    answer = row.answer

    def option_text(question_id: str, option_id: str) -> str | None:
        question = question_set.question(question_id) if question_set else None
        option = next((o for o in question.options if o.id == option_id), None) if question else None
        return option.text(config.language) if option else None

    rating_question = question_set.rating_question.id if question_set else ""
    return {
        "dossier": row.dossier_code,
        "unit": row.unit_code,
        "procedure": row.procedure,
        "rating": answer.rating.value,
        "rating_option": answer.rating_option,
        "rating_text": option_text(rating_question, answer.rating_option),
        "follow_ups": [f.model_dump() for f in answer.follow_ups],
        "follow_up_texts": [option_text(f.question_id, f.option_id) or "" for f in answer.follow_ups],
        "text": " | ".join(answer.texts.values()),
        "channel": answer.channel,
        "answered_at": answer.answered_at.astimezone(config.zone).isoformat(timespec="seconds"),
        "question_set": f"{answer.question_set} v{answer.question_set_version}",
        "case": row.case_id,
        "case_state": row.case_state.value if row.case_state else None,
        "dossier_late": answer.dossier_late,
        "letter_sent": answer.letter_sent,
    }
