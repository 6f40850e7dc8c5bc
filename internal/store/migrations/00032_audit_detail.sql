-- The audit log says what a change did and how its actor came in: the
-- state before and after (JSON text, '' when the action has none) and how
-- the actor authenticated (session, api_key, access_token, sensor; job
-- for the console's own jobs; '' for anonymous requests and old rows).
-- Old rows keep reading: the new columns default to ''.

-- +goose Up
ALTER TABLE audit_log ADD COLUMN before_state TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN after_state TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN via TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit_log DROP COLUMN via;
ALTER TABLE audit_log DROP COLUMN after_state;
ALTER TABLE audit_log DROP COLUMN before_state;
