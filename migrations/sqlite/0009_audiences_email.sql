-- Audiences and email (issue 6): saved segments of leads and contacts, fixed at build time;
-- the suppression list every send respects; and the sends scheduled to an audience. The
-- suite records a send, it does not deliver mail itself.
CREATE TABLE audiences (
    id           TEXT PRIMARY KEY,
    request_key  TEXT UNIQUE,
    name         TEXT NOT NULL,
    filters_json TEXT NOT NULL,
    member_count INTEGER NOT NULL CHECK (member_count >= 0),
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX audiences_created_idx ON audiences (created_at);

-- One row per address in the segment; a lead or a contact (exactly one). Erasing the person
-- removes them from every saved segment.
CREATE TABLE audience_members (
    audience_id TEXT NOT NULL REFERENCES audiences (id) ON DELETE CASCADE,
    lead_id     TEXT REFERENCES leads (id) ON DELETE CASCADE,
    contact_id  TEXT REFERENCES contacts (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    PRIMARY KEY (audience_id, email),
    CHECK ((lead_id IS NULL) <> (contact_id IS NULL))
);
CREATE INDEX audience_members_lead_idx ON audience_members (lead_id);
CREATE INDEX audience_members_contact_idx ON audience_members (contact_id);

-- Addresses no send may reach. Emails are stored lower-case.
CREATE TABLE email_suppressions (
    email       TEXT PRIMARY KEY,
    reason      TEXT NOT NULL CHECK (reason IN ('unsubscribe', 'bounce', 'complaint', 'manual')),
    campaign_id TEXT REFERENCES campaigns (id) ON DELETE SET NULL,
    added_by    TEXT NOT NULL,
    added_at    TEXT NOT NULL
);
CREATE INDEX email_suppressions_campaign_idx ON email_suppressions (campaign_id, added_at);

CREATE TABLE email_sends (
    id            TEXT PRIMARY KEY,
    request_key   TEXT UNIQUE,
    audience_id   TEXT NOT NULL REFERENCES audiences (id),
    campaign_id   TEXT REFERENCES campaigns (id) ON DELETE SET NULL,
    subject       TEXT NOT NULL,
    scheduled_for TEXT NOT NULL,
    recipients    INTEGER NOT NULL CHECK (recipients >= 0),
    suppressed    INTEGER NOT NULL CHECK (suppressed >= 0),
    status        TEXT NOT NULL CHECK (status IN ('scheduled', 'cancelled', 'sent')),
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX email_sends_campaign_idx ON email_sends (campaign_id, scheduled_for);

-- Attribution reads a won deal's touches by lead in time order with their campaign: this
-- index covers that read, so the touches table itself is never visited row by row.
CREATE INDEX marketing_touches_lead_campaign_idx ON marketing_touches (lead_id, occurred_at, campaign_id);
