-- Stored secrets (internal/secrets): registry credentials, destination
-- tokens and the like, each sealed with AES-256-GCM under a key of the key
-- file (never in the database). owner is the module, ref its own name for
-- the secret; key_id names the key that sealed it (rotation re-seals).

-- +goose Up
CREATE TABLE secrets (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    owner       TEXT NOT NULL,
    ref         TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    sealed      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (owner, ref)
);
CREATE INDEX secrets_key ON secrets (key_id);

-- +goose Down
DROP TABLE secrets;
