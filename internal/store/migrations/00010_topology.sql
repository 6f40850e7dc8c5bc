-- Topology ingest (internal/topology): nodes and edges are marked gone
-- (gone_at) when no live sensor reports them and pruned after retention;
-- edges remember the sensor that reported them and how many sockets or
-- flows they stand for; topology_sensors holds each sensor's report
-- sequence (to check delta bases across console restarts) and health.

-- +goose Up
ALTER TABLE nodes ADD COLUMN gone_at BIGINT;
CREATE INDEX nodes_sensor ON nodes (sensor_id);
CREATE INDEX nodes_gone ON nodes (gone_at);
ALTER TABLE edges ADD COLUMN sensor_id TEXT;
ALTER TABLE edges ADD COLUMN gone_at BIGINT;
ALTER TABLE edges ADD COLUMN conn_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX edges_gone ON edges (gone_at);

CREATE TABLE topology_sensors (
    id              TEXT PRIMARY KEY,
    run_id          TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    version         TEXT NOT NULL DEFAULT '',
    hostname        TEXT NOT NULL DEFAULT '',
    interval_s      INTEGER NOT NULL DEFAULT 0,
    reports         BIGINT NOT NULL DEFAULT 0,
    probe_errors    TEXT NOT NULL DEFAULT '',
    first_seen      BIGINT NOT NULL,
    last_report     BIGINT NOT NULL
);

-- +goose Down
DROP TABLE topology_sensors;
DROP INDEX edges_gone;
ALTER TABLE edges DROP COLUMN conn_count;
ALTER TABLE edges DROP COLUMN gone_at;
ALTER TABLE edges DROP COLUMN sensor_id;
DROP INDEX nodes_gone;
DROP INDEX nodes_sensor;
ALTER TABLE nodes DROP COLUMN gone_at;
