-- Scan types (internal/scans, internal/findings): a scan, a schedule and
-- auto-scan have a type (vulnerability, secret, malware, compliance), and
-- the findings of every type live in scan_findings, one model for all.
--
-- scans.scan_type is the scan's type. A target's line of scans (its
-- target_key, whose latest complete scan holds the current findings) is
-- per type: the key of a vulnerability scan is unchanged ("node:ID", a
-- registry digest's key...), another type appends "#TYPE" ("node:ID#secret"),
-- so a secret scan never replaces a target's vulnerability findings.
--
-- scan_findings columns, for every type:
--   finding_type  vulnerability, secret, malware or compliance
--   vuln_id       the finding's id within its type: the vulnerability
--                 (CVE, GHSA...); the rule of a secret, malware or
--                 compliance finding
--   aliases       |id|id|...|: the ids a decision may name: the
--                 vulnerability's aliases; a secret's rule and fingerprint;
--                 a malware finding's rule and file SHA-256
--   package_name  what a decision's "package" scope compares: the package;
--                 the file of a secret or malware finding
--   subject       what the finding is in, for people: "name@version" of a
--                 package, "file:line" of a secret, the file of malware,
--                 the benchmark of a control
--   fingerprint   the finding's identity across scans of its target (diff,
--                 new and fixed): "ID in name@version" for a
--                 vulnerability (the key diffs always used), the engine's
--                 fingerprint of a secret, "rule sha256" of malware
--   severity, severity_rank, score, explanation, files: as before, for
--                 every type (the rule's severity; files are where a
--                 secret or malware was found)
--   detail        the type's finding as JSON: match.Finding for a
--                 vulnerability, {finding, secret|malware} for the others
--   package_version, ecosystem, fixed_version, cvss, kev, epss: packages
--                 only ('' and 0 for the other types)
--
-- finding_decisions.finding_type: a decision applies to findings of its
-- type only (a decision on a secret's fingerprint never covers a
-- vulnerability that happens to have the same id).
--
-- scans.results_digest: the sha256 of the results a sensor uploaded for a
-- scan of a type other than vulnerability (its inventory_id's
-- counterpart: the findings hold what the results said; '' until then).
--
-- scan_schedules.scan_types: the types a schedule runs, comma-separated.

-- +goose Up
ALTER TABLE scans ADD COLUMN scan_type TEXT NOT NULL DEFAULT 'vulnerability';
CREATE INDEX scans_type ON scans (scan_type, id);
ALTER TABLE scans ADD COLUMN results_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE scan_findings ADD COLUMN finding_type TEXT NOT NULL DEFAULT 'vulnerability';
ALTER TABLE scan_findings ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE scan_findings ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
UPDATE scan_findings SET subject = package_name || '@' || package_version,
    fingerprint = vuln_id || ' in ' || package_name || '@' || package_version;
CREATE INDEX scan_findings_type ON scan_findings (finding_type, state, score);
ALTER TABLE finding_decisions ADD COLUMN finding_type TEXT NOT NULL DEFAULT 'vulnerability';
ALTER TABLE scan_schedules ADD COLUMN scan_types TEXT NOT NULL DEFAULT 'vulnerability';

-- +goose Down
ALTER TABLE scan_schedules DROP COLUMN scan_types;
ALTER TABLE finding_decisions DROP COLUMN finding_type;
DROP INDEX scan_findings_type;
ALTER TABLE scan_findings DROP COLUMN fingerprint;
ALTER TABLE scan_findings DROP COLUMN subject;
ALTER TABLE scan_findings DROP COLUMN finding_type;
ALTER TABLE scans DROP COLUMN results_digest;
DROP INDEX scans_type;
ALTER TABLE scans DROP COLUMN scan_type;
