-- Heads and staff, complaint cases with their history, notices to send, digests sent.
CREATE TABLE people (
    id        INTEGER PRIMARY KEY,
    unit_code TEXT NOT NULL REFERENCES units(code),
    role      TEXT NOT NULL CHECK (role IN ('head', 'staff')),
    name      TEXT NOT NULL,
    channel   TEXT NOT NULL,
    chat_id   TEXT NOT NULL,
    active    INTEGER NOT NULL DEFAULT 1,
    UNIQUE (unit_code, role, channel, chat_id)
);
CREATE INDEX people_address ON people(channel, chat_id);

CREATE TABLE cases (
    id          INTEGER PRIMARY KEY,
    dossier_id  INTEGER NOT NULL UNIQUE REFERENCES dossiers(id),
    unit_code   TEXT NOT NULL REFERENCES units(code),
    state       TEXT NOT NULL DEFAULT 'new'
                CHECK (state IN ('new', 'assigned', 'resolved', 'closed', 'reopened')),
    assignee_id INTEGER REFERENCES people(id),
    opened_at   TEXT NOT NULL,
    deadline    TEXT NOT NULL,
    resolution  TEXT,
    updated_at  TEXT NOT NULL
);
CREATE INDEX cases_unit_state ON cases(unit_code, state, opened_at);

-- Every change of a case: who (a person id, or the citizen), when, what, and a note.
CREATE TABLE case_events (
    id      INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    note    TEXT
);
CREATE INDEX case_events_case ON case_events(case_id);

-- Messages about a case for someone other than the person acting: sent by the running bot.
CREATE TABLE notices (
    id         INTEGER PRIMARY KEY,
    case_id    INTEGER NOT NULL REFERENCES cases(id),
    kind       TEXT NOT NULL,
    channel    TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'sent', 'skipped', 'unreachable', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    sent_at    TEXT,
    error      TEXT
);
CREATE INDEX notices_pending ON notices(status) WHERE status = 'pending';

-- One digest a unit and local day: claimed before sending, so it never goes twice.
CREATE TABLE digests (
    unit_code  TEXT NOT NULL REFERENCES units(code),
    day        TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'empty', 'unreachable')),
    recipient  TEXT,
    claimed_at TEXT NOT NULL,
    sent_at    TEXT,
    PRIMARY KEY (unit_code, day)
) WITHOUT ROWID;

-- What the chat's next text answers, such as the resolution note of a case ("note:12").
ALTER TABLE chats ADD COLUMN awaiting TEXT;
