-- The scan types each sensor runs (internal/scans): the types its last
-- command poll declared (sensorproto.PollRequest.ScanTypes), comma
-- separated; empty for an older sensor (vulnerability only). The console
-- offers a type only when a live sensor runs it (GET /api/v1/scan-types).

-- +goose Up
ALTER TABLE sensor_polls ADD COLUMN scan_types TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sensor_polls DROP COLUMN scan_types;
