-- PostgreSQL twin of ../016_imported_answers.sql.
-- Answers collected elsewhere (paper forms, phone surveys, counter kiosks), imported from a file:
-- they have no dossier, so dossier_id may be NULL, and such a row carries its own unit, procedure
-- and import key (a hash of the row as read: importing the same file twice stores nothing new).
-- SQLite makes the table again to drop the NOT NULL; here it is altered in place, which keeps the
-- rows, ids, indexes and 013's change_seq triggers, and ends with the same columns in the same order.
-- Every answer carries its unit and procedure: an imported one as imported, the bot's copied from
-- its dossier by triggers (when stored, and whenever the dossier's unit or procedure changes), so
-- that reports group a year's answers from an index alone instead of reading a dossier for each.
ALTER TABLE answers ALTER COLUMN dossier_id DROP NOT NULL;
ALTER TABLE answers ADD COLUMN unit_code TEXT REFERENCES units(code);
ALTER TABLE answers ADD COLUMN procedure TEXT;
ALTER TABLE answers ADD COLUMN import_key TEXT UNIQUE;
UPDATE answers SET (unit_code, procedure) = (SELECT d.unit_code, d.procedure FROM dossiers d
                                              WHERE d.id = answers.dossier_id);
-- An answer is either the bot's (a dossier) or imported (a unit and a key), never both.
ALTER TABLE answers ADD CHECK ((dossier_id IS NULL) = (import_key IS NOT NULL));
ALTER TABLE answers ADD CHECK (dossier_id IS NOT NULL OR unit_code IS NOT NULL);

-- Reports read a period's answers with what they group by from an index alone; the answers that
-- named a factor apart; a returned dossier's answer by the dossier; returned dossiers likewise.
CREATE INDEX answers_report ON answers(answered_at, rating, unit_code, procedure, channel);
CREATE INDEX answers_named ON answers(answered_at, unit_code) WHERE follow_ups != '[]';
CREATE INDEX answers_dossier_rating ON answers(dossier_id, rating);
CREATE INDEX dossiers_report ON dossiers(returned_at, due_on, unit_code, procedure, state)
    WHERE returned_at IS NOT NULL;

-- SQLite's AFTER INSERT trigger updates the row just stored; here a BEFORE trigger sets the values
-- on the row being stored. As there, only an insert copies (a later change of the answer's
-- dossier_id does not), and a dossier that is not found leaves NULLs (its foreign key fails anyway).
CREATE FUNCTION answer_dossier_copied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT d.unit_code, d.procedure INTO NEW.unit_code, NEW.procedure
      FROM dossiers d WHERE d.id = NEW.dossier_id;
    RETURN NEW;
END;
$$;
CREATE TRIGGER answers_dossier_copied BEFORE INSERT ON answers
    FOR EACH ROW WHEN (NEW.dossier_id IS NOT NULL) EXECUTE FUNCTION answer_dossier_copied();

CREATE FUNCTION dossier_answers_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE answers SET unit_code = NEW.unit_code, procedure = NEW.procedure WHERE dossier_id = NEW.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER dossiers_answers_follow AFTER UPDATE OF unit_code, procedure ON dossiers
    FOR EACH ROW
    WHEN (NEW.unit_code IS DISTINCT FROM OLD.unit_code OR NEW.procedure IS DISTINCT FROM OLD.procedure)
    EXECUTE FUNCTION dossier_answers_follow();

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
);
