//! One audit entry and its hash.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of entry 1.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Names the encoding, so a future change of fields cannot collide with this one.
const ENCODING_VERSION: &[u8] = b"revops-audit-v1";

/// One entry of the chain, as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3, … with no gaps.
    pub seq: i64,
    /// UTC, never earlier than the previous entry's.
    pub occurred_at: String,
    /// sales, marketing, cs or revops.
    pub server: String,
    /// The actor's pseudonym (see `audit_actors`), never a name or email.
    pub actor: String,
    pub tool: String,
    /// read, write or destructive.
    pub kind: String,
    /// SHA-256 of the canonical JSON of the call's arguments.
    pub args_digest: String,
    /// ok, error, denied or awaiting_confirmation.
    pub outcome: String,
    /// A short description chosen by code, without personal data.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry must carry: SHA-256 over the encoding version and every other
    /// field, each prefixed with its length, so no two different entries encode alike.
    pub fn computed_hash(&self) -> String {
        hash_fields(self.seq, self)
    }

    /// How many bytes the hash covers for this entry (for measuring hashing speed).
    pub fn hashed_len(&self) -> usize {
        hashed_fields(self)
            .iter()
            .map(|field| 8 + field.len())
            .sum::<usize>()
            + 8
            + ENCODING_VERSION.len()
            + 8
            + 8
    }

    /// The hash the entry would carry at another `seq` (used to tell a moved entry from an
    /// altered one).
    pub(crate) fn hash_at(&self, seq: i64) -> String {
        hash_fields(seq, self)
    }
}

fn hash_fields(seq: i64, entry: &AuditEntry) -> String {
    let mut hasher = Sha256::new();
    hasher.update((ENCODING_VERSION.len() as u64).to_be_bytes());
    hasher.update(ENCODING_VERSION);
    hasher.update(8u64.to_be_bytes());
    hasher.update(seq.to_be_bytes());
    for field in hashed_fields(entry) {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The text fields the hash covers, in order (after the version and `seq`).
fn hashed_fields(entry: &AuditEntry) -> [&String; 9] {
    [
        &entry.occurred_at,
        &entry.server,
        &entry.actor,
        &entry.tool,
        &entry.kind,
        &entry.args_digest,
        &entry.outcome,
        &entry.detail,
        &entry.prev_hash,
    ]
}

/// SHA-256 of bytes, hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            seq: 1,
            occurred_at: "2026-11-21T10:00:00.000000Z".into(),
            server: "sales".into(),
            actor: "u_1".into(),
            tool: "get_lead".into(),
            kind: "read".into(),
            args_digest: "d".into(),
            outcome: "ok".into(),
            detail: String::new(),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_hash() {
        let a = entry();
        let mut b = entry();
        b.tool = "get_leadr".into();
        b.kind = "ead".into();
        assert_ne!(a.computed_hash(), b.computed_hash());
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = entry().computed_hash();
        let mut changed = entry();
        changed.seq = 2;
        assert_ne!(changed.computed_hash(), base);
        for alter in [
            |e: &mut AuditEntry| e.occurred_at.push('x'),
            |e: &mut AuditEntry| e.server.push('x'),
            |e: &mut AuditEntry| e.actor.push('x'),
            |e: &mut AuditEntry| e.tool.push('x'),
            |e: &mut AuditEntry| e.kind.push('x'),
            |e: &mut AuditEntry| e.args_digest.push('x'),
            |e: &mut AuditEntry| e.outcome.push('x'),
            |e: &mut AuditEntry| e.detail.push('x'),
            |e: &mut AuditEntry| e.prev_hash.push('x'),
        ] {
            let mut e = entry();
            alter(&mut e);
            assert_ne!(e.computed_hash(), base);
        }
    }
}
