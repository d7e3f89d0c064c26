-- Imported question sets, every version kept; the audit trail of admin changes.
CREATE TABLE question_sets (
    id          INTEGER PRIMARY KEY,
    set_id      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    source      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    active      INTEGER NOT NULL DEFAULT 0,
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    UNIQUE (set_id, version),
    UNIQUE (set_id, fingerprint)
);

-- Counting a version's answers for the listing.
CREATE INDEX answers_question_set ON answers(question_set, question_set_version);

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX audit_at ON audit(at);
