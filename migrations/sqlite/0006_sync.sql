-- CRM sync state (shared/connectors): one row per provider and object kind. A pass pulls
-- pages from the CRM and commits each page's upserts together with this row, so a pass
-- that fails mid-way resumes from `page_cursor`, the last committed page, and nothing is
-- pulled twice or lost. Counts are running totals over every run; `last_error` is the
-- user-facing message of the last failed run (never a token, header or body).
CREATE TABLE sync_cursors (
    provider          TEXT NOT NULL,
    object_kind       TEXT NOT NULL,
    -- The CRM's paging cursor of the pass in progress; NULL when the next run starts a pass.
    page_cursor       TEXT,
    -- The pass in progress asks for records modified at or after this time (NULL: all).
    pass_since        TEXT,
    pass_started_at   TEXT,
    -- Start of the last completed pass: the next pass asks for records modified since.
    synced_through    TEXT,
    last_run_at       TEXT,
    last_success_at   TEXT,
    pages_synced      INTEGER NOT NULL DEFAULT 0 CHECK (pages_synced >= 0),
    records_created   INTEGER NOT NULL DEFAULT 0 CHECK (records_created >= 0),
    records_updated   INTEGER NOT NULL DEFAULT 0 CHECK (records_updated >= 0),
    records_unchanged INTEGER NOT NULL DEFAULT 0 CHECK (records_unchanged >= 0),
    records_skipped   INTEGER NOT NULL DEFAULT 0 CHECK (records_skipped >= 0),
    last_error        TEXT,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (provider, object_kind)
);
