-- Answers collected elsewhere (paper forms, phone surveys, counter kiosks), imported from a file:
-- they have no dossier, so dossier_id may be NULL, and such a row carries its own unit, procedure
-- and import key (a hash of the row as read: importing the same file twice stores nothing new).
-- A NOT NULL cannot be dropped in SQLite: the table is made again with its rows, ids and
-- change_seq kept, then every index and the change_seq triggers of 013 are made again.
-- Every answer carries its unit and procedure: an imported one as imported, the bot's copied from
-- its dossier by triggers (when stored, and whenever the dossier's unit or procedure changes), so
-- that reports group a year's answers from an index alone instead of reading a dossier for each.
CREATE TABLE answers_new (
    id                   INTEGER PRIMARY KEY,
    dossier_id           INTEGER UNIQUE REFERENCES dossiers(id),
    channel              TEXT NOT NULL,
    chat_id              TEXT NOT NULL,
    question_set         TEXT NOT NULL,
    question_set_version INTEGER NOT NULL,
    rating               TEXT NOT NULL CHECK (rating IN ('satisfied', 'neutral', 'unsatisfied')),
    rating_option        TEXT NOT NULL,
    follow_ups           TEXT NOT NULL DEFAULT '[]',
    texts                TEXT NOT NULL DEFAULT '{}',
    answered_at          TEXT NOT NULL,
    completed_at         TEXT,
    dossier_late         INTEGER,
    letter_sent          INTEGER,
    change_seq           INTEGER,
    unit_code            TEXT REFERENCES units(code),
    procedure            TEXT,
    import_key           TEXT UNIQUE,
    -- An answer is either the bot's (a dossier) or imported (a unit and a key), never both.
    CHECK ((dossier_id IS NULL) = (import_key IS NOT NULL)),
    CHECK (dossier_id IS NOT NULL OR unit_code IS NOT NULL)
);
INSERT INTO answers_new (id, dossier_id, channel, chat_id, question_set, question_set_version, rating,
                         rating_option, follow_ups, texts, answered_at, completed_at, dossier_late,
                         letter_sent, change_seq)
SELECT id, dossier_id, channel, chat_id, question_set, question_set_version, rating, rating_option,
       follow_ups, texts, answered_at, completed_at, dossier_late, letter_sent, change_seq
  FROM answers;
UPDATE answers_new SET (unit_code, procedure) = (SELECT d.unit_code, d.procedure FROM dossiers d
                                                  WHERE d.id = answers_new.dossier_id);
DROP TABLE answers;
ALTER TABLE answers_new RENAME TO answers;

CREATE INDEX answers_chat ON answers(channel, chat_id, answered_at);
CREATE INDEX answers_time ON answers(answered_at);
CREATE INDEX answers_question_set ON answers(question_set, question_set_version);
CREATE UNIQUE INDEX answers_change_seq ON answers(change_seq);
-- Reports read a period's answers with what they group by from an index alone; the answers that
-- named a factor apart; a returned dossier's answer by the dossier; returned dossiers likewise.
CREATE INDEX answers_report ON answers(answered_at, rating, unit_code, procedure, channel);
CREATE INDEX answers_named ON answers(answered_at, unit_code) WHERE follow_ups != '[]';
CREATE INDEX answers_dossier_rating ON answers(dossier_id, rating);
CREATE INDEX dossiers_report ON dossiers(returned_at, due_on, unit_code, procedure, state)
    WHERE returned_at IS NOT NULL;

CREATE TRIGGER answers_dossier_copied AFTER INSERT ON answers WHEN NEW.dossier_id IS NOT NULL
BEGIN
    UPDATE answers SET (unit_code, procedure) = (SELECT d.unit_code, d.procedure FROM dossiers d
                                                  WHERE d.id = NEW.dossier_id)
     WHERE id = NEW.id;
END;
CREATE TRIGGER dossiers_answers_follow AFTER UPDATE OF unit_code, procedure ON dossiers
    WHEN NEW.unit_code IS NOT OLD.unit_code OR NEW.procedure IS NOT OLD.procedure
BEGIN
    UPDATE answers SET unit_code = NEW.unit_code, procedure = NEW.procedure WHERE dossier_id = NEW.id;
END;

CREATE TRIGGER answers_changed_on_insert AFTER INSERT ON answers
BEGIN
    UPDATE versions SET value = value + 1 WHERE name = 'answer_changes';
    UPDATE answers SET change_seq = (SELECT value FROM versions WHERE name = 'answer_changes')
     WHERE id = NEW.id;
END;
CREATE TRIGGER answers_changed AFTER UPDATE OF rating, rating_option, follow_ups, texts, completed_at
    ON answers
BEGIN
    UPDATE versions SET value = value + 1 WHERE name = 'answer_changes';
    UPDATE answers SET change_seq = (SELECT value FROM versions WHERE name = 'answer_changes')
     WHERE id = NEW.id;
END;

-- The monthly report by chat: one a unit (or '*', the whole tree, for the admins) and month, claimed
-- before it is sent, like digests; a claim whose lease ran out, or one that reached no one
-- ('failed'), is taken again by a later run.
CREATE TABLE monthly_reports (
    scope      TEXT NOT NULL,
    month      TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    claimed_at TEXT NOT NULL,
    sent_at    TEXT,
    PRIMARY KEY (scope, month)
) WITHOUT ROWID;
