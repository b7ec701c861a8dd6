-- Sales: every create is idempotent by the caller's request key, and a deal's stage,
-- amount and close-date changes are kept as history (for time in stage, slipped close
-- dates and stage conversion).
ALTER TABLE leads ADD COLUMN request_key TEXT;
CREATE UNIQUE INDEX leads_request_key_idx ON leads (request_key);
CREATE INDEX leads_company_name_idx ON leads (company_name);

ALTER TABLE contacts ADD COLUMN request_key TEXT;
CREATE UNIQUE INDEX contacts_request_key_idx ON contacts (request_key);

ALTER TABLE opportunities ADD COLUMN request_key TEXT;
CREATE UNIQUE INDEX opportunities_request_key_idx ON opportunities (request_key);
-- When the deal entered its current stage; NULL for rows older than this migration, read
-- as their last update.
ALTER TABLE opportunities ADD COLUMN stage_entered_at TEXT;

CREATE TABLE opportunity_stage_history (
    id                    TEXT PRIMARY KEY,
    opportunity_id        TEXT NOT NULL REFERENCES opportunities (id) ON DELETE CASCADE,
    from_stage            TEXT,
    to_stage              TEXT NOT NULL,
    previous_amount_minor BIGINT,
    amount_minor          BIGINT NOT NULL CHECK (amount_minor >= 0),
    previous_close_date   TEXT,
    close_date            TEXT NOT NULL,
    changed_by            TEXT NOT NULL,
    changed_at            TEXT NOT NULL,
    note                  TEXT
);
CREATE INDEX opportunity_stage_history_opp_idx ON opportunity_stage_history (opportunity_id, changed_at);
CREATE INDEX opportunity_stage_history_stage_idx ON opportunity_stage_history (from_stage, to_stage);

CREATE INDEX tasks_lead_idx ON tasks (lead_id);
CREATE INDEX activities_opportunity_idx ON activities (opportunity_id, occurred_at);
