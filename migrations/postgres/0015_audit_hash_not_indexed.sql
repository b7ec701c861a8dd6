-- The audit log's `hash` loses its UNIQUE index. Nothing looks an entry up by its hash (the
-- append guard and verify go by seq), and a hash covers its own seq, so two entries cannot
-- share one; the index only cost every append a write to a random page of a large B-tree.
-- What makes a fork impossible to store stays: UNIQUE(seq) (the primary key) and
-- UNIQUE(prev_hash).
ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS audit_log_hash_key;
