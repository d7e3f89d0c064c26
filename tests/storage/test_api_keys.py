"""ApiKeyRepository: the keys the one-stop software calls the intake API with."""

from __future__ import annotations

import pytest

from storage.base import DuplicateApiKey, Storage, UnknownApiKey, UnknownUnit
from storage.records import ApiKey
from tests.storage.conftest import T0, hours


async def create(db: Storage, name: str = "one-stop", key_hash: str = "h1", units=("Q1", "Q1-BN")) -> ApiKey:
    return await db.api_keys.create_api_key(name, key_hash, list(units), actor="admin:9", now=T0)


async def trail(db: Storage) -> list[tuple[str, str, str | None]]:
    return [
        (e.actor, e.action, e.detail)
        for e in await db.audit.audit_since(T0)
        if e.action.startswith("api key")
    ]


class TestApiKeys:
    async def test_a_key_is_kept_with_its_units_and_found_by_its_hash(self, db: Storage):
        key = await create(db, units=("Q1-BN", "Q1"))
        assert key == ApiKey(name="one-stop", units=("Q1-BN", "Q1"), created_at=T0, created_by="admin:9")
        assert key.revoked_at is None and key.last_used_at is None
        assert await db.api_keys.api_key_by_hash("h1") == key
        assert await db.api_keys.api_key_by_hash("h2") is None
        assert await trail(db) == [("admin:9", "api key created", "one-stop: Q1-BN, Q1")]

    async def test_keys_are_listed_by_name(self, db: Storage):
        assert await db.api_keys.list_api_keys() == []
        zeta = await create(db, "zeta", "h1", ("Q3",))
        alpha = await create(db, "alpha", "h2", ())
        await db.api_keys.revoke_api_key("zeta", actor="admin:9", now=T0 + hours(1))
        assert [(k.name, k.units) for k in await db.api_keys.list_api_keys()] == [
            (alpha.name, ()),
            (zeta.name, ("Q3",)),
        ]

    async def test_a_name_or_hash_is_never_given_twice_even_after_revoking(self, db: Storage):
        first = await create(db)
        with pytest.raises(DuplicateApiKey, match=r"^one-stop$"):
            await create(db, key_hash="h2")
        await db.api_keys.revoke_api_key("one-stop", actor="admin:9", now=T0 + hours(1))
        with pytest.raises(DuplicateApiKey, match=r"^one-stop$"):
            await create(db, key_hash="h2")
        with pytest.raises(DuplicateApiKey, match=r"^other$"):
            await create(db, "other", "h1")
        assert [k.name for k in await db.api_keys.list_api_keys()] == [first.name]
        assert await db.api_keys.api_key_by_hash("h2") is None
        assert [action for _, action, _ in await trail(db)] == ["api key created", "api key revoked"]

    async def test_a_key_for_an_unknown_unit_is_refused(self, db: Storage):
        with pytest.raises(UnknownUnit, match=r"^Q99$"):
            await create(db, units=("Q1", "Q99"))
        assert await db.api_keys.list_api_keys() == []
        assert await trail(db) == []

    async def test_a_revoked_key_stays_revoked_from_the_first_time(self, db: Storage):
        await create(db)
        revoked = await db.api_keys.revoke_api_key("one-stop", actor="admin:9", now=T0 + hours(1))
        assert revoked.revoked_at == T0 + hours(1) and revoked.units == ("Q1", "Q1-BN")
        assert await db.api_keys.api_key_by_hash("h1") == revoked
        again = await db.api_keys.revoke_api_key("one-stop", actor="admin:7", now=T0 + hours(2))
        assert again == revoked
        assert await trail(db) == [
            ("admin:9", "api key created", "one-stop: Q1, Q1-BN"),
            ("admin:9", "api key revoked", "one-stop"),
        ]

    async def test_revoking_an_unknown_key_is_refused(self, db: Storage):
        with pytest.raises(UnknownApiKey, match=r"^nobody$"):
            await db.api_keys.revoke_api_key("nobody", actor="admin:9", now=T0)

    async def test_the_last_use_is_recorded_without_an_audit_entry(self, db: Storage):
        await create(db)
        await create(db, "other", "h2")
        await db.api_keys.touch_api_key("one-stop", T0 + hours(2))
        assert (await db.api_keys.api_key_by_hash("h1")).last_used_at == T0 + hours(2)
        # a request that finished late does not move it back
        await db.api_keys.touch_api_key("one-stop", T0 + hours(1))
        assert (await db.api_keys.api_key_by_hash("h1")).last_used_at == T0 + hours(2)
        await db.api_keys.touch_api_key("one-stop", T0 + hours(3))
        assert (await db.api_keys.api_key_by_hash("h1")).last_used_at == T0 + hours(3)
        assert (await db.api_keys.api_key_by_hash("h2")).last_used_at is None
        assert [action for _, action, _ in await trail(db)] == ["api key created", "api key created"]
