-- Customer-success operations (issue 7; the same tables as migrations/sqlite/0011_cs_ops.sql):
-- playbook interventions and the tasks they create, idempotent ticket
-- creation, and the record that a GDPR erasure happened.

-- A playbook started for an account. Its steps are rows in `tasks` (tasks.intervention_id).
-- It stays `open` while any of its tasks is open; at most one open intervention per account
-- and playbook.
CREATE TABLE interventions (
    id           TEXT PRIMARY KEY,
    request_key  TEXT UNIQUE,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    playbook     TEXT NOT NULL CHECK (playbook IN ('usage_recovery', 'executive_outreach', 'support_escalation', 'onboarding_restart', 'renewal_save', 'adoption_training')),
    reason       TEXT,
    owner        TEXT,
    status       TEXT NOT NULL CHECK (status IN ('open', 'completed')),
    starts_on    TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    completed_at TEXT
);
CREATE INDEX interventions_account_idx ON interventions (account_id, playbook, status);
CREATE UNIQUE INDEX interventions_one_open_idx ON interventions (account_id, playbook) WHERE status = 'open';

ALTER TABLE tasks ADD COLUMN intervention_id TEXT REFERENCES interventions (id) ON DELETE SET NULL;
CREATE INDEX tasks_intervention_idx ON tasks (intervention_id);

ALTER TABLE support_tickets ADD COLUMN request_key TEXT;
CREATE UNIQUE INDEX support_tickets_request_key_idx ON support_tickets (request_key);
CREATE INDEX nps_responses_contact_idx ON nps_responses (contact_id);
CREATE INDEX support_tickets_contact_idx ON support_tickets (contact_id);
CREATE INDEX activities_contact_idx ON activities (contact_id);

-- Proof that an erasure happened, without the erased data: the subject is kept only as a
-- SHA-256 digest of its identifier (and of its email, when it had one), so compliance can
-- answer "was dana@acme.example erased?" by digesting the address, while the table itself
-- names nobody. `counts_json` holds rows deleted and anonymised per table.
CREATE TABLE erasures (
    id             TEXT PRIMARY KEY,
    subject_kind   TEXT NOT NULL CHECK (subject_kind IN ('contact', 'email', 'account')),
    subject_digest TEXT NOT NULL,
    email_digests  TEXT NOT NULL,
    counts_json    TEXT NOT NULL,
    actor          TEXT NOT NULL,
    erased_at      TEXT NOT NULL
);
CREATE INDEX erasures_subject_idx ON erasures (subject_digest);
