-- Execution receipts: one row per attempt to execute a policy, written in the
-- same transaction as the state change it decided (Note [Receipts]).
CREATE TABLE execution (
    tenant_id       TEXT NOT NULL,
    group_id        TEXT NOT NULL,
    execution_id    TEXT NOT NULL,
    at              REAL NOT NULL,
    record          TEXT NOT NULL,   -- JSON: policy, trigger, decision
    idempotency_key TEXT,            -- the client's key while its window lasts
    PRIMARY KEY (tenant_id, group_id, execution_id)
) WITHOUT ROWID;

CREATE INDEX execution_by_time ON execution (tenant_id, group_id, at, execution_id);

CREATE UNIQUE INDEX execution_by_key ON execution (tenant_id, group_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
