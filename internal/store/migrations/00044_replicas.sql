-- Console replicas on one PostgreSQL (docs/replicas.md).
--
-- topology_changes: what each topology batch changed (internal/topology
-- follow.go), numbered in commit order by the one-row counter
-- topology_change_seq (its row lock is held to commit, as event_seq's is),
-- so every replica applies the others' writes to its in-memory graph.
-- Written on PostgreSQL only (one SQLite console has nobody to tell);
-- rows older than an hour are pruned.
--
-- schema_compat: a contract migration (one that drops or renames what an
-- older binary still uses) inserts (its version, the oldest migration a
-- binary must know to run with it). A binary whose newest migration is
-- below the highest compatible_since refuses to start (store.Open); any
-- other binary runs with a newer schema, so two versions run together
-- during a rolling upgrade (ARCHITECTURE.md "Replicas").

-- +goose Up
CREATE TABLE topology_changes (
    seq      BIGINT PRIMARY KEY,
    replica  TEXT NOT NULL,
    at       BIGINT NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX topology_changes_at ON topology_changes (at);

CREATE TABLE topology_change_seq (
    id  INTEGER PRIMARY KEY,
    n   BIGINT NOT NULL
);
INSERT INTO topology_change_seq (id, n) VALUES (1, 0);

CREATE TABLE schema_compat (
    version           BIGINT PRIMARY KEY,
    compatible_since  BIGINT NOT NULL
);

-- rate_buckets: the per-sensor route limits as token buckets shared by
-- the replicas (store.TakeToken; PostgreSQL only, SQLite's one console
-- keeps them in memory). ok says whether the last take got its token.
CREATE TABLE rate_buckets (
    key     TEXT PRIMARY KEY,
    tokens  DOUBLE PRECISION NOT NULL,
    at      BIGINT NOT NULL,
    ok      BOOLEAN NOT NULL
);
CREATE INDEX rate_buckets_at ON rate_buckets (at);

-- +goose Down
DROP TABLE rate_buckets;
DROP TABLE schema_compat;
DROP TABLE topology_change_seq;
DROP TABLE topology_changes;
