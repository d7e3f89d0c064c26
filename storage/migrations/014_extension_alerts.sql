-- A unit head may hand an at-risk dossier's extension to a staff member of the unit, who may then
-- extend it as the head would.
ALTER TABLE dossiers ADD COLUMN extension_delegate_id INTEGER REFERENCES people(id);

-- What heads and staff are told about a dossier outside the digest and the complaint loop: a staff
-- member handed its extension; a dossier rescheduled twice, told to its unit's head and to the head
-- of the unit above. Each is told once, by whichever sender claims it first (announced_at); the
-- digest shows the same facts, so one that did not arrive is not lost.
CREATE TABLE dossier_alerts (
    id           INTEGER PRIMARY KEY,
    dossier_id   INTEGER NOT NULL REFERENCES dossiers(id),
    kind         TEXT NOT NULL CHECK (kind IN ('extension_delegated', 'rescheduled_twice')),
    unit_code    TEXT NOT NULL REFERENCES units(code),  -- whose head is told; the staff member's unit
    person_id    INTEGER REFERENCES people(id),         -- extension_delegated: the staff member
    letter_id    INTEGER REFERENCES letters(id),        -- rescheduled_twice: the second letter
    created_at   TEXT NOT NULL,
    announced_at TEXT,
    outcome      TEXT
);
CREATE INDEX dossier_alerts_waiting ON dossier_alerts(id) WHERE announced_at IS NULL;

-- The cool-down of a ZNS survey is by phone: was this phone asked lately?
CREATE INDEX invitations_chat_sent ON invitations(channel, chat_id, sent_at) WHERE status = 'sent';
