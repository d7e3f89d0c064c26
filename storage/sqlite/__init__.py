"""The SQLite backend, the embedded default: one module per aggregate over the shared `db`."""

from __future__ import annotations

from pathlib import Path

from storage.base import Storage
from storage.sqlite.audit import SQLiteAudit
from storage.sqlite.cases import SQLiteCases
from storage.sqlite.chats import SQLiteChats
from storage.sqlite.db import Database, migrations
from storage.sqlite.digests import SQLiteDigests
from storage.sqlite.directory import SQLiteDirectory
from storage.sqlite.dossiers import SQLiteDossiers
from storage.sqlite.outbox import SQLiteOutbox
from storage.sqlite.question_sets import SQLiteQuestionSets
from storage.sqlite.surveys import SQLiteSurveys


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

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()


__all__ = ["SQLiteStorage", "migrations"]
