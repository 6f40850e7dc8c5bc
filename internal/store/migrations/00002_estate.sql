-- The estate the console observes, laid down for the packages that fill it
-- (topology ingest, scans, inventories, findings, durable jobs). Later
-- migrations add columns and indexes as those packages need them.

-- +goose Up
-- A node of the topology graph: a host, process, container, image, pod...
-- identified within its kind by a stable key from the sensor.
CREATE TABLE nodes (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    node_key    TEXT NOT NULL,
    name        TEXT NOT NULL,
    sensor_id   TEXT,
    attrs       TEXT NOT NULL DEFAULT '{}',
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    UNIQUE (kind, node_key)
);
CREATE INDEX nodes_last_seen ON nodes (last_seen);

-- A directed edge (connection, containment, runs-image...) between nodes.
CREATE TABLE edges (
    src_id      TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    dst_id      TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    attrs       TEXT NOT NULL DEFAULT '{}',
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (src_id, dst_id, kind)
);
CREATE INDEX edges_dst ON edges (dst_id);

-- A package inventory of a target (host, container, image), stored as JSON
-- (internal/inventory), possibly compressed; content-addressed by digest.
CREATE TABLE inventories (
    id           TEXT PRIMARY KEY,
    node_id      TEXT REFERENCES nodes (id) ON DELETE SET NULL,
    digest       TEXT NOT NULL,
    encoding     TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX inventories_node ON inventories (node_id, created_at);

CREATE TABLE scans (
    id             TEXT PRIMARY KEY,
    node_id        TEXT REFERENCES nodes (id) ON DELETE SET NULL,
    target_kind    TEXT NOT NULL,
    target_ref     TEXT NOT NULL,
    status         TEXT NOT NULL,
    message        TEXT NOT NULL DEFAULT '',
    progress       INTEGER NOT NULL DEFAULT 0,
    requested_by   TEXT,
    inventory_id   TEXT REFERENCES inventories (id) ON DELETE SET NULL,
    created_at     BIGINT NOT NULL,
    started_at     BIGINT,
    finished_at    BIGINT,
    heartbeat_at   BIGINT
);
CREATE INDEX scans_status ON scans (status, created_at);
CREATE INDEX scans_node ON scans (node_id, created_at);

CREATE TABLE findings (
    id              TEXT PRIMARY KEY,
    node_id         TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    scan_id         TEXT REFERENCES scans (id) ON DELETE SET NULL,
    vuln_id         TEXT NOT NULL,
    package_name    TEXT NOT NULL,
    package_version TEXT NOT NULL,
    ecosystem       TEXT NOT NULL,
    fixed_version   TEXT NOT NULL DEFAULT '',
    severity        TEXT NOT NULL DEFAULT '',
    score           DOUBLE PRECISION NOT NULL DEFAULT 0,
    explanation     TEXT NOT NULL DEFAULT '{}',
    first_seen      BIGINT NOT NULL,
    last_seen       BIGINT NOT NULL,
    resolved_at     BIGINT,
    UNIQUE (node_id, vuln_id, package_name, package_version)
);
CREATE INDEX findings_score ON findings (score);

-- Durable jobs: leased with heartbeats, retried with backoff, always driven
-- to a terminal state (succeeded, failed, cancelled).
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

-- +goose Down
DROP TABLE jobs;
DROP TABLE findings;
DROP TABLE scans;
DROP TABLE inventories;
DROP TABLE edges;
DROP TABLE nodes;
