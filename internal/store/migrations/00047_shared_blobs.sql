-- Files every console replica on one PostgreSQL keeps the same
-- (docs/replicas.md): the feeds behind the knowledge base (a bundle of
-- `riskmap feeds export`) and the malware rule bundle. The replica that
-- changes one publishes it as a new generation (store.PublishBlob, under
-- the name's advisory lock); the others import each newer generation.
--
-- shared_blobs: one row per published generation, inserted in the
-- transaction that stores its chunks, so a reader never sees part of one.
-- sha256 and size are the content's (uncompressed); encoding says how the
-- chunks hold it (gzip); meta is the publisher's JSON (the feeds' state,
-- the rules' manifest). Only the latest two generations are kept.
--
-- shared_blob_chunks: the generation's bytes, compressed, in chunks of at
-- most 4 MiB numbered from 0.
--
-- Written on PostgreSQL only: one SQLite console has nobody to tell.

-- +goose Up
CREATE TABLE shared_blobs (
    name        TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    chunks      INTEGER NOT NULL,
    encoding    TEXT NOT NULL,
    meta        TEXT NOT NULL,
    replica     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (name, generation)
);

CREATE TABLE shared_blob_chunks (
    name        TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    n           INTEGER NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (name, generation, n)
);

-- +goose Down
DROP TABLE shared_blob_chunks;
DROP TABLE shared_blobs;
