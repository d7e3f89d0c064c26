-- PostgreSQL twin of ../008_case_announcements.sql.
-- When a new case was announced to its unit's head (as it opened, besides the morning digest).
ALTER TABLE cases ADD COLUMN announced_at TEXT;
-- Cases opened before this migration were in digests already: nothing to announce after an upgrade.
UPDATE cases SET announced_at = opened_at;
CREATE INDEX cases_unannounced ON cases(opened_at) WHERE announced_at IS NULL;
