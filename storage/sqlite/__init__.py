"""The SQLite backend, the embedded default: the repositories of storage/sql over one SQLite file."""

from __future__ import annotations

import fcntl
import os
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from storage.base import AlreadyServing
from storage.sql import SqlStorage
from storage.sqlite.db import Database, make_folder, migrations, unavailable


class SQLiteStorage(SqlStorage):
    """Every repository over one SQLite file (WAL mode; `synchronous` as SQLite's pragma)."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.db = Database(path, synchronous=synchronous)
        self.path = self.db.path
        super().__init__(self.db)
        self._serving: TextIO | None = None

    async def open(self) -> None:
        await self.db.open()

    async def claim_serving(self) -> None:
        """Needs no open database, so a second run is refused before it migrates anything."""
        if self.path != ":memory:" and self._serving is None:
            try:
                self._serving = _lock(self.path)
            except OSError as exc:
                raise unavailable(self.path, exc) from exc

    async def ping(self) -> None:
        try:
            await self.db.read("SELECT 1")
        except (sqlite3.Error, RuntimeError) as exc:  # RuntimeError: not open, or closed
            raise unavailable(self.path, exc, "read") from exc

    async def close(self) -> None:
        await self.db.close()
        if self._serving is not None:
            self._serving.close()
            self._serving = None


def _lock(database: str) -> TextIO:
    """An exclusive lock on a file beside the database (one, whichever way its path is written),
    naming who holds it. The kernel drops it when the process ends, kill -9 included, so a crashed
    bot never blocks the next start."""
    path = Path(database).resolve()
    make_folder(path.parent)
    lock = open(f"{path}.lock", "a+", encoding="utf-8")  # noqa: SIM115 - held until the storage closes
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise AlreadyServing(holder) from None
    lock.seek(0)
    lock.truncate()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    lock.write(f"feedback-bot run (pid {os.getpid()} on {socket.gethostname()}, since {started})\n")
    lock.flush()
    return lock


__all__ = ["SQLiteStorage", "migrations"]
