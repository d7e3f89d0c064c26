-- The intake API: dossiers as the one-stop software describes them, their history, and the keys
-- it calls with.
-- What the one-stop software says of a dossier; `state` is the type of its latest event by time.
ALTER TABLE dossiers ADD COLUMN received_at TEXT;
ALTER TABLE dossiers ADD COLUMN due_at TEXT;
ALTER TABLE dossiers ADD COLUMN citizen_name TEXT;
ALTER TABLE dossiers ADD COLUMN phone TEXT;
ALTER TABLE dossiers ADD COLUMN channel_hint TEXT;
ALTER TABLE dossiers ADD COLUMN state TEXT;
ALTER TABLE dossiers ADD COLUMN updated_at TEXT;

-- A dossier's history. The same type at the same time is one event, however often it is reported.
CREATE TABLE dossier_events (
    id          INTEGER PRIMARY KEY,
    dossier_id  INTEGER NOT NULL REFERENCES dossiers(id),
    type        TEXT NOT NULL
                CHECK (type IN ('received', 'supplement_requested', 'supplement_received', 'extended',
                                'suspended', 'withdrawn', 'returned')),
    at          TEXT NOT NULL,
    reason      TEXT,
    until       TEXT,
    new_due_at  TEXT,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    UNIQUE (dossier_id, type, at)
);

-- Only the hash of a key's secret is kept; `units` is the JSON list of the unit codes it may touch.
CREATE TABLE api_keys (
    name         TEXT PRIMARY KEY,
    key_hash     TEXT NOT NULL UNIQUE,
    units        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
) WITHOUT ROWID;
