"""The SQLite backend, the embedded default: one module per aggregate over the shared `db`."""

from __future__ import annotations

import fcntl
import os
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from storage.base import AlreadyServing, Storage
from storage.sqlite.api_keys import SQLiteApiKeys
from storage.sqlite.audit import SQLiteAudit
from storage.sqlite.cases import SQLiteCases
from storage.sqlite.chats import SQLiteChats
from storage.sqlite.db import Database, make_folder, migrations, unavailable
from storage.sqlite.digests import SQLiteDigests
from storage.sqlite.directory import SQLiteDirectory
from storage.sqlite.dossiers import SQLiteDossiers
from storage.sqlite.letters import SQLiteLetters
from storage.sqlite.outbox import SQLiteOutbox
from storage.sqlite.privacy import SQLitePrivacy
from storage.sqlite.question_sets import SQLiteQuestionSets
from storage.sqlite.reports import SQLiteReports
from storage.sqlite.surveys import SQLiteSurveys
from storage.sqlite.zalo_oa import SQLiteZaloOA


class SQLiteStorage(Storage):
    """Every repository over one SQLite file (WAL mode; `synchronous` as SQLite's pragma)."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.db = Database(path, synchronous=synchronous)
        self.path = self.db.path
        self.dossiers = SQLiteDossiers(self.db)
        self.chats = SQLiteChats(self.db)
        self.surveys = SQLiteSurveys(self.db)
        self.directory = SQLiteDirectory(self.db)
        self.cases = SQLiteCases(self.db)
        self.outbox = SQLiteOutbox(self.db)
        self.digests = SQLiteDigests(self.db)
        self.question_sets = SQLiteQuestionSets(self.db)
        self.audit = SQLiteAudit(self.db)
        self.api_keys = SQLiteApiKeys(self.db)
        self.letters = SQLiteLetters(self.db)
        self.privacy = SQLitePrivacy(self.db)
        self.zalo_oa = SQLiteZaloOA(self.db)
        self.reports = SQLiteReports(self.db)
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
