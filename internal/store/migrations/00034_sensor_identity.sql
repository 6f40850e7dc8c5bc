-- Sensor identity (internal/store, served by internal/console): admins
-- create enrolment tokens; a sensor enrols with one and gets a credential
-- of its own, bound to the sensor id the console assigns. Only SHA-256
-- digests of tokens and credentials are stored.

-- +goose Up
CREATE TABLE enrolment_tokens (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    name          TEXT NOT NULL,
    token_hash    BLOB NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    max_sensors   INTEGER NOT NULL DEFAULT 0,
    uses          INTEGER NOT NULL DEFAULT 0,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);

-- One enrolled sensor. key_hash is its credential; prev_key_hash the one
-- it rotated away from, accepted until prev_key_until; key_gen counts the
-- rotations (access tokens name the generation they were issued from).
CREATE TABLE sensors (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    hostname        TEXT NOT NULL,
    machine_id      TEXT NOT NULL DEFAULT '',
    version         TEXT NOT NULL DEFAULT '',
    key_hash        BLOB NOT NULL UNIQUE,
    key_prefix      TEXT NOT NULL,
    key_gen         INTEGER NOT NULL DEFAULT 1,
    prev_key_hash   BLOB,
    prev_key_until  BIGINT,
    token_id        TEXT NOT NULL DEFAULT '',
    enrolled_at     BIGINT NOT NULL,
    enrolled_from   TEXT NOT NULL DEFAULT '',
    rotated_at      BIGINT,
    revoked_at      BIGINT,
    revoked_by      TEXT NOT NULL DEFAULT '',
    last_seen       BIGINT,
    last_addr       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sensors_prev_key ON sensors (prev_key_hash);
CREATE INDEX sensors_machine ON sensors (org_id, machine_id);

-- +goose Down
DROP TABLE sensors;
DROP TABLE enrolment_tokens;
