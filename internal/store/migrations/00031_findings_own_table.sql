-- Each table has one owning package. Findings (internal/findings) carry
-- their scan's target and their own state (pending while the scan runs,
-- current for the latest complete scan of the target, old after), so they
-- never read the scans table. Scans in flight become jobs of the job system
-- (internal/jobs), with the scan's id: the scan row is its job's record.
-- The findings table of 00002 was never used; it is dropped. Scans and
-- inventories name their node in node_ref, a plain column: node_id's
-- foreign key made the topology's prune rewrite the scans module's rows
-- (node_id stays, unused, as SQLite cannot drop a column a key uses).

-- +goose Up
DROP TABLE findings;

ALTER TABLE scans ADD COLUMN node_ref TEXT NOT NULL DEFAULT '';
UPDATE scans SET node_ref = COALESCE(node_id, '');
CREATE INDEX scans_node_ref ON scans (node_ref, created_at);
ALTER TABLE inventories ADD COLUMN node_ref TEXT NOT NULL DEFAULT '';
UPDATE inventories SET node_ref = COALESCE(node_id, '');

ALTER TABLE scan_findings ADD COLUMN sensor_id TEXT NOT NULL DEFAULT '';
ALTER TABLE scan_findings ADD COLUMN target_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE scan_findings ADD COLUMN target_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE scan_findings ADD COLUMN target_key TEXT NOT NULL DEFAULT '';
ALTER TABLE scan_findings ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
UPDATE scan_findings SET
    sensor_id = (SELECT s.sensor_id FROM scans s WHERE s.id = scan_findings.scan_id),
    target_kind = (SELECT s.target_kind FROM scans s WHERE s.id = scan_findings.scan_id),
    target_ref = (SELECT s.target_ref FROM scans s WHERE s.id = scan_findings.scan_id),
    target_key = (SELECT s.target_key FROM scans s WHERE s.id = scan_findings.scan_id),
    state = COALESCE((SELECT CASE WHEN s.latest = 1 THEN 'current' WHEN s.status IN ('queued', 'running') THEN 'pending' ELSE 'old' END
        FROM scans s WHERE s.id = scan_findings.scan_id), 'old');
CREATE INDEX scan_findings_state ON scan_findings (state, score);
CREATE INDEX scan_findings_target ON scan_findings (target_key, state);
CREATE INDEX scan_findings_node_state ON scan_findings (node_id, state);

INSERT INTO jobs (id, kind, payload, state, priority, route, unique_key, attempts, max_attempts, run_at, lease_owner, lease_until,
    heartbeat_at, cancel_requested, cancel_notified, progress, message, created_at, started_at)
SELECT id, 'scan.vulnerability', '{}', CASE WHEN status = 'queued' THEN 'available' ELSE 'running' END, 2, 'sensor:' || sensor_id,
    'scan:' || target_key, attempts, max_attempts, run_at, claimed_by, lease_until, heartbeat_at, cancel_requested, cancel_sent,
    progress / 100.0, message, created_at, started_at
FROM scans WHERE status IN ('queued', 'running');

-- +goose Down
DELETE FROM jobs WHERE kind = 'scan.vulnerability';
DROP INDEX scans_node_ref;
ALTER TABLE scans DROP COLUMN node_ref;
ALTER TABLE inventories DROP COLUMN node_ref;
DROP INDEX scan_findings_node_state;
DROP INDEX scan_findings_target;
DROP INDEX scan_findings_state;
ALTER TABLE scan_findings DROP COLUMN state;
ALTER TABLE scan_findings DROP COLUMN target_key;
ALTER TABLE scan_findings DROP COLUMN target_ref;
ALTER TABLE scan_findings DROP COLUMN target_kind;
ALTER TABLE scan_findings DROP COLUMN sensor_id;
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
