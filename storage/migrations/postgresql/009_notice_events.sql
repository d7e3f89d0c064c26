-- PostgreSQL twin of ../009_notice_events.sql.
-- A notice that carries words (a message relayed between a staff member and a citizen) points at
-- the case event holding them, so the words are stored once, in the case's history.
ALTER TABLE notices ADD COLUMN event_id BIGINT REFERENCES case_events(id);
