//! Verification: walks the chain in `seq` order, a batch at a time (never the whole log in
//! memory), recomputing hashes on every core, and names the first entry that is wrong and
//! why. Checkpoints catch what a self-consistent chain cannot show on its own: a truncated
//! tail, or history rewritten with recomputed hashes.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use std::io::Read as _;

use crate::checkpoint::Checkpoint;
use crate::entry::{AuditEntry, EntryView, GENESIS_HASH};

mod lines;

use lines::LineEntry;

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
/// Below this many entries a batch is checked on one thread: spawning costs more.
const PARALLEL_FROM: usize = 256;
/// How many batches `verify_store` reads ahead of the one it checks.
const READS_IN_FLIGHT: usize = 2;
/// About how many export bytes make a block: read at once, and checked whole by one checker.
const EXPORT_BLOCK: usize = 4 << 20;

/// The last entry verified: what the next one must continue.
#[derive(Debug, Clone)]
struct Last {
    seq: i64,
    hash: String,
    prev_hash: String,
    occurred_at: String,
}

/// A streaming verifier: [`Verifier::feed`] batches in `seq` order, then [`Verifier::finish`].
///
/// Each batch is split into one part per core. A part's thread recomputes its entries'
/// hashes and checks the links between neighbours (seq, predecessor's hash, time); this
/// thread then checks only the links where parts meet. That is the whole cost of an intact
/// chain: no per-entry allocation, no per-entry work on one thread. When anything in a batch
/// is wrong, the batch is checked again one entry at a time, which names the first bad `seq`
/// and says why. (An export goes the same way a whole block per core at a time: see
/// [`verify_export`].)
pub struct Verifier {
    last: Option<Last>,
    /// The hashes of the last [`FORK_WINDOW`] entries, with their seq, oldest first.
    recent: VecDeque<([u8; 64], i64)>,
    checkpoints: Vec<Checkpoint>,
    /// The checkpoints' seqs, sorted.
    checkpoint_seqs: Vec<i64>,
    hashes_at_checkpoints: HashMap<i64, String>,
    entries: u64,
    first_at: Option<String>,
    threads: usize,
}

/// What one part of a batch found on its own thread: enough for this thread to join the
/// parts and take the batch in without walking its entries again.
struct PartCheck<'a> {
    /// Every hash matches and every link inside the part holds.
    intact: bool,
    first: Option<EntryView<'a>>,
    last: Option<EntryView<'a>>,
    count: usize,
    /// `(seq, hash)` of entries at a checkpoint's seq.
    at_checkpoints: Vec<(i64, String)>,
    /// The hashes of the part's last [`FORK_WINDOW`] entries with their seq, oldest first.
    newest_hashes: VecDeque<([u8; 64], i64)>,
}

impl PartCheck<'_> {
    /// Nothing accepted: the state a part starts in, and ends in when anything is wrong.
    fn not_intact() -> Self {
        PartCheck {
            intact: false,
            first: None,
            last: None,
            count: 0,
            at_checkpoints: Vec::new(),
            newest_hashes: VecDeque::new(),
        }
    }
}

/// Whether `next` continues `previous`: the next seq, its hash, and no earlier time.
fn links(previous: &EntryView<'_>, next: &EntryView<'_>) -> bool {
    next.seq == previous.seq + 1
        && next.prev_hash == previous.hash
        && next.occurred_at >= previous.occurred_at
}

/// Checks a part's entries in one pass, as they are read: each hash, and each link to the
/// entry before. Stops at the first thing wrong (the batch is then explained one entry at a
/// time), so an intact part costs one hash and one comparison per entry and nothing else.
fn check_part<'a>(
    views: impl Iterator<Item = EntryView<'a>>,
    checkpoint_seqs: &[i64],
) -> PartCheck<'a> {
    let mut scratch = Vec::with_capacity(512);
    let mut check = PartCheck::not_intact();
    for view in views {
        if !view.hash_matches(&mut scratch) || check.last.is_some_and(|last| !links(&last, &view)) {
            return PartCheck::not_intact();
        }
        if !checkpoint_seqs.is_empty() && checkpoint_seqs.binary_search(&view.seq).is_ok() {
            check.at_checkpoints.push((view.seq, view.hash.to_string()));
        }
        if let Ok(hash) = <[u8; 64]>::try_from(view.hash.as_bytes()) {
            if check.newest_hashes.len() == FORK_WINDOW {
                check.newest_hashes.pop_front();
            }
            check.newest_hashes.push_back((hash, view.seq));
        }
        check.count += 1;
        check.first.get_or_insert(view);
        check.last = Some(view);
    }
    check.intact = true;
    check
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
        let mut checkpoint_seqs: Vec<i64> = checkpoints.iter().map(|c| c.seq).collect();
        checkpoint_seqs.sort_unstable();
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Verifier {
            last: None,
            recent: VecDeque::with_capacity(FORK_WINDOW + 1),
            checkpoints,
            checkpoint_seqs,
            hashes_at_checkpoints: HashMap::new(),
            entries: 0,
            first_at: None,
            threads,
        })
    }

    /// Checks the next entries (in `seq` order as stored).
    pub fn feed(&mut self, batch: &[AuditEntry]) -> Result<(), Break> {
        let views: Vec<EntryView<'_>> = batch.iter().map(AuditEntry::view).collect();
        self.feed_views(&views)
    }

    /// Checks the next entries, borrowed (in `seq` order as stored).
    pub fn feed_views(&mut self, batch: &[EntryView<'_>]) -> Result<(), Break> {
        if self.accept_if_intact(batch) {
            return Ok(());
        }
        let mut scratch = Vec::with_capacity(512);
        for view in batch {
            self.check_one(view, &mut scratch)?;
        }
        Ok(())
    }

    /// Accepts the next entries when they are intact and continue the chain; otherwise
    /// changes nothing and returns false, so the caller can check the same entries again
    /// from a more faithful reading (see [`verify_store`]).
    fn accept_if_intact(&mut self, batch: &[EntryView<'_>]) -> bool {
        if batch.is_empty() {
            return true;
        }
        let parts: Vec<&[EntryView<'_>]> = batch.chunks(self.part_len(batch.len())).collect();
        let seqs = &self.checkpoint_seqs;
        let checks = on_every_core(&parts, |part| check_part(part.iter().copied(), seqs));
        self.accept_parts_if_intact(checks)
    }

    /// Entries per part: one part per core, unless the batch is small.
    fn part_len(&self, entries: usize) -> usize {
        if entries < PARALLEL_FROM {
            entries.max(1)
        } else {
            entries.div_ceil(self.threads)
        }
    }

    /// Takes in a batch whose parts (in order) were checked on their own threads, when every
    /// part is intact and the parts link up with each other and with what came before:
    /// true, with the batch taken in; false, with nothing changed, otherwise.
    fn accept_parts_if_intact(&mut self, checks: Vec<PartCheck<'_>>) -> bool {
        if !checks.iter().all(|check| check.intact) {
            return false;
        }
        let edges: Vec<(EntryView<'_>, EntryView<'_>)> = checks
            .iter()
            .filter_map(|check| Some((check.first?, check.last?)))
            .collect();
        let (Some((first, _)), Some((_, last))) = (edges.first(), edges.last()) else {
            return true;
        };
        if !self.continues(first.seq, first.prev_hash, first.occurred_at)
            || !edges.windows(2).all(|pair| links(&pair[0].1, &pair[1].0))
        {
            return false;
        }
        let first_at = first.occurred_at.to_string();
        let last = Last {
            seq: last.seq,
            hash: last.hash.to_string(),
            prev_hash: last.prev_hash.to_string(),
            occurred_at: last.occurred_at.to_string(),
        };
        self.take_in(first_at, last);
        for check in checks {
            self.take_in_part(check.count, check.at_checkpoints, check.newest_hashes);
        }
        true
    }

    /// Takes in a block checked whole on its own thread (see [`check_block`]), when it is
    /// intact and continues what came before; false, with nothing changed, otherwise.
    fn accept_block_if_intact(&mut self, check: BlockCheck) -> bool {
        if !check.intact {
            return false;
        }
        let (Some(first), Some(last)) = (check.first, check.last) else {
            return true;
        };
        if !self.continues(first.seq, &first.prev_hash, &first.occurred_at) {
            return false;
        }
        self.take_in(first.occurred_at, last);
        self.take_in_part(check.count, check.at_checkpoints, check.newest_hashes);
        true
    }

    /// Whether an entry with this seq, predecessor hash and time continues the chain so far.
    fn continues(&self, seq: i64, prev_hash: &str, occurred_at: &str) -> bool {
        match &self.last {
            None => seq == 1 && prev_hash == GENESIS_HASH,
            Some(last) => {
                seq == last.seq + 1
                    && prev_hash == last.hash
                    && occurred_at >= last.occurred_at.as_str()
            }
        }
    }

    /// Moves the head to `last` after accepted entries, the first of them at `first_at`.
    fn take_in(&mut self, first_at: String, last: Last) {
        self.first_at.get_or_insert(first_at);
        self.last = Some(last);
    }

    /// Counts an accepted part's entries and keeps what later checks need of them.
    fn take_in_part(
        &mut self,
        count: usize,
        at_checkpoints: Vec<(i64, String)>,
        newest_hashes: VecDeque<([u8; 64], i64)>,
    ) {
        self.entries += count as u64;
        self.hashes_at_checkpoints.extend(at_checkpoints);
        for (hash, seq) in newest_hashes {
            self.remember_hash(hash, seq);
        }
    }

    fn remember_hash(&mut self, hash: [u8; 64], seq: i64) {
        if self.recent.len() == FORK_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back((hash, seq));
    }

    /// The seq of a recent entry whose hash is `hash`.
    fn recent_seq_of(&self, hash: &str) -> Option<i64> {
        self.recent
            .iter()
            .rev()
            .find(|(known, _)| known.as_slice() == hash.as_bytes())
            .map(|(_, seq)| *seq)
    }

    /// Checks one entry against the last: the slow path, which says exactly what is wrong.
    fn check_one(&mut self, entry: &EntryView<'_>, scratch: &mut Vec<u8>) -> Result<(), Break> {
        let expected_seq = self.last.as_ref().map_or(1, |p| p.seq + 1);
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
        if !entry.hash_matches(scratch) {
            // Written one position earlier and continuing the entry before its predecessor:
            // the predecessor was slipped in between them.
            if let Some(previous) = &self.last
                && entry.hash_matches_at(entry.seq - 1, scratch)
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
                    if other >= 1 && entry.hash_matches_at(other, scratch) {
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
        let expected_prev = self.last.as_ref().map_or(GENESIS_HASH, |p| p.hash.as_str());
        if entry.prev_hash != expected_prev {
            if let Some(parent) = self.recent_seq_of(entry.prev_hash) {
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
        if let Some(previous) = &self.last
            && entry.occurred_at < previous.occurred_at.as_str()
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
        if self.checkpoint_seqs.binary_search(&entry.seq).is_ok() {
            self.hashes_at_checkpoints
                .insert(entry.seq, entry.hash.to_string());
        }
        if let Ok(hash) = <[u8; 64]>::try_from(entry.hash.as_bytes()) {
            self.remember_hash(hash, entry.seq);
        }
        self.entries += 1;
        if self.first_at.is_none() {
            self.first_at = Some(entry.occurred_at.to_string());
        }
        self.last = Some(Last {
            seq: entry.seq,
            hash: entry.hash.to_string(),
            prev_hash: entry.prev_hash.to_string(),
            occurred_at: entry.occurred_at.to_string(),
        });
        Ok(())
    }

    /// Holds the whole chain to the checkpoints and returns the summary.
    pub fn finish(mut self) -> Result<Summary, Break> {
        let (head_seq, head_hash, last_at) = match self.last.take() {
            Some(last) => (last.seq, last.hash, Some(last.occurred_at)),
            None => (0, GENESIS_HASH.to_string(), None),
        };
        let mut summary = Summary {
            entries: self.entries,
            head_seq,
            head_hash,
            first_at: self.first_at.take(),
            last_at,
            checkpoints_matched: 0,
        };
        let mut checkpoints = std::mem::take(&mut self.checkpoints);
        checkpoints.sort_by_key(|c| c.seq);
        for checkpoint in &checkpoints {
            if checkpoint.seq > summary.head_seq {
                return Err(Break {
                    seq: summary.head_seq + 1,
                    problem: Problem::TailTruncated,
                    explanation: format!(
                        "a checkpoint signed seq {} but the log ends at seq {}: entries {}..={} are gone",
                        checkpoint.seq,
                        summary.head_seq,
                        summary.head_seq + 1,
                        checkpoint.seq
                    ),
                });
            }
            match self.hashes_at_checkpoints.get(&checkpoint.seq) {
                Some(hash) if *hash == checkpoint.head_hash => summary.checkpoints_matched += 1,
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
        Ok(summary)
    }

    /// Checks one block of export lines (whole lines only) on every core and returns how many
    /// line feeds it holds; the way for a block [`check_block`] could not take in alone.
    /// `lines_before` numbers its lines in error messages.
    ///
    /// Each part is read whole first, in any valid JSON form, then checked on its own
    /// thread; a block with anything amiss (a line that is not an entry, a broken link) goes
    /// down [`Verifier::explain_lines`], which says what and where.
    fn feed_lines(
        &mut self,
        block: &[u8],
        lines_before: usize,
    ) -> crate::Result<Result<usize, Break>> {
        let parts = split_at_lines(block, self.threads);
        let line_feeds = memchr::memchr_iter(b'\n', block).count();
        if let Ok(entries) = read_parts(&parts) {
            let views: Vec<Vec<EntryView<'_>>> = entries
                .iter()
                .map(|part| part.iter().map(LineEntry::view).collect())
                .collect();
            let seqs = &self.checkpoint_seqs;
            let checks = on_every_core(&views, |views| check_part(views.iter().copied(), seqs));
            if self.accept_parts_if_intact(checks) {
                return Ok(Ok(line_feeds));
            }
        }
        Ok(self
            .explain_lines(&parts, lines_before)?
            .map(|()| line_feeds))
    }

    /// The slow path of [`Verifier::feed_lines`]: reads every line of the parts, names the
    /// first that is not an entry by its number, then checks the entries one at a time.
    fn explain_lines(
        &mut self,
        parts: &[&[u8]],
        lines_before: usize,
    ) -> crate::Result<Result<(), Break>> {
        let entries = read_parts(parts).map_err(|(part, index, message)| {
            let lines_seen: usize = parts[..part]
                .iter()
                .map(|part| memchr::memchr_iter(b'\n', part).count())
                .sum();
            crate::Error::File {
                path: "export".into(),
                message: format!(
                    "line {} is not an audit entry: {message}",
                    lines_before + lines_seen + index + 1
                ),
            }
        })?;
        let mut scratch = Vec::with_capacity(512);
        for entry in entries.iter().flatten() {
            if let Err(broken) = self.check_one(&entry.view(), &mut scratch) {
                return Ok(Err(broken));
            }
        }
        Ok(Ok(()))
    }
}

/// What one export block's own check found, owned, so it can come back from its thread with
/// the block.
struct BlockCheck {
    /// Every line is in the written form, every hash matches and every link inside holds.
    intact: bool,
    first: Option<Last>,
    last: Option<Last>,
    count: usize,
    at_checkpoints: Vec<(i64, String)>,
    newest_hashes: VecDeque<([u8; 64], i64)>,
    line_feeds: usize,
}

/// Checks a whole block of export lines on this thread, in one pass as it reads them,
/// keeping nothing per entry. Only lines in the form `audit export` writes are read here; a
/// block with any other line, or anything amiss, comes back not intact, to be read again by
/// [`Verifier::feed_lines`].
fn check_block(block: &[u8], checkpoint_seqs: &[i64]) -> BlockCheck {
    let mut pieces = 0;
    let mut written_form = true;
    let views = lines_of(block)
        .inspect(|_| pieces += 1)
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map_while(|line| {
            let view = lines::parse_written_form(line);
            written_form &= view.is_some();
            view
        });
    let check = check_part(views, checkpoint_seqs);
    let owned = |view: EntryView<'_>| Last {
        seq: view.seq,
        hash: view.hash.to_string(),
        prev_hash: view.prev_hash.to_string(),
        occurred_at: view.occurred_at.to_string(),
    };
    BlockCheck {
        intact: check.intact && written_form,
        first: check.first.map(owned),
        last: check.last.map(owned),
        count: check.count,
        at_checkpoints: check.at_checkpoints,
        newest_hashes: check.newest_hashes,
        // `lines_of` yields one piece more than the block has line feeds (when it read
        // them all, which an intact check did).
        line_feeds: pieces - 1,
    }
}

/// Reads every non-blank line of each part (on every core), in any valid JSON form; or says
/// which part, which line of it (from 0) and why one is not an entry.
#[allow(clippy::type_complexity)] // reason: a private helper's one result, named in its doc.
fn read_parts<'a>(parts: &[&'a [u8]]) -> Result<Vec<Vec<LineEntry<'a>>>, (usize, usize, String)> {
    let read = on_every_core(
        parts,
        |part| -> Result<Vec<LineEntry<'a>>, (usize, String)> {
            let mut entries = Vec::with_capacity(part.len() / 300 + 1);
            for (index, line) in lines_of(part).enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                entries.push(lines::parse(line).map_err(|message| (index, message))?);
            }
            Ok(entries)
        },
    );
    read.into_iter()
        .enumerate()
        .map(|(part, result)| result.map_err(|(index, message)| (part, index, message)))
        .collect()
}

/// Runs `check` on every part, the first on this thread and the others on their own.
fn on_every_core<P: Sync, R: Send>(parts: &[P], check: impl Fn(&P) -> R + Sync) -> Vec<R> {
    match parts {
        [] => Vec::new(),
        [only] => vec![check(only)],
        [first, rest @ ..] => std::thread::scope(|scope| {
            let check = &check;
            let handles: Vec<_> = rest
                .iter()
                .map(|part| scope.spawn(move || check(part)))
                .collect();
            let mut results = vec![check(first)];
            for handle in handles {
                match handle.join() {
                    Ok(result) => results.push(result),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            results
        }),
    }
}

/// The lines of `text` without their `\n` (the same pieces as splitting at every `\n`),
/// found with memchr: splitting byte by byte cost more than parsing the lines.
fn lines_of(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text)
        .chain(std::iter::once(text.len()))
        .map(move |end| {
            let line = &text[start..end];
            start = end + 1;
            line
        })
}

/// Splits whole lines into about `count` parts, each ending at a line end.
fn split_at_lines(block: &[u8], count: usize) -> Vec<&[u8]> {
    let mut parts = Vec::with_capacity(count);
    let target = block.len().div_ceil(count.max(1)).max(1);
    let mut rest = block;
    while !rest.is_empty() {
        if rest.len() <= target || parts.len() + 1 == count {
            parts.push(rest);
            break;
        }
        let cut = memchr::memchr(b'\n', &rest[target..]).map_or(rest.len(), |at| target + at + 1);
        let (part, tail) = rest.split_at(cut);
        parts.push(part);
        rest = tail;
    }
    parts
}

/// Verifies the store's chain, streaming it in batches of `batch_size`, reading the next
/// batch while this one is checked.
pub async fn verify_store(
    store: &store::Store,
    checkpoints: Vec<Checkpoint>,
    batch_size: u32,
) -> crate::Result<Result<Summary, Break>> {
    let mut verifier = match Verifier::new(checkpoints) {
        Ok(verifier) => verifier,
        Err(broken) => return Ok(Err(broken)),
    };
    let unreadable = |problem: String| {
        tracing::error!(%problem, "the audit log read back in an unexpected form");
        crate::Error::Store(store::Error::Internal("read the audit log"))
    };
    // The chain up to the head as it is now, in ranges of `batch_size` seqs, two read at
    // once: packing a batch is the database's slowest step, and two connections pack on two
    // threads while this one checks. A missing range is not a reason to stop early: the
    // entries after it still get read, and the gap is reported as missing.
    let Some(head) = crate::query::last_seq(store).await? else {
        return Ok(verifier.finish());
    };
    let batch = i64::from(batch_size.max(1));
    let read = |after: i64| {
        let store = store.clone();
        let upto = after.saturating_add(batch).min(head);
        (
            upto,
            tokio::spawn(async move {
                (
                    after,
                    upto,
                    crate::query::packed_between(&store, after, upto).await,
                )
            }),
        )
    };
    let mut in_flight = VecDeque::with_capacity(READS_IN_FLIGHT);
    let mut next_after = 0;
    while in_flight.len() < READS_IN_FLIGHT && next_after < head {
        let (upto, reading) = read(next_after);
        in_flight.push_back(reading);
        next_after = upto;
    }
    while let Some(reading) = in_flight.pop_front() {
        let (after, upto, packed) = reading
            .await
            .map_err(|error| unreadable(error.to_string()))?;
        if next_after < head {
            let (upto, reading) = read(next_after);
            in_flight.push_back(reading);
            next_after = upto;
        }
        let checked = match packed {
            // The packed text is the fast path for intact batches only. Anything else (a
            // broken link, or a field the packing cannot carry, such as a tampered value
            // holding a NUL) is judged on the rows as stored, read one by one, so the first
            // bad seq and its reason come from exactly what the database holds.
            Ok(Some(text)) => match crate::query::unpack(&text) {
                Ok(views) if verifier.accept_if_intact(&views) => Ok(Ok(())),
                unpacked => {
                    if let Err(problem) = unpacked {
                        tracing::debug!(%problem, after, upto, "an audit batch did not unpack");
                    }
                    let limit = u32::try_from(upto - after).unwrap_or(u32::MAX);
                    crate::query::entries_after(store, after, limit)
                        .await
                        .map(|mut entries| {
                            entries.retain(|entry| entry.seq <= upto);
                            verifier.feed(&entries)
                        })
                }
            },
            Ok(None) => Ok(Ok(())),
            Err(error) => Err(error),
        };
        let stop = match checked {
            Ok(Ok(())) => continue,
            Ok(Err(broken)) => Ok(Err(broken)),
            Err(error) => Err(error),
        };
        for reading in in_flight {
            reading.abort();
        }
        return stop;
    }
    Ok(verifier.finish())
}

/// Verifies an export (one JSON entry per line), streaming it a block at a time.
pub fn verify_export(
    reader: impl std::io::Read + Send,
    checkpoints: Vec<Checkpoint>,
) -> crate::Result<Result<Summary, Break>> {
    match Verifier::new(checkpoints) {
        Ok(verifier) => verify_lines_in_blocks(reader, verifier, EXPORT_BLOCK),
        Err(broken) => Ok(Err(broken)),
    }
}

/// [`verify_export`], reading about `block_size` bytes at a time.
///
/// A reader thread reads numbered blocks of whole lines ahead; one checker thread per core
/// takes the next block as soon as it is free and checks it whole ([`check_block`]); this
/// thread takes the results in order and checks only where blocks meet. The checkers live for
/// the whole run and never wait for this thread, so every core stays busy: splitting each
/// block between the cores left a sixth of the time idle on two cores, and a thread started
/// per block still left cores idle while this one woke to start the next. A block that does
/// not come back intact is checked again here, on every core, by [`Verifier::feed_lines`],
/// which also names what is wrong. At most [`blocks_in_flight`] blocks exist at once.
fn verify_lines_in_blocks(
    reader: impl std::io::Read + Send,
    mut verifier: Verifier,
    block_size: usize,
) -> crate::Result<Result<Summary, Break>> {
    let checkers = verifier.threads;
    let (block_sender, blocks) = std::sync::mpsc::sync_channel(checkers);
    // Shared by the checkers alone: when the last one stops, the reader's next send fails.
    let blocks = std::sync::Arc::new(std::sync::Mutex::new(blocks));
    let (checked_sender, checked) = std::sync::mpsc::channel::<Checked>();
    let (free, free_receiver) = std::sync::mpsc::channel();
    let checkpoint_seqs = verifier.checkpoint_seqs.clone();
    let checkpoint_seqs = &checkpoint_seqs;
    // `move`: returning early must drop `free` and `checked` with this closure, or the
    // reader would wait for a free block, and the scope for the reader, for ever.
    std::thread::scope(move |scope| {
        scope.spawn(move || {
            let in_flight = blocks_in_flight(checkers);
            read_whole_lines(reader, block_size, in_flight, &block_sender, &free_receiver);
        });
        for _ in 0..checkers {
            let checked_sender = checked_sender.clone();
            let blocks = blocks.clone();
            scope.spawn(move || {
                loop {
                    // The lock is held only while waiting for the next block.
                    let next = match blocks.lock() {
                        Ok(blocks) => blocks.recv(),
                        Err(_) => return,
                    };
                    let Ok((index, block)) = next else { return };
                    let result = block.map(|block: Vec<u8>| {
                        let check = check_block(&block, checkpoint_seqs);
                        (block, check)
                    });
                    if checked_sender.send((index, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop((checked_sender, blocks));
        // Results that came back before the ones ahead of them, by block number.
        let mut early = std::collections::BTreeMap::new();
        let mut next = 0;
        let mut lines_before = 0;
        // Returning early drops `checked` and `free`: the checkers stop at their next
        // result, the reader at its next block, and the scope waits for all of them.
        for (index, result) in checked {
            early.insert(index, result);
            while let Some(result) = early.remove(&next) {
                next += 1;
                let (block, check) = result.map_err(|error| crate::Error::File {
                    path: "export".into(),
                    message: error.to_string(),
                })?;
                let line_feeds = check.line_feeds;
                if verifier.accept_block_if_intact(check) {
                    lines_before += line_feeds;
                } else {
                    match verifier.feed_lines(&block, lines_before)? {
                        Ok(line_feeds) => lines_before += line_feeds,
                        Err(broken) => return Ok(Err(broken)),
                    }
                }
                // Reused by the reader if it still runs; dropped otherwise.
                let _ = free.send(block);
            }
        }
        Ok(verifier.finish())
    })
}

/// A block checked on a checker thread, by its number; or why it could not be read.
type Checked = (usize, std::io::Result<(Vec<u8>, BlockCheck)>);

/// How many blocks may exist at once for `checkers` checker threads: one being read, one
/// being checked by each checker, one waiting for each, and one being taken in.
fn blocks_in_flight(checkers: usize) -> usize {
    2 * checkers + 2
}

/// Reads `reader` into numbered blocks of whole lines (the last may lack its line ending) of
/// about `block_size` bytes, and sends them in order; an error is sent and ends the reading.
/// At most `in_flight` blocks are allocated: after that, a block is reused once `free` gives
/// it back.
fn read_whole_lines(
    mut reader: impl std::io::Read,
    block_size: usize,
    in_flight: usize,
    full: &std::sync::mpsc::SyncSender<(usize, std::io::Result<Vec<u8>>)>,
    free: &std::sync::mpsc::Receiver<Vec<u8>>,
) {
    let mut carried: Vec<u8> = Vec::new();
    let mut allocated = 0;
    for index in 0.. {
        let mut block = match free.try_recv() {
            Ok(block) => block,
            Err(_) if allocated < in_flight => {
                allocated += 1;
                Vec::with_capacity(block_size + 4096)
            }
            Err(_) => match free.recv() {
                Ok(block) => block,
                Err(_) => return,
            },
        };
        block.clear();
        block.append(&mut carried);
        // Read until the block holds a line ending (or the input ends): a line longer than
        // a block makes the block longer, never cuts the line.
        let at_end = loop {
            let wanted = block_size.saturating_sub(block.len()).max(256) as u64;
            match (&mut reader).take(wanted).read_to_end(&mut block) {
                Ok(0) => break true,
                Ok(_) => {
                    if let Some(at) = memchr::memrchr(b'\n', &block) {
                        // Whole lines only; the unfinished last line starts the next block.
                        carried.extend_from_slice(&block[at + 1..]);
                        block.truncate(at + 1);
                        break false;
                    }
                }
                Err(error) => {
                    let _ = full.send((index, Err(error)));
                    return;
                }
            }
        };
        if !block.is_empty() && full.send((index, Ok(block))).is_err() {
            return;
        }
        if at_end {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain of `length` entries built in memory, as the appender builds them.
    fn chain(length: i64) -> Vec<AuditEntry> {
        let mut entries: Vec<AuditEntry> = Vec::new();
        for seq in 1..=length {
            let mut entry = AuditEntry {
                seq,
                occurred_at: format!(
                    "2026-11-21T10:{:02}:{:02}.000000Z",
                    seq / 3600 % 60,
                    seq / 60 % 60
                ),
                server: ["sales", "marketing", "cs"][seq as usize % 3].into(),
                actor: "u_0123456789abcdef01234567".into(),
                tool: "get_lead".into(),
                kind: "read".into(),
                args_digest: format!("{seq:064x}"),
                outcome: "ok".into(),
                detail: if seq % 7 == 0 {
                    "not found".into()
                } else {
                    String::new()
                },
                prev_hash: entries
                    .last()
                    .map_or(GENESIS_HASH.to_string(), |previous| previous.hash.clone()),
                hash: String::new(),
            };
            entry.hash = entry.computed_hash();
            entries.push(entry);
        }
        entries
    }

    fn export(entries: &[AuditEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|entry| serde_json::to_string(entry).unwrap())
            .collect()
    }

    /// Verifies `lines` joined by `ending`, in blocks of each size, on 1 to 3 threads; every
    /// combination must give the same answer, which is returned.
    fn verify_lines(lines: &[String], ending: &str) -> Result<Summary, Break> {
        let text = lines.join(ending);
        let mut answers = Vec::new();
        for block in [300, 5_000, 1 << 20] {
            for threads in 1..=3 {
                let mut verifier = Verifier::new(vec![]).unwrap();
                verifier.threads = threads;
                let answer = verify_lines_in_blocks(text.as_bytes(), verifier, block)
                    .expect("the lines are readable");
                answers.push(answer);
            }
        }
        assert!(
            answers.windows(2).all(|pair| pair[0] == pair[1]),
            "{answers:?}"
        );
        answers.remove(0)
    }

    #[test]
    fn lines_are_the_pieces_between_line_feeds() {
        for text in ["", "\n", "a", "a\n", "a\nb", "a\n\nb\n", "\r\n{}\r\n"] {
            let expected: Vec<&[u8]> = text.as_bytes().split(|byte| *byte == b'\n').collect();
            assert_eq!(
                lines_of(text.as_bytes()).collect::<Vec<_>>(),
                expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn an_export_verifies_whatever_the_block_size_threads_and_line_endings() {
        let entries = chain(3_000);
        let lines = export(&entries);
        for ending in ["\n", "\r\n", "\n\n"] {
            let summary = verify_lines(&lines, ending).expect("the export is intact");
            assert_eq!(summary.entries, 3_000);
            assert_eq!(summary.head_hash, entries[2_999].hash);
            assert_eq!(
                summary.first_at.as_deref(),
                Some(entries[0].occurred_at.as_str())
            );
        }
        let mut store_verifier = Verifier::new(vec![]).unwrap();
        store_verifier.feed(&entries).unwrap();
        assert_eq!(store_verifier.finish(), verify_lines(&lines, "\n"));
    }

    #[test]
    fn tampering_in_an_export_is_named_at_the_same_seq_as_in_the_store() {
        let entries = chain(3_000);
        let lines = export(&entries);

        let mut altered = lines.clone();
        altered[1_233] = altered[1_233].replace("get_lead", "get_leads");
        let broken = verify_lines(&altered, "\n").unwrap_err();
        assert_eq!(
            (broken.seq, broken.problem),
            (1_234, Problem::ContentAltered)
        );

        let mut deleted = lines.clone();
        deleted.remove(1_999);
        let broken = verify_lines(&deleted, "\n").unwrap_err();
        assert_eq!((broken.seq, broken.problem), (2_000, Problem::EntryMissing));

        let mut forked = entries.clone();
        forked[2_500].prev_hash = forked[2_498].hash.clone();
        forked[2_500].hash = forked[2_500].computed_hash();
        let broken = verify_lines(&export(&forked), "\n").unwrap_err();
        assert_eq!((broken.seq, broken.problem), (2_501, Problem::ChainForked));

        let mut backwards = entries.clone();
        backwards[299].occurred_at = "2000-01-01T00:00:00.000000Z".into();
        backwards[299].hash = backwards[299].computed_hash();
        for position in 300..backwards.len() {
            backwards[position].prev_hash = backwards[position - 1].hash.clone();
            backwards[position].hash = backwards[position].computed_hash();
        }
        let broken = verify_lines(&export(&backwards), "\n").unwrap_err();
        assert_eq!(
            (broken.seq, broken.problem),
            (300, Problem::TimeWentBackwards)
        );
    }

    #[test]
    fn a_line_written_in_another_valid_json_form_still_verifies() {
        let mut entries = chain(600);
        entries[400].detail = "a \"quoted\" reason\twith a tab".into();
        entries[400].hash = entries[400].computed_hash();
        for position in 401..entries.len() {
            entries[position].prev_hash = entries[position - 1].hash.clone();
            entries[position].hash = entries[position].computed_hash();
        }
        let mut lines = export(&entries);
        let mut spaced = serde_json::to_string_pretty(&entries[100]).unwrap();
        spaced.retain(|c| c != '\n');
        lines[100] = spaced;
        assert_eq!(verify_lines(&lines, "\n").unwrap().entries, 600);
    }

    /// Gives `text`, then fails: a disk error part way through an export.
    struct FailsAfter<'a> {
        text: &'a [u8],
    }

    impl std::io::Read for FailsAfter<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            if self.text.is_empty() {
                return Err(std::io::Error::other("the disk went away"));
            }
            let count = buffer.len().min(self.text.len());
            buffer[..count].copy_from_slice(&self.text[..count]);
            self.text = &self.text[count..];
            Ok(count)
        }
    }

    #[test]
    fn an_export_that_cannot_be_read_to_its_end_is_an_error_unless_a_break_comes_first() {
        let lines = export(&chain(3_000));
        let text = lines.join("\n") + "\n";
        let verifier = Verifier::new(vec![]).unwrap();
        let error = verify_lines_in_blocks(
            FailsAfter {
                text: text.as_bytes(),
            },
            verifier,
            5_000,
        )
        .unwrap_err();
        assert!(error.to_string().contains("the disk went away"), "{error}");

        let mut altered = lines.clone();
        altered[99] = altered[99].replace("get_lead", "get_leads");
        let text = altered.join("\n") + "\n";
        let verifier = Verifier::new(vec![]).unwrap();
        let broken = verify_lines_in_blocks(
            FailsAfter {
                text: text.as_bytes(),
            },
            verifier,
            5_000,
        )
        .expect("the break is read before the error")
        .unwrap_err();
        assert_eq!((broken.seq, broken.problem), (100, Problem::ContentAltered));
    }

    #[test]
    fn a_line_that_is_not_an_entry_is_named_by_its_number() {
        let mut lines = export(&chain(2_000));
        lines[1_499] = "{\"seq\": \"not a number\"}".into();
        for block in [300, 1 << 20] {
            let verifier = Verifier::new(vec![]).unwrap();
            let error =
                verify_lines_in_blocks(lines.join("\n").as_bytes(), verifier, block).unwrap_err();
            assert!(error.to_string().contains("line 1500 "), "{error}");
        }
    }
}
