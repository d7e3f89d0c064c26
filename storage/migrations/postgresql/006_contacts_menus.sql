-- PostgreSQL twin of ../006_contacts_menus.sql.
-- A head or staff member may be reached on several channels (Telegram, Zalo); the one they last
-- wrote from is tried first. people.channel/chat_id stay as the key the row was created with.
CREATE TABLE person_contacts (
    person_id BIGINT NOT NULL REFERENCES people(id),
    channel   TEXT NOT NULL,
    chat_id   TEXT NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (person_id, channel)
);
CREATE INDEX person_contacts_address ON person_contacts(channel, chat_id);
INSERT INTO person_contacts (person_id, channel, chat_id, position) SELECT id, channel, chat_id, 0 FROM people;
ALTER TABLE people ADD COLUMN last_channel TEXT;

-- Where people type numbers instead of pressing buttons, the numbered options a chat was shown.
ALTER TABLE chats ADD COLUMN menu TEXT;
ALTER TABLE chats ADD COLUMN menu_at TEXT;

-- A notice to a head or staff member goes to whichever of their chats can be reached.
ALTER TABLE notices ADD COLUMN person_id BIGINT REFERENCES people(id);
