-- Compliance results (internal/posture; issue 17). A compliance scan's
-- sensor uploads every check its benchmark evaluated (passed or not) and
-- the engine's own document (XCCDF/ARF, kube-bench JSON); the failed
-- checks also become findings of type compliance (internal/findings),
-- which carry decisions, diffs, exports and events. These tables keep
-- what findings do not: the passes, for pass rates and their trend.
--
-- compliance_scans: one row per compliance scan whose results arrived:
--   target_key   the scan's line of scans (scans.target_key), so the
--                latest N complete scans of a target give its trend
--   state        pending (results stored, scan not finished), complete,
--                abandoned (the scan failed or was cancelled)
--   raw, raw_format  the engine's document, gzip, as the sensor sent it
--   completed_at when the scan completed (ms; 0 until then)
-- compliance_checks: one row per check of a scan (seq: its order in the
--   upload); refs is the JSON list of {system, id} references.
--
-- scans.profile and scan_schedules.profile (internal/scans): the
-- benchmark profile a compliance scan evaluates ('' the engine's
-- default), sent to the sensor in the scan command.

-- +goose Up
CREATE TABLE compliance_scans (
    scan_id       TEXT PRIMARY KEY,
    target_key    TEXT NOT NULL,
    node_id       TEXT NOT NULL DEFAULT '',
    sensor_id     TEXT NOT NULL DEFAULT '',
    target_kind   TEXT NOT NULL DEFAULT '',
    target_ref    TEXT NOT NULL DEFAULT '',
    engine        TEXT NOT NULL DEFAULT '',
    engine_version TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL DEFAULT 'pending',
    raw_format    TEXT NOT NULL DEFAULT '',
    raw           BLOB,
    created_at    BIGINT NOT NULL,
    completed_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX compliance_scans_target ON compliance_scans (target_key, state, completed_at);
CREATE INDEX compliance_scans_node ON compliance_scans (node_id, state, completed_at);
CREATE TABLE compliance_checks (
    scan_id           TEXT NOT NULL,
    seq               INTEGER NOT NULL,
    benchmark         TEXT NOT NULL,
    benchmark_version TEXT NOT NULL DEFAULT '',
    profile           TEXT NOT NULL,
    rule              TEXT NOT NULL,
    title             TEXT NOT NULL DEFAULT '',
    severity          TEXT NOT NULL DEFAULT '',
    severity_rank     INTEGER NOT NULL DEFAULT 0,
    result            TEXT NOT NULL,
    subject           TEXT NOT NULL DEFAULT '',
    refs              TEXT NOT NULL DEFAULT '[]',
    rationale         TEXT NOT NULL DEFAULT '',
    fix               TEXT NOT NULL DEFAULT '',
    evidence          TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (scan_id, seq)
);
CREATE INDEX compliance_checks_rule ON compliance_checks (benchmark, rule, result);
ALTER TABLE scans ADD COLUMN profile TEXT NOT NULL DEFAULT '';
ALTER TABLE scan_schedules ADD COLUMN profile TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE scan_schedules DROP COLUMN profile;
ALTER TABLE scans DROP COLUMN profile;
DROP INDEX compliance_checks_rule;
DROP TABLE compliance_checks;
DROP INDEX compliance_scans_node;
DROP INDEX compliance_scans_target;
DROP TABLE compliance_scans;
