-- Units, dossiers, chats, survey progress, answers and the outbox of invitations.
CREATE TABLE units (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    parent_code TEXT REFERENCES units(code)
);

CREATE TABLE dossiers (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    unit_code   TEXT NOT NULL REFERENCES units(code),
    procedure   TEXT NOT NULL,
    received_on TEXT,
    due_on      TEXT,
    returned_at TEXT,
    link_id     TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);
CREATE INDEX dossiers_unit ON dossiers(unit_code);

CREATE TABLE chats (
    channel           TEXT NOT NULL,
    chat_id           TEXT NOT NULL,
    language          TEXT,
    unreachable_since TEXT,
    PRIMARY KEY (channel, chat_id)
) WITHOUT ROWID;

-- A chat that opened a survey link before the result was returned waits here for its invitation.
CREATE TABLE dossier_chats (
    dossier_id INTEGER NOT NULL REFERENCES dossiers(id),
    channel    TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    linked_at  TEXT NOT NULL,
    PRIMARY KEY (dossier_id, channel, chat_id)
) WITHOUT ROWID;

-- One row a chat: the survey it is in and the question awaiting an answer (NULL once finished).
CREATE TABLE surveys (
    -- AUTOINCREMENT: an id is never reused, so buttons of a chat's earlier survey stay stale.
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    channel              TEXT NOT NULL,
    chat_id              TEXT NOT NULL,
    dossier_id           INTEGER NOT NULL REFERENCES dossiers(id),
    question_set         TEXT NOT NULL,
    question_set_version INTEGER NOT NULL,
    step                 TEXT,
    started_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (channel, chat_id)
);

-- One answer a dossier: the rating is stored at the first tap, follow-ups and texts as they come.
CREATE TABLE answers (
    id                   INTEGER PRIMARY KEY,
    dossier_id           INTEGER NOT NULL UNIQUE REFERENCES dossiers(id),
    channel              TEXT NOT NULL,
    chat_id              TEXT NOT NULL,
    question_set         TEXT NOT NULL,
    question_set_version INTEGER NOT NULL,
    rating               TEXT NOT NULL CHECK (rating IN ('satisfied', 'neutral', 'unsatisfied')),
    rating_option        TEXT NOT NULL,
    follow_ups           TEXT NOT NULL DEFAULT '[]',
    texts                TEXT NOT NULL DEFAULT '{}',
    answered_at          TEXT NOT NULL,
    completed_at         TEXT
);
CREATE INDEX answers_chat ON answers(channel, chat_id, answered_at);
CREATE INDEX answers_time ON answers(answered_at);

CREATE TABLE invitations (
    id         INTEGER PRIMARY KEY,
    dossier_id INTEGER NOT NULL REFERENCES dossiers(id),
    channel    TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'sent', 'skipped', 'unreachable', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    sent_at    TEXT,
    error      TEXT,
    UNIQUE (dossier_id, channel, chat_id)
);
CREATE INDEX invitations_pending ON invitations(status) WHERE status = 'pending';
