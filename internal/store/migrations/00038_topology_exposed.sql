-- The hosts and containers the topology (internal/topology) last found
-- reachable from the internet, so that it publishes node.exposed once per
-- node that becomes reachable, across restarts. lost_at is when a node
-- stopped being reachable (forgotten after a while: reaching it again is
-- news again). The row '*' says the first pass recorded a baseline.

-- +goose Up
CREATE TABLE topology_exposed (
    node_id  TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    since    BIGINT NOT NULL,
    lost_at  BIGINT
);

-- +goose Down
DROP TABLE topology_exposed;
