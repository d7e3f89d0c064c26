"""The PostgreSQL backend, for a city: the repositories of storage/sql over a pool of connections,
shared by several bot processes."""

from __future__ import annotations

from storage.postgresql.db import Database, unavailable
from storage.sql import SqlStorage


class PostgreSQLStorage(SqlStorage):
    """Every repository over one PostgreSQL database (`postgresql://user@host[:port]/db`)."""

    def __init__(self, url: str, *, pool_size: int | None = None) -> None:
        self.db = Database(url) if pool_size is None else Database(url, pool_size=pool_size)
        self.path = self.db.path
        self.url = url
        super().__init__(self.db)

    async def open(self) -> None:
        await self.db.open()

    async def claim_serving(self) -> None:
        """Every process serves a PostgreSQL database: what must happen once is claimed row by row,
        and one process a bot polls (bot/leadership.py)."""

    async def ping(self) -> None:
        try:
            await self.db.read("SELECT 1")
        except RuntimeError as exc:  # not open, or closed
            raise unavailable(self.path, exc, "read") from exc

    async def close(self) -> None:
        await self.db.close()


__all__ = ["PostgreSQLStorage"]
