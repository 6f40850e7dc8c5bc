-- The console's backbone: durable jobs (internal/jobs) and the event outbox
-- (internal/events). The jobs table of 00002 was never used; it is replaced.

-- +goose Up
DROP TABLE jobs;

-- One unit of background work of a named kind. state: available (waiting
-- for run_at), running (leased to lease_owner until lease_until, renewed by
-- heartbeats), completed, failed, cancelled (terminal). route is empty for
-- work done by console workers, or names the remote executor that claims
-- it (sensor:ID). unique_key, when set, admits one waiting or running job.
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL DEFAULT '{}',
    state            TEXT NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 2,
    route            TEXT NOT NULL DEFAULT '',
    unique_key       TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_at           BIGINT NOT NULL,
    lease_owner      TEXT NOT NULL DEFAULT '',
    lease_until      BIGINT,
    heartbeat_at     BIGINT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    cancel_notified  INTEGER NOT NULL DEFAULT 0,
    progress         DOUBLE PRECISION NOT NULL DEFAULT 0,
    message          TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT
);
CREATE INDEX jobs_fetch ON jobs (state, route, kind, priority, run_at);
CREATE INDEX jobs_lease ON jobs (state, lease_until);
CREATE INDEX jobs_finished ON jobs (finished_at);
CREATE UNIQUE INDEX jobs_unique ON jobs (unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running');

-- Periodic jobs: the next time each named schedule inserts its job. Every
-- console process registers the same names; the one that moves next_run
-- (compare and set) inserts the job.
CREATE TABLE job_periodic (
    name      TEXT PRIMARY KEY,
    spec      TEXT NOT NULL,
    next_run  BIGINT NOT NULL,
    last_run  BIGINT
);

-- The event outbox. seq comes from the one-row event_seq counter, taken in
-- the writer's transaction: its row lock orders event-writing transactions
-- by commit, so a reader that has seen seq N never later finds a smaller one.
CREATE TABLE event_seq (
    id   INTEGER PRIMARY KEY,
    seq  BIGINT NOT NULL
);
INSERT INTO event_seq (id, seq) VALUES (1, 0);

CREATE TABLE events (
    seq         BIGINT PRIMARY KEY,
    type        TEXT NOT NULL,
    event_key   TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_created ON events (created_at);

-- A consumer's position in the outbox, and which console process delivers
-- to it (a lease, so that one process at a time does).
CREATE TABLE event_consumers (
    name         TEXT PRIMARY KEY,
    position     BIGINT NOT NULL,
    owner        TEXT NOT NULL DEFAULT '',
    lease_until  BIGINT NOT NULL DEFAULT 0,
    delivered    BIGINT NOT NULL DEFAULT 0,
    failures     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    updated_at   BIGINT NOT NULL
);

-- Events a consumer gave up on after its retries (dead letters), kept for
-- the diagnosis and a retry.
CREATE TABLE event_dead (
    consumer    TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    error       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    failed_at   BIGINT NOT NULL,
    PRIMARY KEY (consumer, seq)
);

-- +goose Down
DROP TABLE event_dead;
DROP TABLE event_consumers;
DROP TABLE events;
DROP TABLE event_seq;
DROP TABLE job_periodic;
DROP TABLE jobs;
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL DEFAULT '{}',
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL DEFAULT 5,
    run_at        BIGINT NOT NULL,
    lease_owner   TEXT,
    lease_until   BIGINT,
    last_error    TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT
);
CREATE INDEX jobs_ready ON jobs (state, run_at);
