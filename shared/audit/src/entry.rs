//! One audit entry and its hash.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of entry 1.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const SHA256_INITIAL_STATE: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

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
        hex::encode(self.view().digest_at(self.seq, &mut Vec::new()))
    }

    /// How many bytes the hash covers for this entry (for measuring hashing speed).
    pub fn hashed_len(&self) -> usize {
        let mut encoding = Vec::new();
        self.view().encode_at(self.seq, &mut encoding);
        encoding.len()
    }

    /// The entry's fields, borrowed.
    pub fn view(&self) -> EntryView<'_> {
        EntryView::from_fields(
            self.seq,
            [
                &self.occurred_at,
                &self.server,
                &self.actor,
                &self.tool,
                &self.kind,
                &self.args_digest,
                &self.outcome,
                &self.detail,
                &self.prev_hash,
                &self.hash,
            ],
        )
    }
}

/// The text fields after `seq`, in the order they are stored, exported and packed.
pub(crate) const TEXT_FIELDS: [&str; 10] = [
    "occurred_at",
    "server",
    "actor",
    "tool",
    "kind",
    "args_digest",
    "outcome",
    "detail",
    "prev_hash",
    "hash",
];

/// One entry's fields, borrowed from an [`AuditEntry`] or straight from an export line, so
/// the verifier can check millions of entries without allocating for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryView<'a> {
    pub seq: i64,
    pub occurred_at: &'a str,
    pub server: &'a str,
    pub actor: &'a str,
    pub tool: &'a str,
    pub kind: &'a str,
    pub args_digest: &'a str,
    pub outcome: &'a str,
    pub detail: &'a str,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

impl<'a> EntryView<'a> {
    /// The entry with `seq` and its text fields in [`TEXT_FIELDS`] order.
    pub(crate) fn from_fields(seq: i64, fields: [&'a str; 10]) -> EntryView<'a> {
        let [
            occurred_at,
            server,
            actor,
            tool,
            kind,
            args_digest,
            outcome,
            detail,
            prev_hash,
            hash,
        ] = fields;
        EntryView {
            seq,
            occurred_at,
            server,
            actor,
            tool,
            kind,
            args_digest,
            outcome,
            detail,
            prev_hash,
            hash,
        }
    }

    /// The text fields in [`TEXT_FIELDS`] order: the inverse of [`EntryView::from_fields`].
    pub(crate) fn text_fields(&self) -> [&'a str; 10] {
        let [
            occurred_at,
            server,
            actor,
            tool,
            kind,
            args_digest,
            outcome,
            detail,
            prev_hash,
        ] = self.hashed_fields();
        [
            occurred_at,
            server,
            actor,
            tool,
            kind,
            args_digest,
            outcome,
            detail,
            prev_hash,
            self.hash,
        ]
    }

    /// The text fields the hash covers, in order (after the version and `seq`).
    fn hashed_fields(&self) -> [&'a str; 9] {
        [
            self.occurred_at,
            self.server,
            self.actor,
            self.tool,
            self.kind,
            self.args_digest,
            self.outcome,
            self.detail,
            self.prev_hash,
        ]
    }

    /// Writes the bytes the hash covers, as if the entry stood at `seq`, into `encoding`
    /// (cleared first): the version, then `seq`, then each text field, every one prefixed
    /// with its length as 8 big-endian bytes.
    pub fn encode_at(&self, seq: i64, encoding: &mut Vec<u8>) {
        let length = self.encoded_len();
        encoding.clear();
        encoding.resize(length, 0);
        self.fill_encoding(seq, encoding);
    }

    fn encoded_len(&self) -> usize {
        8 + ENCODING_VERSION.len()
            + 8
            + 8
            + self
                .hashed_fields()
                .iter()
                .map(|field| 8 + field.len())
                .sum::<usize>()
    }

    /// Writes the encoding at the start of `encoding`, which is at least that long. Sized
    /// once, then filled: a verifier encodes millions of entries, and growing the buffer
    /// piece by piece cost more than the copying.
    fn fill_encoding(&self, seq: i64, encoding: &mut [u8]) {
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            encoding[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&(ENCODING_VERSION.len() as u64).to_be_bytes());
        put(ENCODING_VERSION);
        put(&8u64.to_be_bytes());
        put(&seq.to_be_bytes());
        for field in self.hashed_fields() {
            put(&(field.len() as u64).to_be_bytes());
            put(field.as_bytes());
        }
    }

    /// SHA-256 of the encoding at `seq`; `scratch` is reused between calls.
    ///
    /// The encoding is written with SHA-256's own padding (FIPS 180-4, 5.1.1) straight after
    /// it, and the blocks go to the compression function in one call: the streaming hasher
    /// copied the tail into a block buffer of its own and padded it there, about a twentieth
    /// of a verifier's time. The `hash_agrees_with_the_streaming_hasher` test holds
    /// the two to the same answer at every length modulo the block size.
    pub fn digest_at(&self, seq: i64, scratch: &mut Vec<u8>) -> [u8; 32] {
        let length = self.encoded_len();
        let padded = (length + 1 + 8).div_ceil(64) * 64;
        scratch.clear();
        scratch.resize(padded, 0);
        self.fill_encoding(seq, scratch);
        scratch[length] = 0x80;
        scratch[padded - 8..].copy_from_slice(&((length as u64) * 8).to_be_bytes());
        let (blocks, _) = scratch.as_chunks::<64>();
        let mut state = SHA256_INITIAL_STATE;
        sha2::block_api::compress256(&mut state, blocks);
        let mut digest = [0u8; 32];
        for (bytes, word) in digest.chunks_exact_mut(4).zip(state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }

    /// Whether the stored `hash` is the hash of the entry at `seq`.
    pub fn hash_matches_at(&self, seq: i64, scratch: &mut Vec<u8>) -> bool {
        self.hash.len() == 64 && lower_hex(&self.digest_at(seq, scratch)) == self.hash.as_bytes()
    }

    /// Whether the stored `hash` is the hash of the entry's own fields.
    pub fn hash_matches(&self, scratch: &mut Vec<u8>) -> bool {
        self.hash_matches_at(self.seq, scratch)
    }
}

/// Lower-case hex of a digest, without allocating; written as arithmetic on a whole array so
/// it compiles to vector instructions rather than a table lookup per digit.
fn lower_hex(digest: &[u8; 32]) -> [u8; 64] {
    let mut nibbles = [0u8; 64];
    for (pair, byte) in nibbles.chunks_exact_mut(2).zip(digest) {
        pair[0] = byte >> 4;
        pair[1] = byte & 0x0f;
    }
    nibbles.map(|nibble| nibble + if nibble < 10 { b'0' } else { b'a' - 10 })
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
    fn the_hash_is_lower_case_hex_of_sha256_over_the_encoding() {
        let mut e = entry();
        e.hash = e.computed_hash();
        let mut encoding = Vec::new();
        e.view().encode_at(e.seq, &mut encoding);
        assert_eq!(e.hash, sha256_hex(&encoding));
        assert_eq!(e.hashed_len(), encoding.len());
        assert!(e.view().hash_matches(&mut encoding));
        e.hash = e.hash.to_uppercase();
        assert!(
            !e.view().hash_matches(&mut encoding),
            "only the written form matches"
        );
    }

    #[test]
    fn hash_agrees_with_the_streaming_hasher() {
        let mut scratch = Vec::new();
        let mut encoding = Vec::new();
        for detail_length in 0..=140 {
            let mut e = entry();
            e.detail = "é".repeat(detail_length / 2) + &"d".repeat(detail_length % 2);
            e.view().encode_at(e.seq, &mut encoding);
            let streamed: [u8; 32] = Sha256::digest(&encoding).into();
            assert_eq!(e.view().digest_at(e.seq, &mut scratch), streamed);
            assert_eq!(
                lower_hex(&streamed).as_slice(),
                hex::encode(streamed).as_bytes()
            );
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
