"""A citizen's personal data: read back for them, and erased on request or after the retention
period. Where personal data lives (each a known column): dossiers.citizen_name and .phone; chat
ids in dossier_chats, answers, surveys, chats, invitations, notices, letter_deliveries,
wrong_codes and undelivered_replies (a ZNS chat id is the phone); free texts in answers.texts,
cases.resolution and case_events.note; and names, phones or chat ids an audit detail may quote."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from storage.base import PrivacyRepository
from storage.records import (
    OPEN_STATES,
    Forgotten,
    PersonalAnswer,
    PersonalCase,
    PersonalCaseEvent,
    PersonalData,
    PersonalDossier,
)
from storage.sql.common import (
    Connection,
    Database,
    first,
    iso,
    json_list,
    json_record,
    placeholders,
    position,
    record_audit,
)

ERASED = "[đã xóa]"  # what an audit detail says where a name, phone or chat id was
# A bare chat id shorter than this is not scrubbed from audit details: "1001" could be part of
# anything. Real Telegram and Zalo ids are longer; `channel:chat_id` is scrubbed whatever its length.
SCRUBBED_ID_LENGTH = 6
CHUNK = 500


class SqlPrivacy(PrivacyRepository):
    def __init__(self, db: Database) -> None:
        self.db = db
        event = json_record(db.dialect, ("at", "e.at"), ("action", "e.action"), ("note", "e.note"))
        self._events = json_list(db.dialect, event, order="e.id")

    async def personal_data(self, channel: str, chat_id: str) -> PersonalData:
        chat = await self.db.read_one(
            "SELECT language, notice_at, consent, consent_at FROM chats WHERE channel = ? AND chat_id = ?",
            (channel, chat_id),
        )
        dossiers = await self.db.read(
            "SELECT d.code, d.procedure, u.name AS unit_name, MIN(x.linked_at) AS linked_at FROM ("
            " SELECT dossier_id, linked_at FROM dossier_chats WHERE channel = ?1 AND chat_id = ?2"
            " UNION ALL SELECT dossier_id, started_at FROM surveys WHERE channel = ?1 AND chat_id = ?2"
            " UNION ALL SELECT dossier_id, NULL FROM answers WHERE channel = ?1 AND chat_id = ?2) x"
            " JOIN dossiers d ON d.id = x.dossier_id JOIN units u ON u.code = d.unit_code"
            " GROUP BY d.id, u.name ORDER BY d.id",
            (channel, chat_id),
        )
        answers = await self.db.read(
            "SELECT d.code AS dossier_code, d.procedure, a.channel, a.rating, a.rating_option, a.follow_ups,"
            " a.texts, a.answered_at, a.completed_at FROM answers a JOIN dossiers d ON d.id = a.dossier_id"
            " WHERE a.channel = ? AND a.chat_id = ? ORDER BY a.id",
            (channel, chat_id),
        )
        cases = await self.db.read(
            "SELECT c.id, d.code AS dossier_code, u.name AS unit_name, c.state, c.opened_at, c.deadline,"
            f" c.resolution, (SELECT {self._events}"
            " FROM (SELECT * FROM case_events WHERE case_id = c.id ORDER BY id) e) AS events"
            " FROM cases c JOIN answers a ON a.dossier_id = c.dossier_id"
            " JOIN dossiers d ON d.id = c.dossier_id JOIN units u ON u.code = c.unit_code"
            " WHERE a.channel = ? AND a.chat_id = ? ORDER BY c.id",
            (channel, chat_id),
        )
        return PersonalData(
            channel=channel,
            chat_id=chat_id,
            language=chat["language"] if chat else None,
            notice_at=chat["notice_at"] if chat else None,
            consent=chat["consent"] if chat else None,
            consent_at=chat["consent_at"] if chat else None,
            dossiers=[PersonalDossier.model_validate(dict(r)) for r in dossiers],
            answers=[
                PersonalAnswer.model_validate(
                    {**dict(r), "follow_ups": json.loads(r["follow_ups"]), "texts": json.loads(r["texts"])}
                )
                for r in answers
            ],
            cases=[
                PersonalCase.model_validate(
                    {
                        **dict(r),
                        "events": [PersonalCaseEvent.model_validate(e) for e in json.loads(r["events"])],
                    }
                )
                for r in cases
            ],
        )

    async def forget_chat(
        self, channel: str, chat_id: str, *, actor: str, now: datetime, note: str
    ) -> Forgotten:
        def forget(db: Connection) -> Forgotten:
            # The dossiers this chat answered are its citizen's: their personal data goes. A dossier
            # it only opened (anyone with the receipt can) loses this chat's link, nothing else.
            ids = [
                int(r[0])
                for r in db.execute(
                    "SELECT dossier_id FROM answers WHERE channel = ? AND chat_id = ?", (channel, chat_id)
                ).fetchall()
            ]
            chat = (channel, chat_id)
            db.execute("DELETE FROM dossier_chats WHERE channel = ? AND chat_id = ?", chat)
            db.execute(
                f"UPDATE invitations SET {_retired('skipped')} WHERE channel = ? AND chat_id = ?", chat
            )
            db.execute(
                f"UPDATE letter_deliveries SET {_retired('failed')} WHERE channel = ? AND chat_id = ?", chat
            )
            forgotten = erase(db, ids, now, note, chats={chat})
            record_audit(db, actor, "personal data erased", describe(forgotten), now)
            return forgotten

        return await self.db.write(forget)

    async def forget_dossiers(
        self, dossier_ids: Sequence[int], *, actor: str, now: datetime, note: str
    ) -> Forgotten:
        def forget(db: Connection) -> Forgotten:
            forgotten = erase(db, list(dossier_ids), now, note, chats=set())
            record_audit(db, actor, "personal data erased", describe(forgotten), now)
            return forgotten

        return await self.db.write(forget)

    async def dossiers_of_phone(self, phone: str) -> list[int]:
        rows = await self.db.read("SELECT id FROM dossiers WHERE phone = ? ORDER BY id", (phone,))
        return [int(r[0]) for r in rows]

    async def inactive_dossiers(self, before: datetime, limit: int = 500) -> list[int]:
        open_states = [s.value for s in OPEN_STATES]
        rows = await self.db.read(
            "SELECT d.id FROM dossiers d INDEXED BY dossiers_not_erased"
            " WHERE d.erased_at IS NULL AND COALESCE(d.updated_at, d.created_at) < ?"
            " AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.dossier_id = d.id"
            "  AND COALESCE(a.completed_at, a.answered_at) >= ?)"
            " AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.dossier_id = d.id"
            f"  AND (c.updated_at >= ? OR c.state IN ({placeholders(open_states)})))"
            " ORDER BY d.id LIMIT ?",
            (iso(before), iso(before), iso(before), *open_states, limit),
        )
        return [int(r[0]) for r in rows]


def describe(forgotten: Forgotten) -> str:
    """The audit detail of an erasure: counts only, so the audit names no one."""
    return (
        f"{forgotten.dossiers} dossiers, {forgotten.answers} answers, {forgotten.chats} chats,"
        f" {len(forgotten.closed_cases)} open cases closed"
    )


def erase(
    db: Connection, dossier_ids: list[int], now: datetime, note: str, *, chats: set[tuple[str, str]]
) -> Forgotten:
    """Inside the caller's transaction: erases the dossiers' personal data and, with `chats`, those
    chats altogether (their language, consent, wrong codes, undelivered replies, surveys)."""
    at = iso(now)
    scrubbed: set[str] = set()
    phoned: set[str] = set()  # the dossiers' phones
    answers = 0
    closed: list[int] = []
    forgotten_chats = set(chats)
    for chunk in chunks(dossier_ids):
        marks = placeholders(chunk)
        for name, phone in db.execute(
            f"SELECT citizen_name, phone FROM dossiers WHERE id IN ({marks})", chunk
        ).fetchall():
            scrubbed.update(v for v in (name, phone) if v)
            phoned.update([phone] if phone else [])
        forgotten_chats.update(
            (str(c), str(i))
            for c, i in db.execute(
                f"SELECT channel, chat_id FROM dossier_chats WHERE dossier_id IN ({marks})"
                " UNION SELECT channel, chat_id FROM answers"
                f" WHERE dossier_id IN ({marks}) AND chat_id != ''",
                chunk * 2,
            ).fetchall()
        )
        case_ids = [
            int(r[0]) for r in db.execute(f"SELECT id FROM cases WHERE dossier_id IN ({marks})", chunk)
        ]
        open_states = [s.value for s in OPEN_STATES]
        for (case_id,) in db.execute(
            f"SELECT id FROM cases WHERE dossier_id IN ({marks}) AND state IN ({placeholders(open_states)})",
            (*chunk, *open_states),
        ).fetchall():
            closed.append(int(case_id))
        if case_ids:
            cases = placeholders(case_ids)
            db.execute(f"UPDATE case_events SET note = NULL WHERE case_id IN ({cases})", case_ids)
            db.execute(
                f"UPDATE cases SET resolution = CASE WHEN state IN ({placeholders(open_states)}) THEN ?"
                f" ELSE NULL END, state = CASE WHEN state IN ({placeholders(open_states)}) THEN 'closed'"
                f" ELSE state END, updated_at = ? WHERE id IN ({cases})",
                (*open_states, note, *open_states, at, *case_ids),
            )
            db.executemany(
                "INSERT INTO case_events (case_id, at, actor, action, note)"
                " VALUES (?, ?, 'citizen', 'withdrawn', ?)",
                [(case_id, at, note) for case_id in closed if case_id in case_ids],
            )
            db.execute(
                f"UPDATE notices SET {_retired('skipped')} WHERE case_id IN ({cases}) AND person_id IS NULL",
                case_ids,
            )
        answers += db.execute(
            f"UPDATE answers SET chat_id = '', texts = '{{}}' WHERE dossier_id IN ({marks})", chunk
        ).rowcount
        db.execute(f"DELETE FROM surveys WHERE dossier_id IN ({marks})", chunk)
        db.execute(f"DELETE FROM dossier_chats WHERE dossier_id IN ({marks})", chunk)
        db.execute(
            f"UPDATE invitations SET {_retired('skipped')} WHERE dossier_id IN ({marks})",
            chunk,
        )
        db.execute(
            f"UPDATE letter_deliveries SET {_retired('failed')}"
            f" WHERE letter_id IN (SELECT id FROM letters WHERE dossier_id IN ({marks}))",
            chunk,
        )
        db.execute(f"UPDATE zns_messages SET phone = 'erased-' || id WHERE dossier_id IN ({marks})", chunk)
        db.execute(
            f"UPDATE dossiers SET citizen_name = NULL, phone = NULL, erased_at = ? WHERE id IN ({marks})",
            (at, *chunk),
        )
    for channel, chat_id in forgotten_chats:
        # A chat left with nothing (no link, survey or answer of a dossier not erased) goes whole;
        # the one that asked (`chats`) goes whatever else it had.
        if (channel, chat_id) not in chats and first(
            db,
            "SELECT 1 FROM dossier_chats WHERE channel = ?1 AND chat_id = ?2"
            " UNION ALL SELECT 1 FROM surveys WHERE channel = ?1 AND chat_id = ?2"
            " UNION ALL SELECT 1 FROM answers WHERE channel = ?1 AND chat_id = ?2 LIMIT 1",
            (channel, chat_id),
        ):
            continue
        for table in ("chats", "surveys", "wrong_codes", "undelivered_replies"):
            db.execute(f"DELETE FROM {table} WHERE channel = ? AND chat_id = ?", (channel, chat_id))
    phones = sorted(phoned | {chat_id for channel, chat_id in forgotten_chats if channel == "zns"})
    if phones:  # ZNS to the phone for no dossier, and the note that it has no Zalo, go too
        db.execute(
            f"UPDATE zns_messages SET phone = 'erased-' || id WHERE phone IN ({placeholders(phones)})", phones
        )
        db.execute(f"DELETE FROM zns_phones_without_zalo WHERE phone IN ({placeholders(phones)})", phones)
    for channel, chat_id in forgotten_chats:
        if channel == "zalo_oa":  # a follow or unfollow is kept by the follower's id
            for kind in ("follow", "unfollow"):
                db.execute(
                    "UPDATE zalo_oa_events SET event_key = event_name || ':erased-' || id"
                    " WHERE event_key LIKE ? ESCAPE '\\'",
                    (f"{kind}:{_like(chat_id)}:%",),
                )
        scrubbed.add(f"{channel}:{chat_id}")
        if len(chat_id) >= SCRUBBED_ID_LENGTH:
            scrubbed.add(chat_id)
    for value in sorted(scrubbed, key=len, reverse=True):  # "telegram:123456" before "123456"
        db.execute(
            "UPDATE audit SET detail = REPLACE(detail, ?1, ?2)"
            f" WHERE {position(db.dialect, '?1', 'detail')} > 0",
            (value, ERASED),
        )
    return Forgotten(
        dossiers=len(dossier_ids), answers=answers, chats=len(forgotten_chats), closed_cases=sorted(closed)
    )


def _like(text: str) -> str:
    """Text matched literally by LIKE ... ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _retired(status: str) -> str:
    """The assignments that take an outbox row's chat id away, and give it up if still pending."""
    return (
        "chat_id = CASE WHEN chat_id IS NULL THEN NULL ELSE 'erased-' || id END,"
        f" status = CASE WHEN status = 'pending' THEN '{status}' ELSE status END,"
        " error = CASE WHEN status = 'pending' THEN 'personal data erased' ELSE error END"
    )


def chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    batch: list[int] = []
    for one in ids:
        batch.append(one)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch
