-- Campaign operations (issue 6): creating campaigns safely on retry, closing a budget
-- reservation at most once, and the register of checksummed marketing backups.

-- `create_campaign` takes a request_id; a retry with the same key returns the first campaign.
ALTER TABLE campaigns ADD COLUMN request_key TEXT;
CREATE UNIQUE INDEX campaigns_request_key_idx ON campaigns (request_key);

-- A reservation is closed (committed or released) at most once, even if two calls race to
-- close it: the second insert fails instead of committing the same money twice.
CREATE UNIQUE INDEX budget_ledger_one_closing_idx ON budget_ledger (reservation_id);

-- One row per backup file written under `<data dir>/backups`. A deleted backup keeps its row
-- as a tombstone (deleted_at, deleted_by) so the register shows what existed and who removed
-- it; its file is removed once the deletion has committed.
CREATE TABLE backups (
    id          TEXT PRIMARY KEY,
    file_name   TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    note        TEXT,
    size_bytes  INTEGER NOT NULL CHECK (size_bytes >= 0),
    row_count   INTEGER NOT NULL CHECK (row_count >= 0),
    sha256      TEXT NOT NULL,
    deleted_at  TEXT,
    deleted_by  TEXT
);
CREATE INDEX backups_created_idx ON backups (created_at);
