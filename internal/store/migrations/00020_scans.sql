-- Scan orchestration (internal/scans): the durable queue's columns on scans,
-- findings per scan with their risk, VEX-like decisions, scan schedules,
-- settings and per-sensor command polls.

-- +goose Up
ALTER TABLE scans ADD COLUMN sensor_id TEXT NOT NULL DEFAULT '';
ALTER TABLE scans ADD COLUMN target_key TEXT NOT NULL DEFAULT '';
ALTER TABLE scans ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scans ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 3;
ALTER TABLE scans ADD COLUMN run_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE scans ADD COLUMN lease_until BIGINT;
ALTER TABLE scans ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE scans ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scans ADD COLUMN cancel_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scans ADD COLUMN latest INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scans ADD COLUMN schedule_id TEXT NOT NULL DEFAULT '';
ALTER TABLE scans ADD COLUMN finding_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX scans_dispatch ON scans (sensor_id, status, run_at);
CREATE INDEX scans_lease ON scans (status, lease_until);
CREATE INDEX scans_target ON scans (target_key, created_at);

-- One vulnerability of one package found by one scan. detail is the
-- match.Finding JSON; score/explanation are the exposure-aware risk
-- (docs/risk.md), recomputed when topology or findings change.
CREATE TABLE scan_findings (
    id              TEXT PRIMARY KEY,
    scan_id         TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    node_id         TEXT NOT NULL DEFAULT '',
    vuln_id         TEXT NOT NULL,
    aliases         TEXT NOT NULL DEFAULT '',
    package_name    TEXT NOT NULL,
    package_version TEXT NOT NULL,
    ecosystem       TEXT NOT NULL,
    fixed_version   TEXT NOT NULL DEFAULT '',
    severity        TEXT NOT NULL DEFAULT '',
    severity_rank   INTEGER NOT NULL DEFAULT 0,
    cvss            DOUBLE PRECISION NOT NULL DEFAULT 0,
    kev             INTEGER NOT NULL DEFAULT 0,
    epss            DOUBLE PRECISION NOT NULL DEFAULT 0,
    score           DOUBLE PRECISION NOT NULL DEFAULT 0,
    explanation     TEXT NOT NULL DEFAULT '{}',
    files           TEXT NOT NULL DEFAULT '[]',
    detail          TEXT NOT NULL
);
CREATE INDEX scan_findings_scan ON scan_findings (scan_id, score);
CREATE INDEX scan_findings_node ON scan_findings (node_id);
CREATE INDEX scan_findings_vuln ON scan_findings (vuln_id);
CREATE INDEX scan_findings_score ON scan_findings (score);
CREATE INDEX scans_latest ON scans (latest);

-- Accept / not-affected decisions (VEX-like). Empty package_name or
-- node_id means "any".
CREATE TABLE finding_decisions (
    id            TEXT PRIMARY KEY,
    vuln_id       TEXT NOT NULL,
    package_name  TEXT NOT NULL DEFAULT '',
    node_id       TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    justification TEXT NOT NULL DEFAULT '',
    reason        TEXT NOT NULL,
    expires_at    BIGINT,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX finding_decisions_vuln ON finding_decisions (vuln_id);

-- Scheduled scans: a cron spec (robfig/cron v3 syntax) and a target filter.
CREATE TABLE scan_schedules (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    cron        TEXT NOT NULL,
    filter      TEXT NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1,
    next_run    BIGINT NOT NULL,
    last_run    BIGINT,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX scan_schedules_next ON scan_schedules (enabled, next_run);

-- Console-wide settings of the scans module (auto-scan...).
CREATE TABLE scan_settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- The last command poll of each sensor (diagnosis: sensor health).
CREATE TABLE sensor_polls (
    sensor_id   TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    free_slots  INTEGER NOT NULL,
    last_poll   BIGINT NOT NULL,
    last_error  TEXT NOT NULL DEFAULT '',
    error_at    BIGINT
);

-- +goose Down
DROP TABLE sensor_polls;
DROP TABLE scan_settings;
DROP TABLE scan_schedules;
DROP TABLE finding_decisions;
DROP TABLE scan_findings;
DROP INDEX scans_latest;
DROP INDEX scans_target;
DROP INDEX scans_lease;
DROP INDEX scans_dispatch;
ALTER TABLE scans DROP COLUMN sensor_id;
ALTER TABLE scans DROP COLUMN target_key;
ALTER TABLE scans DROP COLUMN attempts;
ALTER TABLE scans DROP COLUMN max_attempts;
ALTER TABLE scans DROP COLUMN run_at;
ALTER TABLE scans DROP COLUMN lease_until;
ALTER TABLE scans DROP COLUMN claimed_by;
ALTER TABLE scans DROP COLUMN cancel_requested;
ALTER TABLE scans DROP COLUMN cancel_sent;
ALTER TABLE scans DROP COLUMN latest;
ALTER TABLE scans DROP COLUMN schedule_id;
ALTER TABLE scans DROP COLUMN finding_count;
