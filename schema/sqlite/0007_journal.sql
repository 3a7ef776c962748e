-- The activity journal (Note [Journal] in otter2/model/journal.py): a group's
-- events, linked by cause. Execution events are written in the same
-- transaction as their receipts; the others are appended.
CREATE TABLE journal (
    tenant_id   TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,   -- an EventKind value
    at          REAL NOT NULL,
    server_id   TEXT,            -- the server the event is about, if any
    record      TEXT NOT NULL,   -- JSON: summary, cause, details
    PRIMARY KEY (tenant_id, group_id, event_id)
) WITHOUT ROWID;

-- Newest-first listing (and the retention's deletions): at DESC, event_id.
CREATE INDEX journal_by_time ON journal (tenant_id, group_id, at DESC, event_id);

-- A server's history.
CREATE INDEX journal_by_server ON journal (tenant_id, group_id, server_id, at DESC, event_id)
    WHERE server_id IS NOT NULL;
