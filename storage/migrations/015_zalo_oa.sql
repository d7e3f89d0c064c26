-- Zalo Official Account (OA) and ZNS.
-- The OA's token pair: one row. `generation` grows with every write, and a write names the
-- generation it read (compare-and-set), so of two processes refreshing at once one wins and the
-- other reloads. `seed_hash` is the SHA-256 of the ZALO_OA_REFRESH_TOKEN the pair came from: a
-- different token in the environment replaces the pair (an admin's way out of a stranded one).
CREATE TABLE zalo_oa_token (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    access_token      TEXT,
    access_expires_at TEXT,
    refresh_token     TEXT NOT NULL,
    generation        INTEGER NOT NULL,
    refreshed_at      TEXT,
    seed_hash         TEXT NOT NULL,
    seeded_at         TEXT NOT NULL,
    rejected_at       TEXT,
    rejection         TEXT
);

-- Webhook events taken in, each once: by msg_id, or for events without one (follow, unfollow) by
-- event name, user and timestamp.
CREATE TABLE zalo_oa_events (
    id          INTEGER PRIMARY KEY,
    event_key   TEXT NOT NULL UNIQUE,
    event_name  TEXT NOT NULL,
    received_at TEXT NOT NULL
);

-- ZNS template messages: recorded before they are sent (pending), then sent with Zalo's msg_id
-- or failed with its error; `delivered_at` from the user_received_message receipt.
CREATE TABLE zns_messages (
    id           INTEGER PRIMARY KEY,
    purpose      TEXT NOT NULL,
    dossier_id   INTEGER REFERENCES dossiers(id),
    template_id  TEXT NOT NULL,
    tracking_id  TEXT NOT NULL UNIQUE,
    msg_id       TEXT UNIQUE,
    phone        TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'sent', 'delivered', 'failed')),
    created_at   TEXT NOT NULL,
    sent_at      TEXT,
    delivered_at TEXT,
    error        TEXT
);
CREATE INDEX zns_messages_dossier ON zns_messages(dossier_id);

-- Phones Zalo said have no Zalo account (error -118): not tried again.
CREATE TABLE zns_phones_without_zalo (
    phone     TEXT PRIMARY KEY,
    marked_at TEXT NOT NULL
);

-- The ZNS quota as Zalo last told it: one row.
CREATE TABLE zns_quota (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    daily     INTEGER NOT NULL,
    remaining INTEGER NOT NULL,
    as_of     TEXT NOT NULL
);
