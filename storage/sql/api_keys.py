"""Keys the one-stop software calls the intake API with: a name, the units it may touch, and the
hash of its secret."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from storage.base import ApiKeyRepository, DuplicateApiKey, UnknownApiKey, UnknownUnit
from storage.records import ApiKey
from storage.sql.common import Connection, Database, Row, first, iso, placeholders, record_audit

# `units` is stored as a JSON list of unit codes, in the order given.
_COLUMNS = "name, units, created_at, created_by, revoked_at, last_used_at"
_API_KEY = f"SELECT {_COLUMNS} FROM api_keys"


def api_key(row: Row) -> ApiKey:
    return ApiKey.model_validate({**dict(row), "units": tuple(json.loads(row["units"]))})


class SqlApiKeys(ApiKeyRepository):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_api_key(
        self, name: str, key_hash: str, units: Sequence[str], *, actor: str, now: datetime
    ) -> ApiKey:
        def create(db: Connection) -> Row:
            known = {
                row[0]
                for row in db.execute(f"SELECT code FROM units WHERE code IN ({placeholders(units)})", units)
            }
            for code in units:
                if code not in known:
                    raise UnknownUnit(code)
            row = first(
                db,
                "INSERT INTO api_keys (name, key_hash, units, created_at, created_by) VALUES (?, ?, ?, ?, ?)"
                f" ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
                (name, key_hash, json.dumps(list(units)), iso(now), actor),
            )
            if row is None:
                raise DuplicateApiKey(name)
            record_audit(db, actor, "api key created", f"{name}: {', '.join(units)}", now)
            return row

        return api_key(await self.db.write(create))

    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        row = await self.db.read_one(f"{_API_KEY} WHERE key_hash = ?", (key_hash,))
        return api_key(row) if row else None

    async def list_api_keys(self) -> list[ApiKey]:
        return [api_key(r) for r in await self.db.read(f"{_API_KEY} ORDER BY name")]

    async def revoke_api_key(self, name: str, *, actor: str, now: datetime) -> ApiKey:
        def revoke(db: Connection) -> Row:
            revoked = first(
                db,
                "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"
                f" RETURNING {_COLUMNS}",
                (iso(now), name),
            )
            if revoked is not None:
                record_audit(db, actor, "api key revoked", name, now)
                return revoked
            row = first(db, f"{_API_KEY} WHERE name = ?", (name,))
            if row is None:
                raise UnknownApiKey(name)
            return row

        return api_key(await self.db.write(revoke))

    async def touch_api_key(self, name: str, at: datetime) -> None:
        # Requests may finish out of order: the latest use is kept.
        await self.db.execute(
            "UPDATE api_keys SET last_used_at = ?"
            " WHERE name = ? AND (last_used_at IS NULL OR last_used_at < ?)",
            (iso(at), name, iso(at)),
        )
