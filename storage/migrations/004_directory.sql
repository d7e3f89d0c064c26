-- Units leave the tree by being retired, never deleted; directory files proposed by admins.
ALTER TABLE units ADD COLUMN retired_at TEXT;

CREATE TABLE directory_proposals (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    proposed_at TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    applied_at  TEXT
);
