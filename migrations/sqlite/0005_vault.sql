-- The credential vault (shared/vault). Credentials themselves live in `credentials` (0001),
-- sealed with AES-256-GCM; this table holds what is needed to know which master key seals
-- them, never a key itself: one row per key version, at most one active. A passphrase
-- version keeps its Argon2id parameters and salt so the same key can be derived again; every
-- version keeps a key-check value (a known constant sealed under the key) so a wrong master
-- key is refused before any credential is opened.
CREATE TABLE vault_keys (
    version         INTEGER PRIMARY KEY CHECK (version >= 1),
    kind            TEXT NOT NULL CHECK (kind IN ('random', 'passphrase')),
    kdf             TEXT CHECK (kdf IS NULL OR kdf = 'argon2id-v19'),
    kdf_memory_kib  INTEGER,
    kdf_iterations  INTEGER,
    kdf_parallelism INTEGER,
    kdf_salt        TEXT,
    key_check       TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('active', 'retired')),
    created_at      TEXT NOT NULL,
    retired_at      TEXT,
    CHECK ((kind = 'passphrase') = (kdf IS NOT NULL AND kdf_memory_kib IS NOT NULL
        AND kdf_iterations IS NOT NULL AND kdf_parallelism IS NOT NULL AND kdf_salt IS NOT NULL))
);
CREATE UNIQUE INDEX vault_keys_one_active_idx ON vault_keys (state) WHERE state = 'active';

-- When a credential stops being valid (an OAuth access token), if it is known; NULL otherwise.
ALTER TABLE credentials ADD COLUMN expires_at TEXT;
CREATE INDEX credentials_key_version_idx ON credentials (key_version);
