-- Contacts pulled from a CRM (sync kind `contacts`, issue 4) are keyed by their remote id,
-- as leads, accounts and opportunities are: a nullable `external_id`, unique where set
-- (NULLs are distinct in a unique index on both backends). SQLite cannot add a UNIQUE
-- column, so uniqueness is an index here as on Postgres.
ALTER TABLE contacts ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX contacts_external_id_idx ON contacts (external_id);
