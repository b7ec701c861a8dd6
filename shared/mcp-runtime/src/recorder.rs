//! Step 6, "record it": every tool call becomes a [`CallRecord`], appended to the
//! hash-chained audit log ([`AuditRecorder`]) in the same transaction as the change it
//! describes (successful reads, which change nothing, in group commits), and mirrored as a
//! `tracing` event on stderr.

use futures::future::BoxFuture;
use serde::Serialize;

use crate::policy::ToolKind;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Error,
    Denied,
    AwaitingConfirmation,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Denied => "denied",
            Outcome::AwaitingConfirmation => "awaiting_confirmation",
        }
    }
}

/// One tool call, as the audit trail sees it. `arguments` are the caller's arguments; a
/// recorder that persists them must digest them, never store personal data in the clear.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub server: &'static str,
    pub actor: String,
    pub tool: String,
    pub kind: ToolKind,
    pub arguments: serde_json::Value,
    pub outcome: Outcome,
    /// A short, personal-data-free description (e.g. the error kind).
    pub detail: String,
    pub duration_micros: u64,
}

/// Where call records go.
pub trait CallRecorder: Send + Sync + std::fmt::Debug {
    /// Records a call that changed nothing: a read, a refusal, an error.
    fn record<'a>(&'a self, record: &'a CallRecord) -> BoxFuture<'a, Result<(), store::Error>>;

    /// Records a call that changed something in its write transaction `tx`, and commits
    /// both: the change is kept only with its record. An error means nothing was kept.
    fn record_and_commit<'a>(
        &'a self,
        record: &'a CallRecord,
        tx: store::WriteTx,
    ) -> BoxFuture<'a, Result<(), store::Error>>;

    /// Writes whatever is still queued; called once when the server stops.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// Appends every call to the audit log of the store, and logs it on stderr.
///
/// A call that changes something is appended in its transaction, before it commits.
/// Refusals and errors are appended in a transaction of their own before the answer
/// ([`audit::Auditor::append_committed`], which commits concurrent ones together). A
/// successful read changes nothing: by default it is answered without waiting for the disk
/// and appended by a background writer that commits reads in groups, and
/// [`CallRecorder::shutdown`] writes whatever is queued before the server exits; with
/// [`ReadAudit::BeforeAnswer`] it is appended like a refusal, before the answer.
#[derive(Debug)]
pub struct AuditRecorder {
    auditor: audit::Auditor,
    store: store::Store,
    read_audit: ReadAudit,
    checkpoints: Option<std::sync::Arc<Checkpointer>>,
    /// Successful reads for the background writer (`ReadAudit::Background`).
    reads: std::sync::Mutex<Option<tokio::sync::mpsc::Sender<CallRecord>>>,
    writer: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// When a successful read's audit entry is committed, relative to its answer
/// (`REVOPS_AUDIT_READS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadAudit {
    /// `background` (the default): committed a few milliseconds after the answer, in a
    /// group with the reads around it. The answer never waits for the disk; a process killed
    /// with SIGKILL in those milliseconds loses the entries still queued.
    #[default]
    Background,
    /// `before_answer`: the answer waits until its entry is committed (in one commit with
    /// the calls recorded at the same moment), so no read is ever answered unrecorded; a read
    /// whose entry cannot be written is answered with an error instead of its data.
    BeforeAnswer,
}

impl ReadAudit {
    /// `REVOPS_AUDIT_READS=background|before_answer`; unset means background.
    pub fn from_env() -> Result<ReadAudit, String> {
        match store::config::var("REVOPS_AUDIT_READS")
            .as_deref()
            .map(str::trim)
        {
            None | Some("background") => Ok(ReadAudit::Background),
            Some("before_answer") => Ok(ReadAudit::BeforeAnswer),
            Some(_) => Err("REVOPS_AUDIT_READS must be background or before_answer".into()),
        }
    }
}

/// How many successful reads wait for the writer before callers wait for it.
const READ_QUEUE: usize = 4096;
/// How long the read writer waits, when only one read is queued, for more to join it.
const READ_LINGER: std::time::Duration = std::time::Duration::from_millis(2);
/// The most entries one group transaction holds.
const GROUP_SIZE: usize = 512;

fn entry_of(record: &CallRecord) -> audit::NewEntry<'_> {
    audit::NewEntry {
        server: record.server,
        actor_name: &record.actor,
        tool: &record.tool,
        kind: record.kind.as_str(),
        arguments: &record.arguments,
        outcome: record.outcome.as_str(),
        detail: &record.detail,
    }
}

fn as_store_error(error: audit::Error) -> store::Error {
    match error {
        audit::Error::Store(error) => error,
        _ => store::Error::Internal("append to the audit log"),
    }
}

async fn append_group(
    auditor: &audit::Auditor,
    store: &store::Store,
    group: &[CallRecord],
) -> Result<Option<audit::AuditEntry>, store::Error> {
    let entries: Vec<audit::NewEntry<'_>> = group.iter().map(entry_of).collect();
    let mut appended = auditor
        .append_committed(store, &entries)
        .await
        .map_err(|error| {
            tracing::error!(%error, "audit group commit failed");
            as_store_error(error)
        })?;
    Ok(appended.pop())
}

/// Signed checkpoints written by the server itself every `every` entries, into `folder`
/// (`REVOPS_CHECKPOINT_EVERY`, `REVOPS_CHECKPOINT_DIR`). Only committed entries are signed.
#[derive(Clone)]
pub struct CheckpointSchedule {
    pub every: i64,
    pub folder: std::path::PathBuf,
    pub key: std::sync::Arc<audit::checkpoint::CheckpointKey>,
}

impl std::fmt::Debug for CheckpointSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSchedule")
            .field("every", &self.every)
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

impl CheckpointSchedule {
    /// `REVOPS_CHECKPOINT_EVERY=N`: sign a checkpoint every N entries into
    /// `REVOPS_CHECKPOINT_DIR` (default: `checkpoints` beside the default database), with the
    /// key of `revops audit checkpoint`. `None` when the variable is unset.
    pub fn from_env() -> Result<Option<CheckpointSchedule>, String> {
        let Some(every) = store::config::var("REVOPS_CHECKPOINT_EVERY") else {
            return Ok(None);
        };
        let every: i64 = every
            .trim()
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or("REVOPS_CHECKPOINT_EVERY must be a whole number of entries, at least 1")?;
        let folder = store::config::var("REVOPS_CHECKPOINT_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                store::location::default_sqlite_path().with_file_name("checkpoints")
            });
        let key = audit::checkpoint::CheckpointKey::load_or_create(
            &audit::checkpoint::default_key_path(),
        )
        .map_err(|error| error.to_string())?;
        Ok(Some(CheckpointSchedule {
            every,
            folder,
            key: std::sync::Arc::new(key),
        }))
    }

    /// Writes a checkpoint of `head` when it has crossed a multiple of `every` since `last`.
    fn maybe_sign(&self, head: &audit::AuditEntry, last_signed: &mut i64) {
        if head.seq / self.every <= *last_signed / self.every {
            return;
        }
        let checkpoint = self.key.sign(head.seq, &head.hash);
        let path = self
            .folder
            .join(format!("checkpoint-{:012}.json", head.seq));
        let written = std::fs::create_dir_all(&self.folder)
            .and_then(|()| serde_json::to_vec_pretty(&checkpoint).map_err(std::io::Error::other))
            .and_then(|bytes| std::fs::write(&path, bytes));
        match written {
            Ok(()) => {
                *last_signed = head.seq;
                tracing::info!(seq = head.seq, path = %path.display(), "audit checkpoint written");
            }
            Err(error) => {
                tracing::error!(%error, path = %path.display(), "could not write an audit checkpoint")
            }
        }
    }
}

/// Signs a checkpoint whenever the committed chain crosses a multiple of the schedule's
/// `every`, whatever committed the entry: a group of reads, an entry committed on its own
/// (a refusal, an error), or a write call's transaction.
#[derive(Debug)]
struct Checkpointer {
    schedule: CheckpointSchedule,
    last_signed: std::sync::Mutex<i64>,
}

impl Checkpointer {
    fn new(schedule: CheckpointSchedule) -> Checkpointer {
        Checkpointer {
            schedule,
            last_signed: std::sync::Mutex::new(0),
        }
    }

    /// After `committed`, an entry known to be committed, was appended.
    fn after_commit(&self, committed: &audit::AuditEntry) {
        let mut last_signed = self
            .last_signed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.schedule.maybe_sign(committed, &mut last_signed);
    }
}

async fn write_reads(
    auditor: audit::Auditor,
    store: store::Store,
    checkpoints: Option<std::sync::Arc<Checkpointer>>,
    mut queue: tokio::sync::mpsc::Receiver<CallRecord>,
) {
    while let Some(first) = queue.recv().await {
        if queue.is_empty() {
            // Calls one after another would each get a transaction of their own, written on
            // another thread while the next call runs; a moment's wait gathers them. (Nobody
            // waits for these commits.)
            tokio::time::sleep(READ_LINGER).await;
        }
        let mut records = vec![first];
        while records.len() < GROUP_SIZE {
            match queue.try_recv() {
                Ok(read) => records.push(read),
                Err(_) => break,
            }
        }
        let mut attempt = 0;
        loop {
            match append_group(&auditor, &store, &records).await {
                Ok(head) => {
                    if let (Some(checkpoints), Some(head)) = (&checkpoints, head) {
                        checkpoints.after_commit(&head);
                    }
                    break;
                }
                Err(error) => {
                    attempt += 1;
                    if attempt == 5 {
                        for record in &records {
                            tracing::error!(%error, server = record.server, tool = %record.tool, "a read could not be recorded in the audit log");
                        }
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
            }
        }
    }
}

impl AuditRecorder {
    /// Starts the recorder and its background writer (needs a tokio runtime).
    pub fn start(
        auditor: audit::Auditor,
        store: store::Store,
        checkpoints: Option<CheckpointSchedule>,
        read_audit: ReadAudit,
    ) -> AuditRecorder {
        let (sender, receiver) = tokio::sync::mpsc::channel(READ_QUEUE);
        let checkpoints =
            checkpoints.map(|schedule| std::sync::Arc::new(Checkpointer::new(schedule)));
        let writer = tokio::spawn(write_reads(
            auditor.clone(),
            store.clone(),
            checkpoints.clone(),
            receiver,
        ));
        AuditRecorder {
            auditor,
            store,
            read_audit,
            checkpoints,
            reads: std::sync::Mutex::new(Some(sender)),
            writer: tokio::sync::Mutex::new(Some(writer)),
        }
    }

    /// Appends `record` in a transaction of its own (a refusal, an error, or a read after
    /// shutdown began) and signs a checkpoint if one is due.
    async fn append_on_its_own(&self, record: &CallRecord) -> Result<(), store::Error> {
        let committed =
            append_group(&self.auditor, &self.store, std::slice::from_ref(record)).await?;
        if let (Some(checkpoints), Some(committed)) = (&self.checkpoints, committed) {
            checkpoints.after_commit(&committed);
        }
        Ok(())
    }

    /// A call that changed nothing: a successful read goes to the background writer (by
    /// default), anything else is committed on its own before the answer.
    async fn append(&self, record: &CallRecord) -> Result<(), store::Error> {
        if record.kind == ToolKind::Read
            && record.outcome == Outcome::Ok
            && self.read_audit == ReadAudit::Background
        {
            let sender = self.reads.lock().ok().and_then(|guard| guard.clone());
            if let Some(sender) = sender {
                return sender
                    .send(record.clone())
                    .await
                    .map_err(|_| store::Error::Internal("queue an audit entry"));
            }
        }
        self.append_on_its_own(record).await
    }

    /// A call that changed something: its entry commits with `tx`. Every entry before it is
    /// committed too (the append lock, or SQLite's write lock, was taken after they
    /// committed), so a checkpoint due at it signs it.
    async fn append_and_commit(
        &self,
        record: &CallRecord,
        tx: store::WriteTx,
    ) -> Result<(), store::Error> {
        let committed = self
            .auditor
            .append_and_commit(tx, entry_of(record))
            .await
            .map_err(as_store_error)?;
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.after_commit(&committed);
        }
        Ok(())
    }

    fn log(record: &CallRecord) {
        tracing::info!(
            target: "revops::calls",
            server = record.server,
            tool = %record.tool,
            kind = record.kind.as_str(),
            outcome = record.outcome.as_str(),
            detail = %record.detail,
            micros = record.duration_micros,
            "tool call"
        );
    }
}

impl CallRecorder for AuditRecorder {
    fn record<'a>(&'a self, record: &'a CallRecord) -> BoxFuture<'a, Result<(), store::Error>> {
        AuditRecorder::log(record);
        Box::pin(self.append(record))
    }

    fn record_and_commit<'a>(
        &'a self,
        record: &'a CallRecord,
        tx: store::WriteTx,
    ) -> BoxFuture<'a, Result<(), store::Error>> {
        AuditRecorder::log(record);
        Box::pin(self.append_and_commit(record, tx))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Closing the queue lets the writer drain it and stop.
            if let Ok(mut sender) = self.reads.lock() {
                sender.take();
            }
            if let Some(writer) = self.writer.lock().await.take()
                && let Err(error) = writer.await
            {
                tracing::error!(%error, "the audit writer stopped abnormally");
            }
        })
    }
}
