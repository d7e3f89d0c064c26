"""Storage.ping, what /readyz asks: a trivial read that answers while the database is open."""

from __future__ import annotations

import pytest

from storage.base import DatabaseUnavailable, Storage


async def test_ping_answers_while_the_database_is_open(db: Storage):
    await db.ping()


async def test_ping_of_a_closed_database_raises_database_unavailable(db: Storage):
    await db.close()
    with pytest.raises(DatabaseUnavailable):
        await db.ping()
