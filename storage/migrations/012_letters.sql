-- Apology letters (thư xin lỗi): one for each `extended` event of a dossier, and its deliveries;
-- the lateness of a dossier kept with its answer; indexes for the lateness watch and table.
CREATE TABLE letters (
    id                INTEGER PRIMARY KEY,
    dossier_id        INTEGER NOT NULL REFERENCES dossiers(id),
    event_id          INTEGER NOT NULL UNIQUE REFERENCES dossier_events(id),
    reason            TEXT NOT NULL,
    due_on            TEXT,
    new_due_at        TEXT,
    issued_at         TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    rescheduled_twice INTEGER NOT NULL DEFAULT 0
);
-- Covering: the lateness table reads each returned dossier's letters by the dossier.
CREATE INDEX letters_dossier ON letters(dossier_id, due_on, issued_at);

-- channel NULL: nothing reaches the citizen (status no_channel); `zns`: chat_id is the phone.
CREATE TABLE letter_deliveries (
    id              INTEGER PRIMARY KEY,
    letter_id       INTEGER NOT NULL REFERENCES letters(id),
    channel         TEXT,
    chat_id         TEXT,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'unreachable', 'failed', 'not_delivered',
                                      'no_channel')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    error           TEXT,
    next_attempt_at TEXT
);
CREATE INDEX letter_deliveries_letter ON letter_deliveries(letter_id);
CREATE INDEX letter_deliveries_pending ON letter_deliveries(status) WHERE status = 'pending';

-- The lateness watch reads open dossiers by due day; the lateness table, returns by time (covering).
CREATE INDEX dossiers_open_due ON dossiers(due_on, unit_code) WHERE returned_at IS NULL;
CREATE INDEX dossiers_returned ON dossiers(returned_at, due_on, unit_code) WHERE returned_at IS NOT NULL;

-- NULL for answers given before this migration: not known.
ALTER TABLE answers ADD COLUMN dossier_late INTEGER;
ALTER TABLE answers ADD COLUMN letter_sent INTEGER;
