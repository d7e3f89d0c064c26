-- PostgreSQL twin of ../013_answer_changes.sql.
-- An answer changes after it is first stored (the follow-up, the complaint text, its completion).
-- Each write gives it the next number of one counter, kept by triggers so no writer can forget it:
-- the intake API's answers feed is paged by that number, so an answer that changed comes again,
-- after everything stored before its change, and a poller never keeps a rating without its factors.
ALTER TABLE answers ADD COLUMN change_seq BIGINT;
INSERT INTO versions (name, value) SELECT 'answer_changes', COALESCE(MAX(id), 0) FROM answers;
UPDATE answers SET change_seq = id;
CREATE UNIQUE INDEX answers_change_seq ON answers(change_seq);

-- SQLite's AFTER triggers update the row just written; here a BEFORE trigger sets the number on
-- the row being written, which leaves the same row behind. The counter's row stays locked until
-- commit, so numbers are committed in the order they are given. Unlike SQLite, an INSERT that
-- ends in ON CONFLICT DO NOTHING (or is rolled back) has used a number: the sequence may have
-- gaps, never a repeat nor a step back.
CREATE FUNCTION answer_change_numbered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE versions SET value = value + 1 WHERE name = 'answer_changes' RETURNING value INTO NEW.change_seq;
    RETURN NEW;
END;
$$;

CREATE TRIGGER answers_changed_on_insert BEFORE INSERT ON answers
    FOR EACH ROW EXECUTE FUNCTION answer_change_numbered();
CREATE TRIGGER answers_changed BEFORE UPDATE OF rating, rating_option, follow_ups, texts, completed_at
    ON answers
    FOR EACH ROW EXECUTE FUNCTION answer_change_numbered();
