-- An answer changes after it is first stored (the follow-up, the complaint text, its completion).
-- Each write gives it the next number of one counter, kept by triggers so no writer can forget it:
-- the intake API's answers feed is paged by that number, so an answer that changed comes again,
-- after everything stored before its change, and a poller never keeps a rating without its factors.
ALTER TABLE answers ADD COLUMN change_seq INTEGER;
INSERT INTO versions (name, value) SELECT 'answer_changes', COALESCE(MAX(id), 0) FROM answers;
UPDATE answers SET change_seq = id;
CREATE UNIQUE INDEX answers_change_seq ON answers(change_seq);

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
