-- Postgres only (a procedure holding the guarded append of a write call's audit entry; see
-- migrations/postgres/0016). SQLite binds that entry's values, so its statement is prepared
-- and kept like any other. Kept here so both backends count the same migration levels.
SELECT 1;
