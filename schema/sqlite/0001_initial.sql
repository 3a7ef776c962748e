-- otter2's embedded store: one row per group, policy, webhook, scheduled event
-- and divergent mark. Every access is by its key prefix (tenant, group...), as
-- the Cassandra backend's partitions will require.

CREATE TABLE scaling_group (
    tenant_id      TEXT    NOT NULL,
    group_id       TEXT    NOT NULL,
    config         TEXT    NOT NULL,   -- JSON, as validated
    launch         TEXT    NOT NULL,   -- JSON, as validated
    desired        INTEGER NOT NULL,
    version        INTEGER NOT NULL,   -- bumped by every state write (compare-and-set)
    paused         INTEGER NOT NULL DEFAULT 0,
    suspended      INTEGER NOT NULL DEFAULT 0,
    status         TEXT    NOT NULL DEFAULT 'ACTIVE',
    error_reasons  TEXT    NOT NULL DEFAULT '[]',
    group_touched  REAL,
    policy_touched TEXT    NOT NULL DEFAULT '{}',
    deleting       INTEGER NOT NULL DEFAULT 0,
    created        REAL    NOT NULL,
    active         TEXT    NOT NULL DEFAULT '[]',  -- what the converger last saw serving
    PRIMARY KEY (tenant_id, group_id)
) WITHOUT ROWID;

CREATE TABLE scaling_policy (
    tenant_id TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    data      TEXT NOT NULL,   -- JSON, exactly as sent
    version   TEXT NOT NULL,   -- new on every create and update
    PRIMARY KEY (tenant_id, group_id, policy_id)
) WITHOUT ROWID;

CREATE TABLE policy_webhook (
    tenant_id          TEXT NOT NULL,
    group_id           TEXT NOT NULL,
    policy_id          TEXT NOT NULL,
    webhook_id         TEXT NOT NULL,
    name               TEXT NOT NULL,
    metadata           TEXT NOT NULL,
    capability_version TEXT NOT NULL,
    capability_hash    TEXT NOT NULL UNIQUE,  -- the anonymous execute index
    PRIMARY KEY (tenant_id, group_id, policy_id, webhook_id)
) WITHOUT ROWID;

CREATE TABLE schedule_event (
    bucket    INTEGER NOT NULL,
    trigger   REAL    NOT NULL,
    policy_id TEXT    NOT NULL,
    tenant_id TEXT    NOT NULL,
    group_id  TEXT    NOT NULL,
    cron      TEXT,
    version   TEXT    NOT NULL,
    PRIMARY KEY (bucket, trigger, policy_id)
) WITHOUT ROWID;

CREATE TABLE divergent (
    tenant_id TEXT    NOT NULL,
    group_id  TEXT    NOT NULL,
    mark      INTEGER NOT NULL,   -- grows on every trigger; cleared only if unchanged
    PRIMARY KEY (tenant_id, group_id)
) WITHOUT ROWID;
