"""What the bot keeps about a chat: language, reachability, the typed-number menu, what its next
text answers, and, read with them at once, the chat's survey."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from storage.base import ChatRepository
from storage.records import ChatState, Consent
from storage.sql.common import Connection, Database, iso
from storage.sql.common import first as first_row
from storage.sql.surveys import SURVEY_STATE_COLUMNS, SURVEY_STATE_JOINS, survey

CHAT_STATE = (
    "SELECT c.language, c.unreachable_since, c.awaiting, c.menu, c.notice_at, c.consent,"
    " (SELECT COALESCE(p.last_channel, '') FROM person_contacts pk JOIN people p"
    "  ON p.id = pk.person_id AND p.active = 1"
    "  WHERE pk.channel = k.channel AND pk.chat_id = k.chat_id"
    "  ORDER BY p.last_channel IS NULL LIMIT 1)"
    " AS person_channel, (SELECT value FROM versions WHERE name = 'question_sets') AS question_sets_version,"
    f" {SURVEY_STATE_COLUMNS}"
    " FROM (SELECT ? AS channel, ? AS chat_id) k"
    " LEFT JOIN chats c ON c.channel = k.channel AND c.chat_id = k.chat_id"
    f" LEFT JOIN surveys s ON s.channel = k.channel AND s.chat_id = k.chat_id{SURVEY_STATE_JOINS}"
)


class SqlChats(ChatRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_chat_state(self, channel: str, chat_id: str) -> ChatState:
        row = await self.db.read_one(CHAT_STATE, (channel, chat_id))
        assert row is not None
        return ChatState(
            channel=channel,
            chat_id=chat_id,
            language=row["language"],
            unreachable_since=row["unreachable_since"],
            survey=survey(row) if row["id"] is not None else None,
            awaiting=row["awaiting"],
            menu=tuple(tuple(entry) for entry in json.loads(row["menu"])) if row["menu"] else (),
            is_person=row["person_channel"] is not None,
            person_channel=row["person_channel"] or None,
            question_sets_version=row["question_sets_version"],
            notice_at=row["notice_at"],
            consent=row["consent"],
        )

    async def set_language(self, channel: str, chat_id: str, language: str) -> None:
        await self.db.execute(
            "INSERT INTO chats (channel, chat_id, language) VALUES (?, ?, ?)"
            " ON CONFLICT (channel, chat_id) DO UPDATE SET language = excluded.language",
            (channel, chat_id, language),
        )

    async def mark_unreachable(self, channel: str, chat_id: str, since: datetime) -> None:
        await self.db.execute(
            "INSERT INTO chats (channel, chat_id, unreachable_since) VALUES (?, ?, ?)"
            " ON CONFLICT (channel, chat_id) DO UPDATE"
            " SET unreachable_since = COALESCE(chats.unreachable_since, excluded.unreachable_since)",
            (channel, chat_id, iso(since)),
        )

    async def mark_reachable(self, channel: str, chat_id: str) -> None:
        await self.db.execute(
            "UPDATE chats SET unreachable_since = NULL WHERE channel = ? AND chat_id = ?", (channel, chat_id)
        )

    async def set_awaiting(self, channel: str, chat_id: str, awaiting: str | None) -> None:
        await self.db.execute(
            "INSERT INTO chats (channel, chat_id, awaiting) VALUES (?, ?, ?)"
            " ON CONFLICT (channel, chat_id) DO UPDATE SET awaiting = excluded.awaiting",
            (channel, chat_id, awaiting),
        )

    async def note_notice(self, channel: str, chat_id: str, now: datetime) -> bool:
        def note(db: Connection) -> bool:
            return (
                first_row(
                    db,
                    "INSERT INTO chats (channel, chat_id, notice_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (channel, chat_id) DO UPDATE SET notice_at = excluded.notice_at"
                    " WHERE chats.notice_at IS NULL RETURNING 1",
                    (channel, chat_id, iso(now)),
                )
                is not None
            )

        return await self.db.write(note)

    async def set_consent(self, channel: str, chat_id: str, consent: Consent, now: datetime) -> None:
        def record(db: Connection) -> None:
            db.execute(
                "INSERT INTO chats (channel, chat_id, consent, consent_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (channel, chat_id) DO UPDATE SET consent = excluded.consent,"
                " consent_at = excluded.consent_at, awaiting = NULL",
                (channel, chat_id, consent.value, iso(now)),
            )
            if consent == Consent.REFUSED:
                chat = (channel, chat_id)
                db.execute("DELETE FROM dossier_chats WHERE channel = ? AND chat_id = ?", chat)
                db.execute("DELETE FROM surveys WHERE channel = ? AND chat_id = ?", chat)
                db.execute(
                    "UPDATE invitations SET status = 'skipped', error = 'consent refused'"
                    " WHERE channel = ? AND chat_id = ? AND status = 'pending'",
                    chat,
                )

        await self.db.write(record)

    async def menu_start(
        self, channel: str, chat_id: str, *, adding: int, keep_since: datetime | None, limit: int
    ) -> int:
        if keep_since is None:
            return 1
        row = await self.db.read_one(
            "SELECT menu, menu_at FROM chats WHERE channel = ? AND chat_id = ?", (channel, chat_id)
        )
        if row is None or row["menu_at"] is None or datetime.fromisoformat(row["menu_at"]) <= keep_since:
            return 1
        length = len(json.loads(row["menu"])) if row["menu"] else 0
        return length + 1 if length + adding <= limit else 1

    async def remember_menu(
        self, channel: str, chat_id: str, options: Sequence[tuple[str, str]], *, first: int, now: datetime
    ) -> bool:
        def remember(db: Connection) -> bool:
            menu: list[list[str]] = []
            if first > 1:
                row = first_row(
                    db, "SELECT menu FROM chats WHERE channel = ? AND chat_id = ?", (channel, chat_id)
                )
                menu = json.loads(row["menu"]) if row and row["menu"] else []
                if len(menu) != first - 1:
                    return False
            menu += [[key, label] for key, label in options]
            if not menu:  # nothing to remember: a chat forgotten meanwhile is not made again
                db.execute(
                    "UPDATE chats SET menu = NULL, menu_at = ? WHERE channel = ? AND chat_id = ?",
                    (iso(now), channel, chat_id),
                )
                return True
            db.execute(
                "INSERT INTO chats (channel, chat_id, menu, menu_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (channel, chat_id) DO UPDATE"
                " SET menu = excluded.menu, menu_at = excluded.menu_at",
                (channel, chat_id, json.dumps(menu, ensure_ascii=False) if menu else None, iso(now)),
            )
            return True

        return await self.db.write(remember)
