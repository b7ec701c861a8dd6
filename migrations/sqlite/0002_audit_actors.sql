-- Audit actors: the audit log names an actor by a pseudonym (`actor_ref`), never by name,
-- so personal data never enters a hashed field. This table maps pseudonyms to display
-- names; erasing a row unlinks the actor from the log without breaking the chain.
CREATE TABLE audit_actors (
    actor_ref    TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

-- Settings the store keeps for itself (e.g. the salt of actor pseudonyms).
CREATE TABLE store_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE INDEX audit_log_actor_idx ON audit_log (actor, seq);
CREATE INDEX audit_log_tool_idx ON audit_log (server, tool, seq);
CREATE INDEX audit_log_time_idx ON audit_log (occurred_at);
