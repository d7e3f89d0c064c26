"""The repositories, written once for every SQL backend: one module per aggregate over the shared
`common` helpers, run by the backend's `Database` (storage/sqlite/db.py, storage/postgresql/db.py).

Why one set and not a module per aggregate per backend: the schema is the same on both (times as
ISO text in UTC, flags as 0/1, JSON as text), so nearly every statement is the same text, and two
copies of 3,000 lines of SQL would drift apart. The few statements the dialects spell differently
branch on `db.dialect` where they are written."""

from __future__ import annotations

from storage.base import Storage
from storage.sql.api_keys import SqlApiKeys
from storage.sql.audit import SqlAudit
from storage.sql.cases import SqlCases
from storage.sql.chats import SqlChats
from storage.sql.common import Database
from storage.sql.digests import SqlDigests
from storage.sql.directory import SqlDirectory
from storage.sql.dossiers import SqlDossiers
from storage.sql.letters import SqlLetters
from storage.sql.outbox import SqlOutbox
from storage.sql.privacy import SqlPrivacy
from storage.sql.question_sets import SqlQuestionSets
from storage.sql.reports import SqlReports
from storage.sql.surveys import SqlSurveys
from storage.sql.zalo_oa import SqlZaloOA


class SqlStorage(Storage):
    """Every repository over one database."""

    def __init__(self, db: Database) -> None:
        self.dossiers = SqlDossiers(db)
        self.chats = SqlChats(db)
        self.surveys = SqlSurveys(db)
        self.directory = SqlDirectory(db)
        self.cases = SqlCases(db)
        self.outbox = SqlOutbox(db)
        self.digests = SqlDigests(db)
        self.question_sets = SqlQuestionSets(db)
        self.audit = SqlAudit(db)
        self.api_keys = SqlApiKeys(db)
        self.letters = SqlLetters(db)
        self.privacy = SqlPrivacy(db)
        self.zalo_oa = SqlZaloOA(db)
        self.reports = SqlReports(db)


__all__ = ["SqlStorage"]
