-- The files loaded by processes (internal/topology), stored once per
-- distinct set: processes of the same executable share one row, and a
-- process node's attrs name its set (loadedSet).

-- +goose Up
CREATE TABLE topology_loaded_sets (
    id     TEXT PRIMARY KEY,
    paths  TEXT NOT NULL
);

-- +goose Down
DROP TABLE topology_loaded_sets;
