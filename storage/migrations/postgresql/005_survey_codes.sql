-- PostgreSQL twin of ../005_survey_codes.sql.
-- Short survey codes for platforms without deep links (Zalo), and wrong codes typed, to slow guessing.
ALTER TABLE dossiers ADD COLUMN survey_code TEXT;
CREATE UNIQUE INDEX dossiers_survey_code ON dossiers(survey_code) WHERE survey_code IS NOT NULL;

CREATE TABLE wrong_codes (
    channel TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    at      TEXT NOT NULL
);
CREATE INDEX wrong_codes_chat ON wrong_codes(channel, chat_id, at);
