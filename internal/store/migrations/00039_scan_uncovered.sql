-- Honest coverage (internal/scans): what a scan could not judge. uncovered
-- is the JSON list of the inventory's ecosystems (a distribution release
-- such as "Debian:12", a language such as "PyPI") the knowledge base held
-- no records for when the scan was matched, each with how many packages
-- were therefore not judged: [{"ecosystem": "Debian:12", "packages": 88}].
-- Empty when everything was covered (and for scans matched before this
-- column, until their next rematch).

-- +goose Up
ALTER TABLE scans ADD COLUMN uncovered TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE scans DROP COLUMN uncovered;
