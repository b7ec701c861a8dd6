-- Settings a team changes at run time through its server (`update_settings` and the like):
-- one row per server and key, the value as JSON. A server validates every value before it
-- writes, and writes a whole change in one transaction, so an invalid change applies nothing.
CREATE TABLE settings (
    server     TEXT NOT NULL CHECK (server IN ('sales', 'marketing', 'cs')),
    key        TEXT NOT NULL,
    value_json TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (server, key)
);
