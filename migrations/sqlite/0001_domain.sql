-- The domain tables of the RevOps store (SQLite dialect).
-- Conventions (the same in migrations/postgres/0001_domain.sql):
--   * ids are short prefixed text ("acc_000001"), stable across backends and exports;
--   * money is an integer count of minor units (cents) in `*_minor` columns, never a float;
--   * timestamps are UTC RFC 3339 text with microseconds and a `Z` suffix, fixed width, so
--     text order is time order on both backends; dates are `YYYY-MM-DD`;
--   * flags are 0/1 integers here and BOOLEAN on Postgres.

CREATE TABLE accounts (
    id               TEXT PRIMARY KEY,
    external_id      TEXT UNIQUE,
    name             TEXT NOT NULL,
    domain           TEXT,
    industry         TEXT NOT NULL,
    employee_count   INTEGER NOT NULL CHECK (employee_count >= 0),
    country          TEXT NOT NULL,
    plan_tier        TEXT NOT NULL CHECK (plan_tier IN ('starter', 'growth', 'enterprise')),
    lifecycle_stage  TEXT NOT NULL CHECK (lifecycle_stage IN ('trial', 'active', 'at_risk', 'churned')),
    segment          TEXT NOT NULL CHECK (segment IN ('smb', 'mid_market', 'enterprise')),
    mrr_minor        INTEGER NOT NULL DEFAULT 0 CHECK (mrr_minor >= 0),
    currency         TEXT NOT NULL DEFAULT 'USD',
    seats_purchased  INTEGER NOT NULL DEFAULT 0 CHECK (seats_purchased >= 0),
    owner            TEXT,
    csm_owner        TEXT,
    trial_started_at TEXT,
    trial_ends_at    TEXT,
    customer_since   TEXT,
    churned_at       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX accounts_domain_key ON accounts (domain) WHERE domain IS NOT NULL;
CREATE INDEX accounts_lifecycle_idx ON accounts (lifecycle_stage, mrr_minor);
CREATE INDEX accounts_owner_idx ON accounts (owner);
CREATE INDEX accounts_csm_owner_idx ON accounts (csm_owner);
CREATE INDEX accounts_name_idx ON accounts (name);

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    email       TEXT NOT NULL UNIQUE,
    phone       TEXT,
    title       TEXT,
    role        TEXT NOT NULL CHECK (role IN ('decision_maker', 'champion', 'user', 'billing')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX contacts_account_idx ON contacts (account_id);

CREATE TABLE campaigns (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    channel               TEXT NOT NULL CHECK (channel IN ('paid_search', 'paid_social', 'email', 'events', 'content', 'webinar', 'partner')),
    status                TEXT NOT NULL CHECK (status IN ('draft', 'active', 'paused', 'completed')),
    audience              TEXT,
    starts_on             TEXT NOT NULL,
    ends_on               TEXT,
    budget_lifetime_minor INTEGER NOT NULL CHECK (budget_lifetime_minor >= 0),
    budget_daily_minor    INTEGER CHECK (budget_daily_minor >= 0),
    currency              TEXT NOT NULL DEFAULT 'USD',
    impressions           INTEGER NOT NULL DEFAULT 0,
    clicks                INTEGER NOT NULL DEFAULT 0,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX campaigns_channel_idx ON campaigns (channel, status);

CREATE TABLE leads (
    id                     TEXT PRIMARY KEY,
    external_id            TEXT UNIQUE,
    email                  TEXT NOT NULL UNIQUE,
    first_name             TEXT NOT NULL,
    last_name              TEXT NOT NULL,
    company_name           TEXT NOT NULL,
    domain                 TEXT,
    industry               TEXT NOT NULL,
    employee_count         INTEGER NOT NULL CHECK (employee_count >= 0),
    country                TEXT NOT NULL,
    title                  TEXT,
    source                 TEXT NOT NULL,
    status                 TEXT NOT NULL CHECK (status IN ('new', 'working', 'mql', 'sql', 'converted', 'disqualified')),
    owner                  TEXT,
    campaign_id            TEXT REFERENCES campaigns (id) ON DELETE SET NULL,
    website_visits_30d     INTEGER NOT NULL DEFAULT 0 CHECK (website_visits_30d >= 0),
    demo_requested         INTEGER NOT NULL DEFAULT 0 CHECK (demo_requested IN (0, 1)),
    whitepaper_downloads   INTEGER NOT NULL DEFAULT 0 CHECK (whitepaper_downloads >= 0),
    email_engagement_score INTEGER NOT NULL DEFAULT 0 CHECK (email_engagement_score BETWEEN 0 AND 100),
    linkedin_engagement    INTEGER NOT NULL DEFAULT 0 CHECK (linkedin_engagement >= 0),
    free_trial_started     INTEGER NOT NULL DEFAULT 0 CHECK (free_trial_started IN (0, 1)),
    converted_account_id   TEXT REFERENCES accounts (id) ON DELETE SET NULL,
    converted_at           TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);
CREATE INDEX leads_status_idx ON leads (status, created_at);
CREATE INDEX leads_owner_idx ON leads (owner, status);
CREATE INDEX leads_source_idx ON leads (source);
CREATE INDEX leads_campaign_idx ON leads (campaign_id);
CREATE INDEX leads_domain_idx ON leads (domain);
CREATE INDEX leads_created_idx ON leads (created_at);

CREATE TABLE opportunities (
    id           TEXT PRIMARY KEY,
    external_id  TEXT UNIQUE,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    lead_id      TEXT REFERENCES leads (id) ON DELETE SET NULL,
    name         TEXT NOT NULL,
    stage        TEXT NOT NULL CHECK (stage IN ('prospecting', 'qualification', 'proposal', 'negotiation', 'closed_won', 'closed_lost')),
    amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
    currency     TEXT NOT NULL DEFAULT 'USD',
    probability  INTEGER NOT NULL CHECK (probability BETWEEN 0 AND 100),
    close_date   TEXT NOT NULL,
    owner        TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    closed_at    TEXT
);
CREATE INDEX opportunities_account_idx ON opportunities (account_id);
CREATE INDEX opportunities_stage_idx ON opportunities (stage, close_date);
CREATE INDEX opportunities_owner_idx ON opportunities (owner, stage);
CREATE INDEX opportunities_lead_idx ON opportunities (lead_id);

CREATE TABLE activities (
    id             TEXT PRIMARY KEY,
    request_key    TEXT UNIQUE,
    kind           TEXT NOT NULL CHECK (kind IN ('call', 'email', 'meeting', 'note', 'touchpoint')),
    subject        TEXT NOT NULL,
    detail         TEXT,
    lead_id        TEXT REFERENCES leads (id) ON DELETE CASCADE,
    account_id     TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    contact_id     TEXT REFERENCES contacts (id) ON DELETE SET NULL,
    opportunity_id TEXT REFERENCES opportunities (id) ON DELETE SET NULL,
    actor          TEXT NOT NULL,
    occurred_at    TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    CHECK (lead_id IS NOT NULL OR account_id IS NOT NULL)
);
CREATE INDEX activities_lead_idx ON activities (lead_id, occurred_at);
CREATE INDEX activities_account_idx ON activities (account_id, occurred_at);

CREATE TABLE tasks (
    id             TEXT PRIMARY KEY,
    request_key    TEXT UNIQUE,
    title          TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('open', 'done', 'cancelled')),
    owner          TEXT,
    due_on         TEXT,
    lead_id        TEXT REFERENCES leads (id) ON DELETE CASCADE,
    account_id     TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    opportunity_id TEXT REFERENCES opportunities (id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL,
    completed_at   TEXT
);
CREATE INDEX tasks_owner_idx ON tasks (owner, status, due_on);
CREATE INDEX tasks_account_idx ON tasks (account_id);

CREATE TABLE budget_ledger (
    id           TEXT PRIMARY KEY,
    campaign_id  TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    entry_kind   TEXT NOT NULL CHECK (entry_kind IN ('reservation', 'commit', 'release')),
    amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
    spend_date   TEXT NOT NULL,
    request_key  TEXT UNIQUE,
    actor        TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX budget_ledger_campaign_idx ON budget_ledger (campaign_id, spend_date);
CREATE INDEX budget_ledger_date_idx ON budget_ledger (spend_date);

CREATE TABLE marketing_touches (
    id          TEXT PRIMARY KEY,
    request_key TEXT UNIQUE,
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    lead_id     TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    touch_type  TEXT NOT NULL CHECK (touch_type IN ('impression', 'click', 'form_fill', 'email_open', 'email_click', 'event_attended', 'content_download')),
    occurred_at TEXT NOT NULL
);
CREATE INDEX marketing_touches_lead_idx ON marketing_touches (lead_id, occurred_at);
CREATE INDEX marketing_touches_campaign_idx ON marketing_touches (campaign_id, occurred_at);

CREATE TABLE usage_snapshots (
    account_id        TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    week_start        TEXT NOT NULL,
    active_users      INTEGER NOT NULL CHECK (active_users >= 0),
    seats_used        INTEGER NOT NULL CHECK (seats_used >= 0),
    logins            INTEGER NOT NULL CHECK (logins >= 0),
    feature_events    INTEGER NOT NULL CHECK (feature_events >= 0),
    premium_feature_events INTEGER NOT NULL DEFAULT 0 CHECK (premium_feature_events >= 0),
    PRIMARY KEY (account_id, week_start)
);

CREATE TABLE support_tickets (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    contact_id  TEXT REFERENCES contacts (id) ON DELETE SET NULL,
    subject     TEXT NOT NULL,
    priority    TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status      TEXT NOT NULL CHECK (status IN ('open', 'pending', 'solved', 'closed')),
    opened_at   TEXT NOT NULL,
    resolved_at TEXT,
    csat        INTEGER CHECK (csat BETWEEN 1 AND 5)
);
CREATE INDEX support_tickets_account_idx ON support_tickets (account_id, opened_at);
CREATE INDEX support_tickets_status_idx ON support_tickets (status, priority);

CREATE TABLE nps_responses (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    contact_id   TEXT REFERENCES contacts (id) ON DELETE SET NULL,
    score        INTEGER NOT NULL CHECK (score BETWEEN 0 AND 10),
    comment      TEXT,
    responded_at TEXT NOT NULL
);
CREATE INDEX nps_responses_account_idx ON nps_responses (account_id, responded_at);

CREATE TABLE models (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('lead', 'churn', 'conversion', 'health')),
    version       INTEGER NOT NULL CHECK (version >= 1),
    status        TEXT NOT NULL CHECK (status IN ('candidate', 'active', 'retired')),
    params_json   TEXT NOT NULL,
    metrics_json  TEXT,
    baseline_json TEXT,
    trained_at    TEXT,
    created_at    TEXT NOT NULL,
    UNIQUE (kind, version)
);
CREATE UNIQUE INDEX models_one_active_per_kind ON models (kind) WHERE status = 'active';

CREATE TABLE predictions (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    subject_type  TEXT NOT NULL,
    subject_id    TEXT,
    model_name    TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    score         REAL NOT NULL,
    tier          TEXT,
    payload_json  TEXT NOT NULL,
    actor         TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX predictions_subject_idx ON predictions (subject_type, subject_id, created_at);
CREATE INDEX predictions_model_idx ON predictions (model_name, model_version, created_at);

-- The audit log never stores personal data in the clear; see ARCHITECTURE.md.
CREATE TABLE audit_log (
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
    hash        TEXT NOT NULL UNIQUE
);

CREATE TABLE audit_checkpoints (
    id         TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL,
    head_hash  TEXT NOT NULL,
    signed_at  TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL
);

CREATE TABLE credentials (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    provider    TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (provider, name)
);

CREATE TABLE confirmations (
    token_digest TEXT PRIMARY KEY,
    tool         TEXT NOT NULL,
    args_digest  TEXT NOT NULL,
    actor        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT
);
CREATE INDEX confirmations_expiry_idx ON confirmations (expires_at);
