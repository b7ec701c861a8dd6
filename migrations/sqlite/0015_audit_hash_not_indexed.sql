-- The audit log's `hash` loses its UNIQUE index. Nothing looks an entry up by its hash (the
-- append guard and verify go by seq), and a hash covers its own seq, so two entries cannot
-- share one; the index only cost every append a write to a random page of a large B-tree,
-- which halved the rate of group commits. What makes a fork impossible to store stays:
-- UNIQUE(seq) (the primary key) and UNIQUE(prev_hash).
-- SQLite cannot drop a column's UNIQUE constraint, so the table is rebuilt with the same
-- columns, rows and other indexes.
CREATE TABLE audit_log_rebuilt (
    seq         INTEGER PRIMARY KEY CHECK (seq >= 1),
    occurred_at TEXT NOT NULL,
    server      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    tool        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('read', 'write', 'destructive')),
    args_digest TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'denied', 'awaiting_confirmation')),
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL UNIQUE,
    hash        TEXT NOT NULL
);
INSERT INTO audit_log_rebuilt (seq, occurred_at, server, actor, tool, kind, args_digest, outcome, detail, prev_hash, hash)
    SELECT seq, occurred_at, server, actor, tool, kind, args_digest, outcome, detail, prev_hash, hash
    FROM audit_log ORDER BY seq;
DROP TABLE audit_log;
ALTER TABLE audit_log_rebuilt RENAME TO audit_log;
CREATE INDEX audit_log_actor_idx ON audit_log (actor, seq);
CREATE INDEX audit_log_tool_idx ON audit_log (server, tool, seq);
CREATE INDEX audit_log_time_idx ON audit_log (occurred_at);
