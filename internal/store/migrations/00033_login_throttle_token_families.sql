-- Sign-in protection and revocable access tokens (issue 14).
--
-- login_throttle: short-lived counters of sign-in attempts, one row per key
-- (an account from one client address, a client address, or an account
-- under the hard lock; the console makes the ids). Kept in the database so
-- that console replicas sharing PostgreSQL count together: an attacker
-- cannot spread attempts across replicas. A row is deleted once expired.
--
-- refresh_families: one row per refresh-token family (an API key exchange
-- and its rotations). Access tokens name their family; revoking it (refresh
-- token reused, sign-out, password change or reset, user disabled, API key
-- reset) ends them at once: every request made with an access token looks
-- its family up by primary key. The users' password_changed_at (00001)
-- is the time of the last password change or reset.

-- +goose Up
CREATE TABLE login_throttle (
    id             TEXT PRIMARY KEY,
    attempts       INTEGER NOT NULL,
    blocked_until  BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX login_throttle_expiry ON login_throttle (expires_at);

CREATE TABLE refresh_families (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    api_key_id  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);
CREATE INDEX refresh_families_key ON refresh_families (api_key_id);
CREATE INDEX refresh_families_expiry ON refresh_families (expires_at);

-- The families of the refresh tokens already issued, so that sensors keep
-- refreshing across the upgrade; a family with any revoked token is revoked.
INSERT INTO refresh_families (id, user_id, api_key_id, created_at, expires_at, revoked_at)
SELECT family_id, MIN(user_id), MIN(api_key_id), MIN(created_at), MAX(expires_at), MAX(revoked_at)
FROM refresh_tokens GROUP BY family_id;

-- +goose Down
DROP TABLE refresh_families;
DROP TABLE login_throttle;
