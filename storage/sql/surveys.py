"""Survey progress and answers. Every answer is written in the same transaction as the step it
moves the survey to, and only if the survey still stands where the caller saw it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from storage.base import AlreadyAnswered, StaleStep, SurveyRepository
from storage.records import Answer, AnswerRow, FollowUp, Rating, Survey
from storage.sql.cases import open_case
from storage.sql.common import SQLITE, Connection, Database, Row, first, flag, iso

# A chat's survey, with the rating given so far and the unit's name.
SURVEY_STATE_COLUMNS = (
    "s.id, s.channel, s.chat_id, s.dossier_id, s.question_set, s.question_set_version, s.step,"
    " s.started_at, s.updated_at, a.rating, COALESCE(u.name, d.unit_code, '') AS unit_name,"
    " d.due_on, d.returned_at, d.state AS dossier_state"
)
SURVEY_STATE_JOINS = (
    " LEFT JOIN dossiers d ON d.id = s.dossier_id LEFT JOIN units u ON u.code = d.unit_code"
    " LEFT JOIN answers a ON a.dossier_id = s.dossier_id AND a.channel = s.channel AND a.chat_id = s.chat_id"
)
_SURVEY_STATE = f"SELECT {SURVEY_STATE_COLUMNS} FROM surveys s{SURVEY_STATE_JOINS}"
ANSWER_FIELDS = (
    "id", "dossier_id", "channel", "chat_id", "question_set", "question_set_version", "rating",
    "rating_option", "follow_ups", "texts", "answered_at", "completed_at", "dossier_late", "letter_sent",
)  # fmt: skip
_ANSWER_COLUMNS = ", ".join(ANSWER_FIELDS)  # RETURNING takes no table alias
# Whether a letter of the dossier (the parameter) reached the citizen, read in the answer's transaction.
_LETTER_SENT = flag(
    "EXISTS (SELECT 1 FROM letters l JOIN letter_deliveries x ON x.letter_id = l.id"
    " WHERE l.dossier_id = ? AND x.status = 'sent')"
)
# PostgreSQL: a text set as SQLite's json_set sets it: in its place if the question was answered
# before, else last, so the texts keep the order they were given in (jsonb would sort the keys).
TEXT_SET_IN_ORDER = (
    "texts = (SELECT COALESCE(json_object_agg(k, v ORDER BY o), '{}'::json)::text FROM ("
    "SELECT key AS k, CASE WHEN key = ?1 THEN to_json(?2::text) ELSE value END AS v, ord AS o"
    " FROM json_each(texts::json) WITH ORDINALITY AS t(key, value, ord)"
    " UNION ALL SELECT ?1, to_json(?2::text), 9223372036854775807"
    " WHERE NOT EXISTS (SELECT 1 FROM json_each(texts::json) WHERE key = ?1)) x)"
)
_ANSWER_COLUMNS_OF_A = ", ".join(f"a.{name}" for name in ANSWER_FIELDS)


def survey(row: Row) -> Survey:
    return Survey.model_validate({key: row[key] for key in Survey.model_fields})


def answer(row: Row) -> Answer:
    data: dict[str, Any] = {key: row[key] for key in ANSWER_FIELDS}
    data["follow_ups"] = json.loads(row["follow_ups"])
    data["texts"] = json.loads(row["texts"])
    return Answer.model_validate(data)


def _advance(db: Connection, current: Survey, next_step: str | None, now: datetime) -> None:
    """Moves the survey on only if it still stands where the caller saw it."""
    moved = first(
        db,
        "UPDATE surveys SET step = ?, updated_at = ? WHERE id = ? AND step IS ? RETURNING id",
        (next_step, iso(now), current.id, current.step),
    )
    if moved is None:
        raise StaleStep(current.step or "")


class SqlSurveys(SurveyRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def start_survey(
        self,
        *,
        channel: str,
        chat_id: str,
        dossier_id: int,
        question_set: str,
        question_set_version: int,
        first_step: str,
        now: datetime,
    ) -> Survey:
        values = (channel, chat_id, dossier_id, question_set, question_set_version, first_step, iso(now),
                  iso(now))  # fmt: skip

        def start(db: Connection) -> Row | None:
            ongoing = first(
                db, f"{_SURVEY_STATE} WHERE s.channel = ? AND s.chat_id = ? AND s.dossier_id = ?"
                " AND s.step IS NOT NULL", (channel, chat_id, dossier_id),
            )  # fmt: skip
            if ongoing is not None:
                return ongoing
            db.execute("DELETE FROM surveys WHERE channel = ? AND chat_id = ?", (channel, chat_id))
            db.execute(
                "INSERT INTO surveys (channel, chat_id, dossier_id, question_set, question_set_version,"
                " step, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return first(db, f"{_SURVEY_STATE} WHERE s.channel = ? AND s.chat_id = ?", (channel, chat_id))

        row = await self.db.write(start)
        assert row is not None
        return survey(row)

    async def get_answer(self, dossier_id: int) -> Answer | None:
        row = await self.db.read_one(
            f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE dossier_id = ?", (dossier_id,)
        )
        return answer(row) if row else None

    async def _update_answer(
        self,
        current: Survey,
        change: str,
        params: Sequence[Any],
        next_step: str | None,
        now: datetime,
        case_deadline: date | None = None,
    ) -> Answer:
        """Moves the survey on and applies `change` (an SQL SET clause) to its answer, together."""

        def update(db: Connection) -> Row:
            _advance(db, current, next_step, now)
            row = first(
                db,
                f"UPDATE answers SET {change}, completed_at = CASE WHEN ? = 1 THEN ? ELSE completed_at END"
                f" WHERE dossier_id = ? AND channel = ? AND chat_id = ? RETURNING {_ANSWER_COLUMNS}",
                (*params, next_step is None, iso(now), current.dossier_id, current.channel, current.chat_id),
            )
            if row is None:
                raise StaleStep(current.step or "")
            if case_deadline is not None:
                open_case(db, current.dossier_id, case_deadline, now)
            return row

        return answer(await self.db.write(update))

    async def record_rating(
        self,
        survey: Survey,
        *,
        rating: Rating,
        option_id: str,
        next_step: str | None,
        now: datetime,
        case_deadline: date | None = None,
        dossier_late: bool | None = None,
    ) -> Answer:
        values = (
            survey.dossier_id, survey.channel, survey.chat_id, survey.question_set,
            survey.question_set_version, rating.value, option_id, iso(now),
            iso(now) if next_step is None else None, dossier_late, survey.dossier_id,
        )  # fmt: skip

        def record(db: Connection) -> Row | None:
            _advance(db, survey, next_step, now)
            # letter_sent: read in this transaction, so a delivery finishing meanwhile is either
            # counted or not, never half.
            row = first(
                db,
                "INSERT INTO answers (dossier_id, channel, chat_id, question_set, question_set_version,"
                " rating, rating_option, answered_at, completed_at, dossier_late, letter_sent)"
                f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {_LETTER_SENT})"
                f" ON CONFLICT (dossier_id) DO NOTHING RETURNING {_ANSWER_COLUMNS}",
                values,
            )
            if row is None:
                raise AlreadyAnswered(str(survey.dossier_id))
            if case_deadline is not None:
                open_case(db, survey.dossier_id, case_deadline, now)
            return row

        row = await self.db.write(record)
        assert row is not None
        return answer(row)

    async def record_follow_up(
        self, survey: Survey, follow_up: FollowUp, *, next_step: str | None, now: datetime
    ) -> Answer:
        added = (
            "follow_ups = json_insert(follow_ups, '$[#]', json(?))"
            if self.db.dialect == SQLITE
            else "follow_ups = (follow_ups::jsonb || jsonb_build_array(?::jsonb))::text"
        )
        return await self._update_answer(survey, added, (follow_up.model_dump_json(),), next_step, now)

    async def record_text(
        self,
        survey: Survey,
        question_id: str,
        text: str | None,
        *,
        next_step: str | None,
        now: datetime,
        case_deadline: date | None = None,
    ) -> Answer:
        if text is None:
            return await self._update_answer(survey, "texts = texts", (), next_step, now, case_deadline)
        written = (
            "texts = json_set(texts, '$.' || json_quote(?), ?)"
            if self.db.dialect == SQLITE
            else TEXT_SET_IN_ORDER
        )
        return await self._update_answer(survey, written, (question_id, text), next_step, now, case_deadline)

    async def record_whole_answer(
        self,
        dossier_id: int,
        *,
        channel: str,
        chat_id: str,
        question_set: str,
        rating: Rating,
        option_id: str,
        follow_ups: Sequence[FollowUp],
        texts: Mapping[str, str],
        answered_at: datetime,
        now: datetime,
        case_deadline: date | None = None,
        dossier_late: bool | None = None,
    ) -> Answer:
        values = (
            dossier_id, channel, chat_id, question_set, rating.value, option_id,
            json.dumps([f.model_dump() for f in follow_ups], ensure_ascii=False),
            json.dumps(dict(texts), ensure_ascii=False), iso(answered_at), iso(now), dossier_late, dossier_id,
        )  # fmt: skip

        def record(db: Connection) -> Row:
            row = first(
                db,
                "INSERT INTO answers (dossier_id, channel, chat_id, question_set, question_set_version,"
                " rating, rating_option, follow_ups, texts, answered_at, completed_at, dossier_late,"
                f" letter_sent) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, {_LETTER_SENT})"
                f" ON CONFLICT (dossier_id) DO NOTHING RETURNING {_ANSWER_COLUMNS}",
                values,
            )
            if row is None:
                raise AlreadyAnswered(str(dossier_id))
            if case_deadline is not None:
                open_case(db, dossier_id, case_deadline, now)
            return row

        return answer(await self.db.write(record))

    async def answered_since(self, channel: str, chat_id: str, since: datetime) -> bool:
        row = await self.db.read_one(
            "SELECT 1 FROM answers WHERE channel = ? AND chat_id = ? AND answered_at >= ? LIMIT 1",
            (channel, chat_id, iso(since)),
        )
        return row is not None

    async def list_answers(self, unit_code: str | None = None) -> list[AnswerRow]:
        sql = (
            f"SELECT {_ANSWER_COLUMNS_OF_A}, d.code AS dossier_code, d.unit_code, u.name AS unit_name,"
            " d.procedure, c.id AS case_id, c.state AS case_state, d.citizen_name, d.phone FROM answers a"
            " JOIN dossiers d ON d.id = a.dossier_id JOIN units u ON u.code = d.unit_code"
            " LEFT JOIN cases c ON c.dossier_id = a.dossier_id"
        )
        params: tuple[Any, ...] = ()
        if unit_code is not None:
            sql = (
                "WITH RECURSIVE subtree(code) AS (SELECT ? UNION ALL"
                " SELECT units.code FROM units JOIN subtree ON units.parent_code = subtree.code) "
                + sql
                + " WHERE d.unit_code IN (SELECT code FROM subtree)"
            )
            params = (unit_code,)
        rows = await self.db.read(sql + " ORDER BY a.answered_at, a.id", params)
        return [
            AnswerRow(
                dossier_code=r["dossier_code"], unit_code=r["unit_code"], unit_name=r["unit_name"],
                procedure=r["procedure"], answer=answer(r), case_id=r["case_id"], case_state=r["case_state"],
                citizen_name=r["citizen_name"], phone=r["phone"],
            )
            for r in rows
        ]  # fmt: skip
