-- A notice that carries words (a message relayed between a staff member and a citizen) points at
-- the case event holding them, so the words are stored once, in the case's history.
ALTER TABLE notices ADD COLUMN event_id INTEGER REFERENCES case_events(id);
