-- PostgreSQL twin of ../007_versions.sql.
-- A counter that grows in the same transaction as every change to what decides which question
-- set a dossier gets (question sets and the unit tree), kept by triggers so that no writer, the
-- command line included, can forget it. As in SQLite the triggers are by row: a statement that
-- changes no row leaves the counter as it was.
CREATE TABLE versions (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO versions (name, value) VALUES ('question_sets', 0);

CREATE FUNCTION question_sets_version_bumped() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE versions SET value = value + 1 WHERE name = 'question_sets';
    RETURN NULL;
END;
$$;

CREATE TRIGGER question_sets_inserted AFTER INSERT ON question_sets
    FOR EACH ROW EXECUTE FUNCTION question_sets_version_bumped();
CREATE TRIGGER question_sets_updated AFTER UPDATE ON question_sets
    FOR EACH ROW EXECUTE FUNCTION question_sets_version_bumped();
CREATE TRIGGER question_sets_deleted AFTER DELETE ON question_sets
    FOR EACH ROW EXECUTE FUNCTION question_sets_version_bumped();
CREATE TRIGGER units_inserted AFTER INSERT ON units
    FOR EACH ROW EXECUTE FUNCTION question_sets_version_bumped();
CREATE TRIGGER units_updated AFTER UPDATE ON units
    FOR EACH ROW EXECUTE FUNCTION question_sets_version_bumped();
CREATE TRIGGER units_deleted AFTER DELETE ON units
    FOR EACH ROW EXECUTE FUNCTION question_sets_version_bumped();
