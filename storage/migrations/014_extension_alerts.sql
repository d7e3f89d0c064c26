-- A unit head may hand an at-risk dossier's extension to a staff member of the unit, who may then
-- extend it as the head would.
ALTER TABLE dossiers ADD COLUMN extension_delegate_id INTEGER REFERENCES people(id);

-- What heads and staff are told about a dossier outside the digest and the complaint loop: a staff
-- member handed its extension; a dossier rescheduled twice, told to its unit's head and to the head
-- of the unit above. Each is claimed for a lease (announced_at) before it is sent, retried while
-- the chat's failure may pass, and finished with its outcome.
CREATE TABLE dossier_alerts (
    id           INTEGER PRIMARY KEY,
    dossier_id   INTEGER NOT NULL REFERENCES dossiers(id),
    kind         TEXT NOT NULL CHECK (kind IN ('extension_delegated', 'rescheduled_twice')),
    unit_code    TEXT NOT NULL REFERENCES units(code),  -- whose head is told; the staff member's unit
    person_id    INTEGER REFERENCES people(id),         -- extension_delegated: the staff member
    letter_id    INTEGER REFERENCES letters(id),        -- rescheduled_twice: the second letter
    created_at   TEXT NOT NULL,
    announced_at TEXT,
    outcome      TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT
);
CREATE INDEX dossier_alerts_waiting ON dossier_alerts(id) WHERE outcome IS NULL;
-- The digest reads the letters issued the day before.
CREATE INDEX letters_issued ON letters(issued_at);

-- The cool-down of a ZNS survey is by phone: was this phone asked lately?
CREATE INDEX invitations_chat_sent ON invitations(channel, chat_id, sent_at) WHERE status = 'sent';
