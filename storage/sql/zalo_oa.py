"""The Zalo Official Account's tables (migration 015): the token pair, webhook events, ZNS
messages, phones without Zalo and the last known quota."""

from __future__ import annotations

from datetime import datetime

from storage.base import DuplicateZnsMessage, UnknownZnsMessage, ZaloOARepository
from storage.sql.common import Connection, Database, Row, first, iso
from storage.zalo_oa_records import OAToken, OAWebhookEvent, ZnsMessage, ZnsQuota

_TOKEN = (
    "SELECT access_token, access_expires_at, refresh_token, generation, refreshed_at, seed_hash,"
    " seeded_at, rejected_at, rejection FROM zalo_oa_token WHERE id = 1"
)
_ZNS_COLUMNS = (
    "id, purpose, dossier_id, template_id, tracking_id, msg_id, phone, status, created_at, sent_at,"
    " delivered_at, error"
)
_ZNS = f"SELECT {_ZNS_COLUMNS} FROM zns_messages"


def _token(row: Row | None) -> OAToken | None:
    return OAToken.model_validate(dict(row)) if row is not None else None


def _zns(row: Row) -> ZnsMessage:
    return ZnsMessage.model_validate(dict(row))


class SqlZaloOA(ZaloOARepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_oa_token(self) -> OAToken | None:
        return _token(await self.db.read_one(_TOKEN))

    async def seed_oa_token(self, refresh_token: str, seed_hash: str, now: datetime) -> OAToken:
        def seed(db: Connection) -> Row:
            db.execute(
                "INSERT INTO zalo_oa_token (id, refresh_token, generation, seed_hash, seeded_at)"
                " VALUES (1, ?, 1, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET access_token = NULL, access_expires_at = NULL,"
                " refresh_token = excluded.refresh_token, generation = zalo_oa_token.generation + 1,"
                " refreshed_at = NULL, seed_hash = excluded.seed_hash, seeded_at = excluded.seeded_at,"
                " rejected_at = NULL, rejection = NULL"
                " WHERE zalo_oa_token.seed_hash <> excluded.seed_hash",
                (refresh_token, seed_hash, iso(now)),
            )
            row = first(db, _TOKEN)
            assert row is not None
            return row

        found = _token(await self.db.write(seed))
        assert found is not None
        return found

    async def save_oa_token(
        self,
        generation: int,
        *,
        access_token: str,
        access_expires_at: datetime,
        refresh_token: str,
        now: datetime,
    ) -> OAToken | None:
        def save(db: Connection) -> Row | None:
            changed = db.execute(
                "UPDATE zalo_oa_token SET access_token = ?, access_expires_at = ?, refresh_token = ?,"
                " generation = generation + 1, refreshed_at = ?, rejected_at = NULL, rejection = NULL"
                " WHERE id = 1 AND generation = ?",
                (access_token, iso(access_expires_at), refresh_token, iso(now), generation),
            ).rowcount
            return first(db, _TOKEN) if changed else None

        return _token(await self.db.write(save))

    async def mark_oa_token_rejected(self, generation: int, error: str, now: datetime) -> bool:
        def mark(db: Connection) -> bool:
            return bool(
                db.execute(
                    "UPDATE zalo_oa_token SET rejected_at = ?, rejection = ? WHERE id = 1 AND generation = ?",
                    (iso(now), error, generation),
                ).rowcount
            )

        return await self.db.write(mark)

    async def record_webhook_event(self, event_key: str, event_name: str, received_at: datetime) -> bool:
        def record(db: Connection) -> bool:
            return (
                first(
                    db,
                    "INSERT INTO zalo_oa_events (event_key, event_name, received_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (event_key) DO NOTHING RETURNING id",
                    (event_key, event_name, iso(received_at)),
                )
                is not None
            )

        return await self.db.write(record)

    async def last_webhook_event(self) -> OAWebhookEvent | None:
        row = await self.db.read_one(
            "SELECT event_key, event_name, received_at FROM zalo_oa_events"
            " ORDER BY received_at DESC, id DESC LIMIT 1"
        )
        return OAWebhookEvent.model_validate(dict(row)) if row is not None else None

    async def add_zns_message(
        self,
        *,
        purpose: str,
        dossier_id: int | None,
        template_id: str,
        tracking_id: str,
        phone: str,
        now: datetime,
    ) -> ZnsMessage:
        def add(db: Connection) -> Row:
            row = first(
                db,
                "INSERT INTO zns_messages (purpose, dossier_id, template_id, tracking_id, phone, created_at)"
                f" VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tracking_id) DO NOTHING RETURNING {_ZNS_COLUMNS}",
                (purpose, dossier_id, template_id, tracking_id, phone, iso(now)),
            )
            if row is None:
                raise DuplicateZnsMessage(tracking_id)
            return row

        return _zns(await self.db.write(add))

    async def _change(self, tracking_id: str, sql: str, params: tuple[object, ...]) -> ZnsMessage:
        def change(db: Connection) -> Row:
            row = first(db, f"UPDATE zns_messages SET {sql} WHERE tracking_id = ? RETURNING {_ZNS_COLUMNS}",
                        (*params, tracking_id))  # fmt: skip
            if row is None:
                raise UnknownZnsMessage(tracking_id)
            return row

        return _zns(await self.db.write(change))

    async def mark_zns_sent(self, tracking_id: str, msg_id: str, now: datetime) -> ZnsMessage:
        # A receipt may come before the answer to the send is recorded: delivered stays delivered.
        return await self._change(
            tracking_id,
            "msg_id = ?, sent_at = ?, error = NULL,"
            " status = CASE status WHEN 'delivered' THEN 'delivered' ELSE 'sent' END",
            (msg_id, iso(now)),
        )

    async def mark_zns_failed(self, tracking_id: str, error: str, now: datetime) -> ZnsMessage:
        return await self._change(tracking_id, "status = 'failed', error = ?", (error,))

    async def record_zns_delivery(self, msg_id: str, delivered_at: datetime) -> ZnsMessage | None:
        def deliver(db: Connection) -> Row | None:
            return first(
                db,
                "UPDATE zns_messages SET status = 'delivered', delivered_at = COALESCE(delivered_at, ?)"
                f" WHERE msg_id = ? RETURNING {_ZNS_COLUMNS}",
                (iso(delivered_at), msg_id),
            )

        row = await self.db.write(deliver)
        return _zns(row) if row is not None else None

    async def zns_message(self, tracking_id: str) -> ZnsMessage | None:
        row = await self.db.read_one(f"{_ZNS} WHERE tracking_id = ?", (tracking_id,))
        return _zns(row) if row is not None else None

    async def zns_message_by_msg_id(self, msg_id: str) -> ZnsMessage | None:
        row = await self.db.read_one(f"{_ZNS} WHERE msg_id = ?", (msg_id,))
        return _zns(row) if row is not None else None

    async def mark_phone_without_zalo(self, phone: str, now: datetime) -> None:
        await self.db.execute(
            "INSERT INTO zns_phones_without_zalo (phone, marked_at) VALUES (?, ?)"
            " ON CONFLICT (phone) DO NOTHING",
            (phone, iso(now)),
        )

    async def phone_without_zalo(self, phone: str) -> bool:
        return (
            await self.db.read_one("SELECT 1 FROM zns_phones_without_zalo WHERE phone = ?", (phone,))
            is not None
        )

    async def save_zns_quota(self, daily: int, remaining: int, as_of: datetime) -> None:
        await self.db.execute(
            "INSERT INTO zns_quota (id, daily, remaining, as_of) VALUES (1, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET daily = excluded.daily, remaining = excluded.remaining,"
            " as_of = excluded.as_of WHERE excluded.as_of >= zns_quota.as_of",
            (daily, remaining, iso(as_of)),
        )

    async def zns_quota(self) -> ZnsQuota | None:
        row = await self.db.read_one("SELECT daily, remaining, as_of FROM zns_quota WHERE id = 1")
        return ZnsQuota.model_validate(dict(row)) if row is not None else None
