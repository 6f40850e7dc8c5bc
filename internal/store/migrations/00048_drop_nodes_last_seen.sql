-- nodes_last_seen served no query (nothing reads nodes by last_seen;
-- retention finds gone nodes by gone_at), yet every node the topology
-- writer updated moved its entry: an old page somewhere in the index
-- rewritten per node, a good part of the WAL an ingest wrote. Dropping an
-- index is safe with replicas of the previous version still running.

-- +goose Up
DROP INDEX IF EXISTS nodes_last_seen;

-- +goose Down
CREATE INDEX IF NOT EXISTS nodes_last_seen ON nodes (last_seen);
