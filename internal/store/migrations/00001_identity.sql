-- Identity and access: the organisation, users, sessions, API keys,
-- invitations, password resets, refresh tokens, token signing keys and the
-- audit log. Portable SQL for SQLite and PostgreSQL: identifiers are TEXT
-- (time-ordered random ids made by the store), times are BIGINT Unix
-- milliseconds, binary columns are declared BLOB (rewritten to BYTEA for
-- PostgreSQL by the store's migration loader).

-- +goose Up
CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- One row at most: the first registration claims it, so two racing
-- registrations cannot both create an organisation.
CREATE TABLE installation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    org_id      TEXT NOT NULL REFERENCES orgs (id),
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES orgs (id),
    email                TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL,
    role                 TEXT NOT NULL CHECK (role IN ('admin', 'standard', 'read-only')),
    password_hash        TEXT NOT NULL,
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           BIGINT NOT NULL,
    last_login_at        BIGINT,
    password_changed_at  BIGINT NOT NULL
);
CREATE INDEX users_org ON users (org_id, id);

CREATE TABLE sessions (
    id_hash       BLOB PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_hash     BLOB NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    client_addr   TEXT NOT NULL,
    user_agent    TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- One API key per user; resetting replaces the row (and its id).
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    key_hash      BLOB NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);

CREATE TABLE invitations (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES orgs (id),
    email             TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('admin', 'standard', 'read-only')),
    token_hash        BLOB NOT NULL UNIQUE,
    invited_by        TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    accepted_at       BIGINT,
    accepted_user_id  TEXT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX invitations_org ON invitations (org_id, id);

CREATE TABLE password_resets (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  BLOB NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- Rotating refresh tokens. A family starts at a token exchange; each refresh
-- marks the presented token used and issues the next one in the family.
-- Presenting a used token again revokes the whole family (theft detection).
CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    api_key_id  TEXT NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Keys that sign access tokens. Kept in the database so console replicas
-- sharing PostgreSQL verify each other's tokens.
CREATE TABLE signing_keys (
    id           TEXT PRIMARY KEY,
    algorithm    TEXT NOT NULL,
    private_key  BLOB NOT NULL,
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT
);

CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,
    org_id       TEXT,
    at           BIGINT NOT NULL,
    actor_id     TEXT,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    client_addr  TEXT NOT NULL,
    detail       TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE signing_keys;
DROP TABLE refresh_tokens;
DROP TABLE password_resets;
DROP TABLE invitations;
DROP TABLE api_keys;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE installation;
DROP TABLE orgs;
