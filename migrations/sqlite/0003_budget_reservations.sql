-- Budget reservations: a 'commit' or 'release' row closes the 'reservation' it names, so
-- the ledger stays append-only and what is held is always recomputable from it.
ALTER TABLE budget_ledger ADD COLUMN reservation_id TEXT REFERENCES budget_ledger (id);
CREATE INDEX budget_ledger_reservation_idx ON budget_ledger (reservation_id);
