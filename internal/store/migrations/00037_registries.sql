-- Registry scanning (internal/registries): registry accounts (credentials
-- in the secrets table, sealed), their catalogue (repositories, tags) and
-- the images it names by digest, and the history of catalogue syncs. The
-- scans of registry images are scans (internal/scans); a running
-- container can adopt its registry image's scan (scans.source_scan).

-- +goose Up
-- A registry account: a provider kind (v2, dockerhub, ecr...), its plain
-- settings (JSON; the secret ones are in the secrets table, owner
-- "registries", ref the account id, and secret_names says which are set),
-- an extra CA, the catalogue filters, the sync schedule and how new
-- images are scanned.
CREATE TABLE registry_accounts (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL DEFAULT '',
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    host           TEXT NOT NULL,
    settings       TEXT NOT NULL DEFAULT '{}',
    secret_names   TEXT NOT NULL DEFAULT '[]',
    ca_cert        TEXT NOT NULL DEFAULT '',
    repo_globs     TEXT NOT NULL DEFAULT '[]',
    tag_regex      TEXT NOT NULL DEFAULT '',
    latest_tags    INTEGER NOT NULL DEFAULT 0,
    schedule       TEXT NOT NULL DEFAULT '',
    next_sync_at   BIGINT,
    auto_scan      BOOLEAN NOT NULL DEFAULT FALSE,
    scanner        TEXT NOT NULL DEFAULT '',
    sync_job       TEXT NOT NULL DEFAULT '',
    created_by     TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    updated_by     TEXT NOT NULL DEFAULT '',
    updated_at     BIGINT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX registry_accounts_next_sync ON registry_accounts (next_sync_at);

-- A repository of an account's catalogue (gone_at: no longer listed).
CREATE TABLE registry_repositories (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES registry_accounts (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    tag_count   INTEGER NOT NULL DEFAULT 0,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    gone_at     BIGINT,
    UNIQUE (account_id, name)
);

-- A tag of a repository and the digest it points to (a manifest or an
-- index); pushed_at as the registry's API tells, else the image's creation
-- time; gone_at once the registry (or the filters) no longer list it.
CREATE TABLE registry_tags (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES registry_accounts (id) ON DELETE CASCADE,
    repository_id  TEXT NOT NULL REFERENCES registry_repositories (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    digest         TEXT NOT NULL,
    media_type     TEXT NOT NULL DEFAULT '',
    pushed_at      BIGINT,
    size           BIGINT NOT NULL DEFAULT 0,
    platforms      TEXT NOT NULL DEFAULT '[]',
    first_seen     BIGINT NOT NULL,
    changed_at     BIGINT NOT NULL,
    last_seen      BIGINT NOT NULL,
    gone_at        BIGINT,
    gone_reason    TEXT NOT NULL DEFAULT '',
    UNIQUE (repository_id, name)
);
CREATE INDEX registry_tags_digest ON registry_tags (digest);
CREATE INDEX registry_tags_account ON registry_tags (account_id, gone_at);

-- A manifest by digest, one row whatever names it: an image (its config
-- digest, platform, size, creation time) or an index (its images, one per
-- platform, in children).
CREATE TABLE registry_images (
    digest         TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    media_type     TEXT NOT NULL DEFAULT '',
    config_digest  TEXT NOT NULL DEFAULT '',
    platform       TEXT NOT NULL DEFAULT '',
    size           BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT,
    children       TEXT NOT NULL DEFAULT '[]',
    first_seen     BIGINT NOT NULL
);
CREATE INDEX registry_images_config ON registry_images (config_digest);

-- One catalogue sync attempt of an account and what it found.
CREATE TABLE registry_syncs (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES registry_accounts (id) ON DELETE CASCADE,
    job_id        TEXT NOT NULL,
    attempt       INTEGER NOT NULL DEFAULT 1,
    trigger_by    TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    repositories  INTEGER NOT NULL DEFAULT 0,
    tags          INTEGER NOT NULL DEFAULT 0,
    new_tags      INTEGER NOT NULL DEFAULT 0,
    changed_tags  INTEGER NOT NULL DEFAULT 0,
    gone_tags     INTEGER NOT NULL DEFAULT 0,
    new_images    INTEGER NOT NULL DEFAULT 0,
    scans_queued  INTEGER NOT NULL DEFAULT 0,
    message       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX registry_syncs_account ON registry_syncs (account_id, started_at);
CREATE INDEX registry_syncs_job ON registry_syncs (job_id);

-- A scan that adopted another's inventory (a running container given its
-- registry image's scan) names it here; '' for scans that ran.
ALTER TABLE scans ADD COLUMN source_scan TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE scans DROP COLUMN source_scan;
DROP TABLE registry_syncs;
DROP TABLE registry_images;
DROP TABLE registry_tags;
DROP TABLE registry_repositories;
DROP TABLE registry_accounts;
