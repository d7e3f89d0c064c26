-- PostgreSQL twin of ../017_privacy.sql.
-- Personal data (Law 91/2025/QH15): whether a chat was shown the privacy notice, and its consent
-- where the unit asks for it; when a dossier's personal data was erased (on request or after the
-- retention period), so it is not erased again.
ALTER TABLE chats ADD COLUMN notice_at TEXT;
ALTER TABLE chats ADD COLUMN consent TEXT CHECK (consent IN ('given', 'refused'));
ALTER TABLE chats ADD COLUMN consent_at TEXT;
ALTER TABLE dossiers ADD COLUMN erased_at TEXT;
-- The retention job looks for dossiers not erased, by their last change.
CREATE INDEX dossiers_not_erased ON dossiers((COALESCE(updated_at, created_at))) WHERE erased_at IS NULL;
