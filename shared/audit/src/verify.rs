//! Verification: walks the chain in `seq` order, a batch at a time (never the whole log in
//! memory), recomputing hashes on every core, and names the first entry that is wrong and
//! why. Checkpoints catch what a self-consistent chain cannot show on its own: a truncated
//! tail, or history rewritten with recomputed hashes.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::entry::{AuditEntry, GENESIS_HASH};

/// Why the chain is not intact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The entry's fields no longer match its hash.
    ContentAltered,
    /// A `seq` is missing.
    EntryMissing,
    /// The entry belongs at another position.
    EntriesReordered,
    /// The entry continues an earlier entry than its predecessor: two branches.
    ChainForked,
    /// The entry does not continue its predecessor (an insertion or a broken link).
    ChainBroken,
    /// The entry is older than its predecessor.
    TimeWentBackwards,
    /// A checkpoint names an entry the log no longer has.
    TailTruncated,
    /// The entry at a checkpoint's `seq` differs from what the checkpoint signed.
    HistoryRewritten,
    /// A checkpoint's signature does not verify.
    BadCheckpoint,
}

/// The first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub seq: i64,
    pub problem: Problem,
    pub explanation: String,
}

/// What an intact chain looks like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Summary {
    pub entries: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub first_at: Option<String>,
    pub last_at: Option<String>,
    pub checkpoints_matched: usize,
}

/// How far back the verifier remembers hashes, to tell a fork from a broken link.
const FORK_WINDOW: usize = 4096;
/// How far an entry may have moved and still be recognised as moved rather than altered.
const REORDER_WINDOW: i64 = 16;

/// A streaming verifier: [`Verifier::feed`] batches in `seq` order, then [`Verifier::finish`].
pub struct Verifier {
    previous: Option<AuditEntry>,
    recent: VecDeque<String>,
    recent_index: HashMap<String, i64>,
    checkpoints: Vec<Checkpoint>,
    hashes_at_checkpoints: HashMap<i64, String>,
    summary: Summary,
    threads: usize,
}

impl Verifier {
    /// A verifier that will also hold the chain to `checkpoints` (signatures checked first).
    pub fn new(checkpoints: Vec<Checkpoint>) -> Result<Verifier, Break> {
        for checkpoint in &checkpoints {
            if !checkpoint.signature_is_valid() {
                return Err(Break {
                    seq: checkpoint.seq,
                    problem: Problem::BadCheckpoint,
                    explanation: format!(
                        "the checkpoint at seq {} has a signature that does not verify",
                        checkpoint.seq
                    ),
                });
            }
        }
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Verifier {
            previous: None,
            recent: VecDeque::new(),
            recent_index: HashMap::new(),
            checkpoints,
            hashes_at_checkpoints: HashMap::new(),
            summary: Summary {
                head_hash: GENESIS_HASH.into(),
                ..Summary::default()
            },
            threads,
        })
    }

    /// Checks the next entries (in `seq` order as stored).
    pub fn feed(&mut self, batch: &[AuditEntry]) -> Result<(), Break> {
        let valid = self.hashes_valid(batch);
        for (entry, hash_ok) in batch.iter().zip(valid) {
            self.check_one(entry, hash_ok)?;
        }
        Ok(())
    }

    /// Recomputes the batch's hashes on every core.
    fn hashes_valid(&self, batch: &[AuditEntry]) -> Vec<bool> {
        if batch.len() < 256 || self.threads == 1 {
            return batch.iter().map(|e| e.computed_hash() == e.hash).collect();
        }
        let chunk = batch.len().div_ceil(self.threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|e| e.computed_hash() == e.hash)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    }

    fn check_one(&mut self, entry: &AuditEntry, hash_ok: bool) -> Result<(), Break> {
        let expected_seq = self.previous.as_ref().map_or(1, |p| p.seq + 1);
        let fail = |seq: i64, problem: Problem, explanation: String| {
            Err(Break {
                seq,
                problem,
                explanation,
            })
        };
        if entry.seq > expected_seq {
            return fail(
                expected_seq,
                Problem::EntryMissing,
                format!(
                    "seq {expected_seq} is missing (the next entry is {})",
                    entry.seq
                ),
            );
        }
        if entry.seq < expected_seq {
            return fail(
                entry.seq,
                Problem::EntriesReordered,
                format!("seq {} appears after seq {}", entry.seq, expected_seq - 1),
            );
        }
        if !hash_ok {
            // Written one position earlier and continuing the entry before its predecessor:
            // the predecessor was slipped in between them.
            if let Some(previous) = &self.previous
                && entry.hash_at(entry.seq - 1) == entry.hash
                && entry.prev_hash == previous.prev_hash
            {
                return fail(
                    previous.seq,
                    Problem::ChainBroken,
                    format!(
                        "seq {} was inserted: the entry after it was written as seq {}",
                        previous.seq, previous.seq
                    ),
                );
            }
            for offset in 1..=REORDER_WINDOW {
                for other in [entry.seq - offset, entry.seq + offset] {
                    if other >= 1 && entry.hash_at(other) == entry.hash {
                        return fail(
                            entry.seq,
                            Problem::EntriesReordered,
                            format!(
                                "the entry stored at seq {} was written as seq {other}",
                                entry.seq
                            ),
                        );
                    }
                }
            }
            return fail(
                entry.seq,
                Problem::ContentAltered,
                format!("the fields of seq {} no longer match its hash", entry.seq),
            );
        }
        let expected_prev = self
            .previous
            .as_ref()
            .map_or(GENESIS_HASH, |p| p.hash.as_str());
        if entry.prev_hash != expected_prev {
            if let Some(parent) = self.recent_index.get(&entry.prev_hash) {
                return fail(
                    entry.seq,
                    Problem::ChainForked,
                    format!(
                        "seq {} continues seq {parent}, not its predecessor: the chain forked",
                        entry.seq
                    ),
                );
            }
            return fail(
                entry.seq,
                Problem::ChainBroken,
                format!("seq {} does not continue seq {}", entry.seq, entry.seq - 1),
            );
        }
        if let Some(previous) = &self.previous
            && entry.occurred_at < previous.occurred_at
        {
            return fail(
                entry.seq,
                Problem::TimeWentBackwards,
                format!(
                    "seq {} ({}) is earlier than seq {} ({})",
                    entry.seq, entry.occurred_at, previous.seq, previous.occurred_at
                ),
            );
        }
        if self.checkpoints.iter().any(|c| c.seq == entry.seq) {
            self.hashes_at_checkpoints
                .insert(entry.seq, entry.hash.clone());
        }
        self.remember(entry);
        Ok(())
    }

    fn remember(&mut self, entry: &AuditEntry) {
        self.recent.push_back(entry.hash.clone());
        self.recent_index.insert(entry.hash.clone(), entry.seq);
        if self.recent.len() > FORK_WINDOW
            && let Some(old) = self.recent.pop_front()
        {
            self.recent_index.remove(&old);
        }
        self.summary.entries += 1;
        self.summary.head_seq = entry.seq;
        self.summary.head_hash = entry.hash.clone();
        if self.summary.first_at.is_none() {
            self.summary.first_at = Some(entry.occurred_at.clone());
        }
        self.summary.last_at = Some(entry.occurred_at.clone());
        self.previous = Some(entry.clone());
    }

    /// Holds the whole chain to the checkpoints and returns the summary.
    pub fn finish(mut self) -> Result<Summary, Break> {
        let mut checkpoints = std::mem::take(&mut self.checkpoints);
        checkpoints.sort_by_key(|c| c.seq);
        for checkpoint in &checkpoints {
            if checkpoint.seq > self.summary.head_seq {
                return Err(Break {
                    seq: self.summary.head_seq + 1,
                    problem: Problem::TailTruncated,
                    explanation: format!(
                        "a checkpoint signed seq {} but the log ends at seq {}: entries {}..={} are gone",
                        checkpoint.seq,
                        self.summary.head_seq,
                        self.summary.head_seq + 1,
                        checkpoint.seq
                    ),
                });
            }
            match self.hashes_at_checkpoints.get(&checkpoint.seq) {
                Some(hash) if *hash == checkpoint.head_hash => {
                    self.summary.checkpoints_matched += 1
                }
                _ => {
                    return Err(Break {
                        seq: checkpoint.seq,
                        problem: Problem::HistoryRewritten,
                        explanation: format!(
                            "seq {} differs from the checkpoint signed at {}: history up to it was rewritten",
                            checkpoint.seq, checkpoint.signed_at
                        ),
                    });
                }
            }
        }
        Ok(self.summary)
    }
}

/// Verifies the store's chain, streaming it in batches of `batch_size`.
pub async fn verify_store(
    store: &store::Store,
    checkpoints: Vec<Checkpoint>,
    batch_size: u32,
) -> crate::Result<Result<Summary, Break>> {
    let mut verifier = match Verifier::new(checkpoints) {
        Ok(verifier) => verifier,
        Err(broken) => return Ok(Err(broken)),
    };
    let mut after = 0;
    loop {
        let batch = crate::query::entries_after(store, after, batch_size).await?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        if let Err(broken) = verifier.feed(&batch) {
            return Ok(Err(broken));
        }
    }
    Ok(verifier.finish())
}

/// Verifies an export (one JSON entry per line), streaming it.
pub fn verify_export(
    reader: impl std::io::BufRead,
    checkpoints: Vec<Checkpoint>,
) -> crate::Result<Result<Summary, Break>> {
    let mut verifier = match Verifier::new(checkpoints) {
        Ok(verifier) => verifier,
        Err(broken) => return Ok(Err(broken)),
    };
    let mut batch = Vec::with_capacity(8192);
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(|error| crate::Error::File {
            path: "export".into(),
            message: error.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let entry: AuditEntry =
            serde_json::from_str(&line).map_err(|error| crate::Error::File {
                path: "export".into(),
                message: format!("line {} is not an audit entry: {error}", number + 1),
            })?;
        batch.push(entry);
        if batch.len() == 8192 {
            if let Err(broken) = verifier.feed(&batch) {
                return Ok(Err(broken));
            }
            batch.clear();
        }
    }
    if let Err(broken) = verifier.feed(&batch) {
        return Ok(Err(broken));
    }
    Ok(verifier.finish())
}
