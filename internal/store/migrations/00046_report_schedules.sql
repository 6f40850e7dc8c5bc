-- Scheduled findings reports (internal/reports): a PDF, XLSX or CSV report
-- of the current findings a query selects (the filters of GET
-- /api/v1/findings, URL-encoded: its scope and filters), made daily or
-- weekly at an hour (UTC) and delivered to a destination of the
-- integrations module that carries files (email, S3). next_run_at is when
-- it is due; the last run's outcome stays beside it.

-- +goose Up
CREATE TABLE report_schedules (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    query           TEXT NOT NULL DEFAULT '',
    format          TEXT NOT NULL,
    cadence         TEXT NOT NULL,
    hour            INTEGER NOT NULL,
    weekday         INTEGER NOT NULL DEFAULT 0,
    destination_id  TEXT NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    next_run_at     BIGINT NOT NULL,
    last_run_at     BIGINT,
    last_status     TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT '',
    created_by      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
CREATE INDEX report_schedules_due ON report_schedules (next_run_at);

-- +goose Down
DROP INDEX report_schedules_due;
DROP TABLE report_schedules;
