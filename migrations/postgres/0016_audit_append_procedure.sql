-- The guarded append of a write call's audit entry, as a procedure. That entry rides in the
-- same message as the call's COMMIT, which the protocol allows only for a simple query (its
-- values written as literals), so it cannot use a prepared statement: sent as a bare INSERT
-- it was parsed and planned afresh on every call, which cost more than the round trip it
-- saved. A PL/pgSQL procedure's statements are planned once per connection and kept, and
-- CALL, a utility statement, skips the planner that SELECT of a function goes through.
--
-- It takes the append lock, then checks (in a new snapshot, so seeing every append that
-- committed before the lock was granted) that the entry continues the head it was built on,
-- and inserts it. A stale head raises an error instead of inserting nothing, so the COMMIT
-- after it never runs; a seq already taken breaks the primary key, to the same effect. The
-- lock's key is an argument, so the one copy of it stays in the code.
CREATE PROCEDURE revops_append_audit_entry(
    entry_seq BIGINT,
    entry_occurred_at TEXT,
    entry_server TEXT,
    entry_actor TEXT,
    entry_tool TEXT,
    entry_kind TEXT,
    entry_args_digest TEXT,
    entry_outcome TEXT,
    entry_detail TEXT,
    entry_prev_hash TEXT,
    entry_hash TEXT,
    append_lock BIGINT
) LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM pg_advisory_xact_lock(append_lock);
    IF entry_seq <> 1 AND NOT EXISTS (
        SELECT 1 FROM audit_log WHERE seq = entry_seq - 1 AND hash = entry_prev_hash
    ) THEN
        RAISE EXCEPTION 'audit entry % does not continue the head it was built on', entry_seq;
    END IF;
    INSERT INTO audit_log (seq, occurred_at, server, actor, tool, kind, args_digest, outcome, detail, prev_hash, hash)
    VALUES (entry_seq, entry_occurred_at, entry_server, entry_actor, entry_tool, entry_kind,
            entry_args_digest, entry_outcome, entry_detail, entry_prev_hash, entry_hash);
END
$body$;
