-- Delivery that survives outages, floods and crashes.
-- A pending invitation or notice is not tried before next_attempt_at (NULL: at once): the time a
-- retry waits for after a passing failure, or the end of the lease of the sender that claimed it.
ALTER TABLE invitations ADD COLUMN next_attempt_at TEXT;
ALTER TABLE notices ADD COLUMN next_attempt_at TEXT;
-- Items the earlier rule gave up after five passing failures (an outage) are tried again; those
-- the platform refused for good (a blocked chat) stay as they are.
UPDATE invitations SET status = 'pending', sent_at = NULL
 WHERE status = 'failed' AND error LIKE 'failed % times';
UPDATE notices SET status = 'pending', sent_at = NULL
 WHERE status = 'failed' AND error LIKE 'failed % times';
-- Given-up notices are listed in the next digest of their case's unit.
CREATE INDEX notices_given_up ON notices(sent_at) WHERE status IN ('unreachable', 'failed');

-- Digests: a claim ('sending') whose lease ran out is taken over; a digest not accepted whole is
-- 'retrying' (again from next_attempt_at) or, refused for good, 'failed'. A CHECK constraint
-- cannot be altered in SQLite: the table is made again with the rows it had.
CREATE TABLE digests_new (
    unit_code       TEXT NOT NULL REFERENCES units(code),
    day             TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('sending', 'sent', 'empty', 'retrying', 'failed', 'unreachable')),
    recipient       TEXT,
    claimed_at      TEXT NOT NULL,
    sent_at         TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    next_attempt_at TEXT,
    PRIMARY KEY (unit_code, day)
) WITHOUT ROWID;
INSERT INTO digests_new (unit_code, day, status, recipient, claimed_at, sent_at)
SELECT unit_code, day, status, recipient, claimed_at, sent_at FROM digests;
DROP TABLE digests;
ALTER TABLE digests_new RENAME TO digests;

-- An answer to what a person sent that the platform did not accept even after waiting out its
-- flood control: kept so that it is seen (`feedback-bot outbox`), not only logged.
CREATE TABLE undelivered_replies (
    id      INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    at      TEXT NOT NULL,
    error   TEXT NOT NULL
);
