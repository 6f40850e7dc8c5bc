-- Integrations (internal/integrations): where notifications go
-- (destinations: a kind, a name, plain settings as JSON; their secrets are
-- in the secrets table, owner "integrations", ref the destination id),
-- which events go there (rules, with filters, immediate or gathered into
-- digests), the per-destination ordered outbox of messages to send, the
-- messages waiting for their rule's next digest, delivery history, and
-- dead letters (messages a destination refused for good, kept for a retry).

-- +goose Up
-- next_seq numbers the destination's outbox: taken with an UPDATE in the
-- transaction that queues, its row lock orders messages by commit. The
-- delivery state (failures in a row, last error and success, when the next
-- attempt is due) is what the flush job last recorded.
CREATE TABLE integration_destinations (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL DEFAULT '',
    kind             TEXT NOT NULL,
    name             TEXT NOT NULL UNIQUE,
    settings         TEXT NOT NULL DEFAULT '{}',
    secret_hints     TEXT NOT NULL DEFAULT '{}',
    ca_pem           TEXT NOT NULL DEFAULT '',
    rate_per_minute  INTEGER NOT NULL DEFAULT 60,
    enabled          INTEGER NOT NULL DEFAULT 1,
    next_seq         BIGINT NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    last_success_at  BIGINT,
    next_attempt_at  BIGINT,
    created_by       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_by       TEXT NOT NULL DEFAULT '',
    updated_at       BIGINT NOT NULL
);

-- events: a JSON list of event kinds (finding.new, finding.fixed,
-- finding.kev_reachable, scan.failed, sensor.offline, node.exposed);
-- filter: JSON (minSeverity, minRiskScore, kevOnly, internetOnly,
-- clusters, namespaces, hosts, registries); mode immediate or digest,
-- every digest_minutes, the next digest due at next_digest_at.
CREATE TABLE integration_rules (
    id              TEXT PRIMARY KEY,
    destination_id  TEXT NOT NULL REFERENCES integration_destinations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    events          TEXT NOT NULL,
    filter          TEXT NOT NULL DEFAULT '{}',
    mode            TEXT NOT NULL DEFAULT 'immediate',
    digest_minutes  INTEGER NOT NULL DEFAULT 0,
    next_digest_at  BIGINT,
    enabled         INTEGER NOT NULL DEFAULT 1,
    created_by      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL DEFAULT '',
    updated_at      BIGINT NOT NULL
);
CREATE INDEX integration_rules_destination ON integration_rules (destination_id);

-- Messages waiting to be sent, in seq order per destination. body is the
-- message (internal/integrations/dest.Message) as JSON.
CREATE TABLE integration_outbox (
    destination_id   TEXT NOT NULL REFERENCES integration_destinations (id) ON DELETE CASCADE,
    seq              BIGINT NOT NULL,
    rule_id          TEXT NOT NULL DEFAULT '',
    msg_key          TEXT NOT NULL,
    event            TEXT NOT NULL,
    body             TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (destination_id, seq)
);

-- Messages gathered for a digest rule until its next digest.
CREATE TABLE integration_digest_items (
    id              TEXT PRIMARY KEY,
    rule_id         TEXT NOT NULL REFERENCES integration_rules (id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX integration_digest_items_rule ON integration_digest_items (rule_id, id);

-- What happened to each send: delivered, failed (retried later), dead,
-- expired (too old to send), test.
CREATE TABLE integration_deliveries (
    id              TEXT PRIMARY KEY,
    destination_id  TEXT NOT NULL REFERENCES integration_destinations (id) ON DELETE CASCADE,
    at              BIGINT NOT NULL,
    outcome         TEXT NOT NULL,
    event           TEXT NOT NULL DEFAULT '',
    messages        INTEGER NOT NULL DEFAULT 0,
    msg_keys        TEXT NOT NULL DEFAULT '[]',
    attempt         INTEGER NOT NULL DEFAULT 0,
    duration_ms     INTEGER NOT NULL DEFAULT 0,
    status          INTEGER NOT NULL DEFAULT 0,
    error           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX integration_deliveries_destination ON integration_deliveries (destination_id, id);

-- Messages a destination refused for good (or that waited too long), kept
-- for a retry from the list.
CREATE TABLE integration_dead (
    id              TEXT PRIMARY KEY,
    destination_id  TEXT NOT NULL REFERENCES integration_destinations (id) ON DELETE CASCADE,
    rule_id         TEXT NOT NULL DEFAULT '',
    msg_key         TEXT NOT NULL,
    event           TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    failed_at       BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    status          INTEGER NOT NULL DEFAULT 0,
    error           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX integration_dead_destination ON integration_dead (destination_id, id);

-- How far the events consumer has routed (its own record, written in the
-- transaction that queues the messages, so a redelivered batch is not
-- queued twice).
CREATE TABLE integration_routed (
    name  TEXT PRIMARY KEY,
    seq   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE integration_routed;
DROP TABLE integration_dead;
DROP TABLE integration_deliveries;
DROP TABLE integration_digest_items;
DROP TABLE integration_outbox;
DROP TABLE integration_rules;
DROP TABLE integration_destinations;
