-- A counter that grows in the same transaction as every change to what decides which question
-- set a dossier gets (question sets and the unit tree), kept by triggers so that no writer, the
-- command line included, can forget it. A process caches the active sets and the tree and checks
-- the counter in the chat read it makes anyway: another process's import or activation is seen.
CREATE TABLE versions (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO versions (name, value) VALUES ('question_sets', 0);

CREATE TRIGGER question_sets_inserted AFTER INSERT ON question_sets
BEGIN
    UPDATE versions SET value = value + 1 WHERE name = 'question_sets';
END;
CREATE TRIGGER question_sets_updated AFTER UPDATE ON question_sets
BEGIN
    UPDATE versions SET value = value + 1 WHERE name = 'question_sets';
END;
CREATE TRIGGER question_sets_deleted AFTER DELETE ON question_sets
BEGIN
    UPDATE versions SET value = value + 1 WHERE name = 'question_sets';
END;
CREATE TRIGGER units_inserted AFTER INSERT ON units
BEGIN
    UPDATE versions SET value = value + 1 WHERE name = 'question_sets';
END;
CREATE TRIGGER units_updated AFTER UPDATE ON units
BEGIN
    UPDATE versions SET value = value + 1 WHERE name = 'question_sets';
END;
CREATE TRIGGER units_deleted AFTER DELETE ON units
BEGIN
    UPDATE versions SET value = value + 1 WHERE name = 'question_sets';
END;
