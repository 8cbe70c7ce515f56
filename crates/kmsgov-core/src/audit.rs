//! The tamper-evident audit log: one [`leaf`] per request (allow, deny and
//! error) in an RFC 6962 Merkle log ([`crate::merkle`]), written durably
//! before the response leaves, with a signed [`checkpoint`] after every
//! commit.
//!
//! The key design decision is *group commit*: callers hand their entry to
//! [`AuditLog::append`] and wait; one writer thread takes everything that
//! has queued up, writes it and the new checkpoint to the [`AuditSink`] in
//! one durable transaction, and wakes the callers with their sequence
//! numbers. Under load a single fsync covers many requests, so the log
//! costs each request latency, not throughput. When the sink fails, every
//! caller of that batch gets the error and the tree does not move: the
//! service answers those requests with an internal error and releases
//! nothing (fail closed).
//!
//! Several logs (servers) may write one sink: the sink appends only at its
//! current end and answers [`StoreError::Conflict`] otherwise. A writer
//! that gets `Conflict` catches up: it reads the entries the others wrote,
//! checks them against the newest stored checkpoint (signed with the same
//! key: every server derives it from the shared root key), adds them to
//! its tree and tries its batch again at the new end with a new checkpoint,
//! this time through [`AuditSink::append_at_end`], which holds off the
//! other writers while it checks what they appended meanwhile and appends,
//! so a busy writer cannot keep overtaking one that fell behind.
//! So the sink holds one totally ordered log whose every commit has a
//! checkpoint, and the sequence numbers callers get are global positions.
//!
//! Each leaf keeps the caller only as a keyed commitment and the request
//! context only as a salted commitment; the salt, the caller and the
//! context are in the entry's *detail record*, which the operator keeps
//! beside the log and discloses to an auditor entry by entry (SHA-256 of
//! the detail record is in the leaf).

pub(crate) mod api;
pub mod checkpoint;
pub mod leaf;
pub(crate) mod record;
pub mod verify;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use crate::merkle::{self, Hash};
use crate::root_key::RootKey;
use crate::store::StoreError;

pub use checkpoint::{Checkpoint, CheckpointError, Signer, Verifier};
pub use leaf::{AuditOperation, Leaf, LeafError, Reason, Verdict, LEAF_LEN};

/// One entry: the leaf bytes and the detail record (JSON) they commit to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The encoded [`Leaf`].
    pub leaf: Vec<u8>,
    /// The detail record.
    pub detail: Vec<u8>,
}

/// Where the audit log is kept. Implementations: [`MemoryAuditSink`] here,
/// and the SQLite one of `kmsgov-store-sqlite`.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Appends `entries` at positions `first..` and the signed `checkpoint`
    /// of the new size, all or nothing, durably before returning.
    ///
    /// # Errors
    ///
    /// The write failed (nothing was appended), or `first` is not the
    /// current size ([`StoreError::Conflict`]).
    fn append(
        &self,
        first: u64,
        entries: &[AuditEntry],
        checkpoint: &str,
    ) -> Result<(), StoreError>;

    /// The number of entries.
    ///
    /// # Errors
    ///
    /// The log cannot be read.
    fn size(&self) -> Result<u64, StoreError>;

    /// The entries at positions `from..to` (fewer when the log is shorter).
    ///
    /// # Errors
    ///
    /// The log cannot be read.
    fn read(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>, StoreError>;

    /// Every stored checkpoint note, by tree size, oldest first.
    ///
    /// # Errors
    ///
    /// The log cannot be read.
    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError>;

    /// The newest stored checkpoint note with its tree size, if any. The
    /// default takes the last of [`AuditSink::checkpoints`]; sinks that can
    /// read just the newest should.
    ///
    /// # Errors
    ///
    /// The log cannot be read.
    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        Ok(self.checkpoints()?.pop())
    }

    /// Appends `entries` at the end of the log, wherever it is, with no
    /// other writer appending in between: the position of the first.
    ///
    /// `sign` is called first with what the log holds from position `from`
    /// on (entries other writers appended, possibly none) and the newest
    /// stored checkpoint, which covers them; it returns the signed
    /// checkpoint for the log with `entries` added. When it fails, nothing
    /// is appended and its error is returned.
    ///
    /// A writer sharing the sink with others calls this when
    /// [`AuditSink::append`] answered `Conflict`, so that having fallen
    /// behind it catches up and appends in one step rather than racing the
    /// others again. Sinks that several processes write hold their write
    /// lock across it; the default reads, then appends with `append`, and
    /// may answer `Conflict` again.
    ///
    /// # Errors
    ///
    /// The log cannot be read or written, holds fewer than `from` entries,
    /// or `sign` failed.
    fn append_at_end(
        &self,
        from: u64,
        entries: &[AuditEntry],
        sign: &mut SignAtEnd<'_>,
    ) -> Result<u64, StoreError> {
        let latest = self.latest_checkpoint()?;
        let end = latest.as_ref().map_or(0, |(at, _)| *at).max(from);
        let behind = self.read(from, end)?;
        let note = sign(&behind, latest.as_ref().map(|(at, n)| (*at, n.as_str())))?;
        self.append(end, entries, &note)?;
        Ok(end)
    }
}

/// The callback of [`AuditSink::append_at_end`]: given the entries after
/// the writer's position and the newest stored checkpoint (tree size and
/// note), the signed checkpoint for the log with the new entries.
pub type SignAtEnd<'a> =
    dyn FnMut(&[AuditEntry], Option<(u64, &str)>) -> Result<String, StoreError> + Send + 'a;

/// An audit log in memory, for tests and in-process use.
#[derive(Debug, Default)]
pub struct MemoryAuditSink {
    inner: Mutex<MemoryLog>,
}

#[derive(Debug, Default)]
struct MemoryLog {
    entries: Vec<AuditEntry>,
    checkpoints: Vec<(u64, String)>,
    /// Refuse appends (to test failing closed).
    broken: bool,
}

impl MemoryAuditSink {
    /// An empty log.
    #[must_use]
    pub fn new() -> MemoryAuditSink {
        MemoryAuditSink::default()
    }

    /// Makes every later append fail (`true`) or succeed again (`false`).
    pub fn set_broken(&self, broken: bool) {
        lock(&self.inner).broken = broken;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these structures half
    // changed (every change is one push or assignment), so a poisoned lock
    // is used as it is.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AuditSink for MemoryAuditSink {
    fn append(
        &self,
        first: u64,
        entries: &[AuditEntry],
        checkpoint: &str,
    ) -> Result<(), StoreError> {
        let mut log = lock(&self.inner);
        if log.broken {
            return Err(StoreError::Unavailable(
                "the audit log is unavailable".into(),
            ));
        }
        if first != log.entries.len() as u64 {
            return Err(StoreError::Conflict);
        }
        log.entries.extend_from_slice(entries);
        let size = log.entries.len() as u64;
        log.checkpoints.push((size, checkpoint.to_owned()));
        Ok(())
    }

    fn size(&self) -> Result<u64, StoreError> {
        Ok(lock(&self.inner).entries.len() as u64)
    }

    fn read(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>, StoreError> {
        let log = lock(&self.inner);
        let from = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(log.entries.len());
        let to = usize::try_from(to)
            .unwrap_or(usize::MAX)
            .min(log.entries.len());
        Ok(log
            .entries
            .get(from..to.max(from))
            .unwrap_or_default()
            .to_vec())
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        Ok(lock(&self.inner).checkpoints.clone())
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        Ok(lock(&self.inner).checkpoints.last().cloned())
    }

    fn append_at_end(
        &self,
        from: u64,
        entries: &[AuditEntry],
        sign: &mut SignAtEnd<'_>,
    ) -> Result<u64, StoreError> {
        let mut log = lock(&self.inner);
        if log.broken {
            return Err(StoreError::Unavailable(
                "the audit log is unavailable".into(),
            ));
        }
        let end = log.entries.len();
        let behind = usize::try_from(from)
            .ok()
            .and_then(|from| log.entries.get(from..))
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "the audit log has {end} entries, fewer than the {from} written"
                ))
            })?;
        let latest = log.checkpoints.last().map(|(at, n)| (*at, n.as_str()));
        let note = sign(behind, latest)?;
        log.entries.extend_from_slice(entries);
        let size = log.entries.len() as u64;
        log.checkpoints.push((size, note));
        Ok(end as u64)
    }
}

/// Why an append failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditError(pub String);

impl std::fmt::Display for AuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the audit log cannot be written: {}", self.0)
    }
}

impl std::error::Error for AuditError {}

/// The latest signed state of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The number of leaves.
    pub size: u64,
    /// The tree head.
    pub root: Hash,
    /// The signed checkpoint note for them.
    pub checkpoint: String,
}

/// Where the writer puts the outcome of one entry, and whom it wakes.
#[derive(Debug, Default)]
struct SlotInner {
    result: OnceLock<Result<u64, AuditError>>,
    /// The task awaiting the outcome, when it is awaited asynchronously.
    waker: Mutex<Option<Waker>>,
}

type Slot = Arc<SlotInner>;

impl SlotInner {
    fn complete(&self, result: Result<u64, AuditError>) {
        let _ = self.result.set(result);
        if let Some(waker) = lock(&self.waker).take() {
            waker.wake();
        }
    }
}

/// An entry handed to the log: wait for it ([`AuditTicket::wait`]) or
/// await it (it is a [`Future`]) to learn its sequence number once it is
/// durable, or the error that kept it from being written.
#[derive(Debug)]
pub struct AuditTicket {
    slot: Slot,
    shared: Arc<Shared>,
}

impl AuditTicket {
    /// Blocks until the entry is durable (or failed).
    ///
    /// # Errors
    ///
    /// The batch holding the entry could not be written.
    pub fn wait(self) -> Result<u64, AuditError> {
        let mut queue = lock(&self.shared.queue);
        loop {
            if let Some(result) = self.slot.result.get() {
                return result.clone();
            }
            queue = self
                .shared
                .done
                .wait(queue)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

impl Future for AuditTicket {
    type Output = Result<u64, AuditError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(result) = self.slot.result.get() {
            return Poll::Ready(result.clone());
        }
        *lock(&self.slot.waker) = Some(cx.waker().clone());
        // The writer may have completed the slot between the first look
        // and storing the waker; it then found no waker to wake.
        match self.slot.result.get() {
            Some(result) => Poll::Ready(result.clone()),
            None => Poll::Pending,
        }
    }
}

#[derive(Debug)]
struct Queue {
    pending: Vec<(AuditEntry, Slot)>,
    head: Head,
    shutdown: bool,
    /// The writer is waiting for work: the next entry must wake it. While
    /// it writes, entries just queue up, and it looks again when done,
    /// so that under load submitting costs no system call.
    idle: bool,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// The writer waits here for work.
    work: Condvar,
    /// Callers wait here for their batch.
    done: Condvar,
}

/// The audit log with its group-commit writer.
#[derive(Debug)]
pub struct AuditLog {
    shared: Arc<Shared>,
    sink: Arc<dyn AuditSink>,
    signer: Arc<Signer>,
    writer: Option<JoinHandle<()>>,
}

/// The label of the checkpoint signing key derived from the root key.
const CHECKPOINT_KEY_LABEL: &str = "kmsgov/audit/checkpoint/v1";

/// The name (origin) of a service's audit log: `kmsgov/audit/<region>`.
#[must_use]
pub fn origin(region: &str) -> String {
    format!("kmsgov/audit/{region}")
}

/// The signer of a service's checkpoints: the log named by [`origin`],
/// with an Ed25519 key derived from the root key, so that the root key
/// alone is the secret to keep.
///
/// # Errors
///
/// The key cannot be derived.
pub fn checkpoint_signer(root: &RootKey, region: &str) -> Result<Signer, AuditError> {
    let seed = root
        .derive(CHECKPOINT_KEY_LABEL)
        .map_err(|e| AuditError(e.to_string()))?;
    Signer::from_seed(&origin(region), &seed).map_err(|e| AuditError(e.to_string()))
}

/// The largest number of entries one commit takes.
const MAX_BATCH: usize = 4096;

impl AuditLog {
    /// Opens the log kept in `sink`, signing checkpoints with `signer`, and
    /// starts its writer thread. The tree is rebuilt from the stored leaves
    /// up to the newest stored checkpoint and checked against it; what
    /// other writers append later is caught up with when an append finds
    /// the log grown.
    ///
    /// # Errors
    ///
    /// The sink cannot be read, its leaves do not match its newest
    /// checkpoint, or it holds entries beyond it (the log was changed
    /// outside kmsgov).
    pub fn open(sink: Arc<dyn AuditSink>, signer: Signer) -> Result<AuditLog, AuditError> {
        let verifier =
            Verifier::parse(&signer.verifier_key()).map_err(|e| AuditError(e.to_string()))?;
        // The size first: every append stores its entries and their
        // checkpoint together, so a checkpoint read afterwards covers at
        // least this many entries, even while other writers append.
        let size = sink.size().map_err(|e| AuditError(e.to_string()))?;
        let (range, _) = catch_up(sink.as_ref(), &verifier, &merkle::CompactRange::new())?;
        if range.size() < size {
            return Err(AuditError(format!(
                "the log says it has {size} entries but its last checkpoint covers {}; run `kmsgov audit verify`",
                range.size()
            )));
        }
        let root = range.root();
        let head = Head {
            size: range.size(),
            root,
            checkpoint: signer.sign(range.size(), &root),
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                head,
                shutdown: false,
                idle: false,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
        });
        let signer = Arc::new(signer);
        let writer = {
            let (shared, sink, signer) =
                (Arc::clone(&shared), Arc::clone(&sink), Arc::clone(&signer));
            std::thread::Builder::new()
                .name("kmsgov-audit".into())
                .spawn(move || write_loop(&shared, sink.as_ref(), &signer, &verifier, range))
                .map_err(|e| AuditError(format!("cannot start the audit writer: {e}")))?
        };
        Ok(AuditLog {
            shared,
            sink,
            signer,
            writer: Some(writer),
        })
    }

    /// Appends an entry and waits until it is durable: its sequence number.
    ///
    /// # Errors
    ///
    /// The batch holding the entry could not be written.
    pub fn append(&self, entry: AuditEntry) -> Result<u64, AuditError> {
        self.submit(entry).wait()
    }

    /// Hands an entry to the writer without waiting: the ticket tells when
    /// it is durable.
    pub fn submit(&self, entry: AuditEntry) -> AuditTicket {
        let slot: Slot = Arc::new(SlotInner::default());
        let mut queue = lock(&self.shared.queue);
        if queue.shutdown {
            slot.complete(Err(AuditError("the audit log is closed".into())));
        } else {
            queue.pending.push((entry, Arc::clone(&slot)));
            if queue.idle {
                queue.idle = false;
                drop(queue);
                self.shared.work.notify_one();
            }
        }
        AuditTicket {
            slot,
            shared: Arc::clone(&self.shared),
        }
    }

    /// The latest committed state, with its signed checkpoint.
    #[must_use]
    pub fn head(&self) -> Head {
        lock(&self.shared.queue).head.clone()
    }

    /// The verifier key of the checkpoints, to pin.
    #[must_use]
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// The sink the log is kept in.
    #[must_use]
    pub fn sink(&self) -> &Arc<dyn AuditSink> {
        &self.sink
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        lock(&self.shared.queue).shutdown = true;
        self.shared.work.notify_all();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// How many times in a row a batch may find that other writers appended
/// first (and catch up) before it fails.
const MAX_CATCH_UPS: usize = 32;

fn write_loop(
    shared: &Shared,
    sink: &dyn AuditSink,
    signer: &Signer,
    verifier: &Verifier,
    mut range: merkle::CompactRange,
) {
    loop {
        let batch = {
            let mut queue = lock(&shared.queue);
            while queue.pending.is_empty() && !queue.shutdown {
                queue.idle = true;
                queue = shared
                    .work
                    .wait(queue)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            queue.idle = false;
            if queue.pending.is_empty() {
                return;
            }
            let n = queue.pending.len().min(MAX_BATCH);
            queue.pending.drain(..n).collect::<Vec<_>>()
        };
        let (entries, slots): (Vec<AuditEntry>, Vec<Slot>) = batch.into_iter().unzip();
        let outcome = commit(shared, sink, signer, verifier, &mut range, &entries);
        let first = match outcome {
            Ok((first, head)) => {
                lock(&shared.queue).head = head;
                Ok(first)
            }
            Err(error) => Err(error),
        };
        // Callers are woken without the queue locked, so that they and
        // new submitters do not wait on the writer.
        for (i, slot) in slots.iter().enumerate() {
            slot.complete(first.clone().map(|first| first + i as u64));
        }
        // Blocking waiters look at their slot under the queue lock: taking
        // it here orders their check before this notification.
        drop(lock(&shared.queue));
        shared.done.notify_all();
    }
}

/// Appends `entries` at the end of the log and advances `range` over them:
/// the position of the first and the new head. When other writers appended first (the sink answers
/// `Conflict`), catches up with what they wrote, checked against their
/// signed checkpoint, and tries again at the new end, at most
/// [`MAX_CATCH_UPS`] times. On failure `range` is what is known to be
/// stored, and nothing of the batch was appended.
fn commit(
    shared: &Shared,
    sink: &dyn AuditSink,
    signer: &Signer,
    verifier: &Verifier,
    range: &mut merkle::CompactRange,
    entries: &[AuditEntry],
) -> Result<(u64, Head), AuditError> {
    let mut catch_ups = 0;
    loop {
        let first = range.size();
        let mut next = range.clone();
        for entry in entries {
            next.push(merkle::leaf_hash(&entry.leaf));
        }
        let root = next.root();
        let note = signer.sign(next.size(), &root);
        match sink.append(first, entries, &note) {
            Ok(()) => {
                *range = next;
                let head = Head {
                    size: range.size(),
                    root,
                    checkpoint: note,
                };
                return Ok((first, head));
            }
            Err(StoreError::Conflict) if catch_ups < MAX_CATCH_UPS => {
                catch_ups += 1;
                // Catch up with most of what the others wrote without
                // holding them up, then with the rest while appending.
                let (caught_up, head) = catch_up(sink, verifier, range)?;
                *range = caught_up;
                if let Some(head) = head {
                    lock(&shared.queue).head = head;
                }
                match append_at_end(sink, signer, verifier, range, entries) {
                    Ok(done) => return Ok(done),
                    // Refused at the end it just read, with nothing new
                    // written meanwhile: not a race, so no retry helps.
                    Err(None) if range.size() == first && sink_size(sink)? == first => {
                        return Err(AuditError(format!(
                            "the log refuses appends at its end (position {first}); run `kmsgov audit verify`"
                        )))
                    }
                    Err(None) => {}
                    Err(Some(e)) => return Err(e),
                }
            }
            Err(StoreError::Conflict) => {
                return Err(AuditError(format!(
                    "other writers appended first {MAX_CATCH_UPS} times in a row"
                )))
            }
            Err(e) => return Err(AuditError(e.to_string())),
        }
    }
}

fn sink_size(sink: &dyn AuditSink) -> Result<u64, AuditError> {
    sink.size().map_err(|e| AuditError(e.to_string()))
}

/// Appends `entries` with [`AuditSink::append_at_end`]: after checking
/// what the log holds beyond `range` against the newest stored checkpoint,
/// and advancing `range` over both. `Err(None)` when the sink answered
/// `Conflict` (another writer appended in between; `range` is unchanged).
fn append_at_end(
    sink: &dyn AuditSink,
    signer: &Signer,
    verifier: &Verifier,
    range: &mut merkle::CompactRange,
    entries: &[AuditEntry],
) -> Result<(u64, Head), Option<AuditError>> {
    let mut failure = None;
    let mut done = None;
    let mut sign = |behind: &[AuditEntry], latest: Option<(u64, &str)>| {
        let mut next = range.clone();
        for entry in behind {
            next.push(merkle::leaf_hash(&entry.leaf));
        }
        if let Err(e) = check_checkpoint(verifier, &next, latest) {
            let message = e.0.clone();
            failure = Some(e);
            return Err(StoreError::Corrupt(message));
        }
        for entry in entries {
            next.push(merkle::leaf_hash(&entry.leaf));
        }
        let root = next.root();
        let note = signer.sign(next.size(), &root);
        done = Some((next, root, note.clone()));
        Ok(note)
    };
    match sink.append_at_end(range.size(), entries, &mut sign) {
        Ok(first) => {
            let Some((next, root, note)) = done else {
                return Err(Some(AuditError(
                    "the log appended without a checkpoint".into(),
                )));
            };
            *range = next;
            let head = Head {
                size: range.size(),
                root,
                checkpoint: note,
            };
            Ok((first, head))
        }
        Err(StoreError::Conflict) => Err(None),
        Err(e) => Err(Some(failure.unwrap_or(AuditError(e.to_string())))),
    }
}

/// Checks that `latest`, the newest stored checkpoint, is signed with
/// `verifier`'s key and is for the tree `range` (no checkpoint: an empty
/// tree).
fn check_checkpoint(
    verifier: &Verifier,
    range: &merkle::CompactRange,
    latest: Option<(u64, &str)>,
) -> Result<(), AuditError> {
    let Some((at, note)) = latest else {
        if range.size() == 0 {
            return Ok(());
        }
        return Err(AuditError(format!(
            "the log holds no checkpoint, but {} entries were written",
            range.size()
        )));
    };
    let stored = verifier
        .verify(note)
        .map_err(|e| AuditError(format!("the checkpoint stored for size {at}: {e}")))?;
    if stored.size != at {
        return Err(AuditError(format!(
            "the checkpoint stored for size {at} says size {}",
            stored.size
        )));
    }
    if at != range.size() || stored.root != range.root() {
        return Err(AuditError(format!(
            "the stored entries do not match the checkpoint for size {at}; run `kmsgov audit verify`"
        )));
    }
    Ok(())
}

/// `range` extended to the newest stored checkpoint: the entries after it
/// read from the sink, and their tree checked against that checkpoint,
/// which must be signed by `verifier`'s key. Also the head it leads to
/// (`None` when the log has no checkpoint yet, and `range` stays empty).
///
/// # Errors
///
/// The sink cannot be read, the checkpoint does not verify, is older than
/// `range`, or does not match the stored entries.
fn catch_up(
    sink: &dyn AuditSink,
    verifier: &Verifier,
    range: &merkle::CompactRange,
) -> Result<(merkle::CompactRange, Option<Head>), AuditError> {
    let read_error = |e: StoreError| AuditError(e.to_string());
    let Some((at, note)) = sink.latest_checkpoint().map_err(read_error)? else {
        check_checkpoint(verifier, range, None)?;
        return Ok((range.clone(), None));
    };
    if at < range.size() {
        return Err(AuditError(format!(
            "the newest checkpoint is for {at} entries, but {} were written: was the log truncated? run `kmsgov audit verify`",
            range.size()
        )));
    }
    let mut next = range.clone();
    while next.size() < at {
        let from = next.size();
        let to = (from + 65_536).min(at);
        let read = sink.read(from, to).map_err(read_error)?;
        if read.len() as u64 != to - from {
            return Err(AuditError(format!(
                "the checkpoint covers {at} entries, but only {} could be read",
                from + read.len() as u64
            )));
        }
        for entry in &read {
            next.push(merkle::leaf_hash(&entry.leaf));
        }
    }
    check_checkpoint(verifier, &next, Some((at, &note)))?;
    let root = next.root();
    Ok((
        next,
        Some(Head {
            size: at,
            root,
            checkpoint: note,
        }),
    ))
}
