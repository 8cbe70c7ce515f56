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
}

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
    /// and checked against the last stored checkpoint.
    ///
    /// # Errors
    ///
    /// The sink cannot be read, or its leaves do not match its last
    /// checkpoint (the log was changed outside kmsgov).
    pub fn open(sink: Arc<dyn AuditSink>, signer: Signer) -> Result<AuditLog, AuditError> {
        let size = sink.size().map_err(|e| AuditError(e.to_string()))?;
        let mut range = merkle::CompactRange::new();
        let mut from = 0;
        while from < size {
            let to = (from + 65_536).min(size);
            for entry in sink.read(from, to).map_err(|e| AuditError(e.to_string()))? {
                range.push(merkle::leaf_hash(&entry.leaf));
            }
            from = to;
        }
        if range.size() != size {
            return Err(AuditError(format!(
                "the log says it has {size} entries but {} were read",
                range.size()
            )));
        }
        let root = range.root();
        let verifier =
            Verifier::parse(&signer.verifier_key()).map_err(|e| AuditError(e.to_string()))?;
        if let Some((at, note)) = sink
            .checkpoints()
            .map_err(|e| AuditError(e.to_string()))?
            .last()
        {
            let stored = verifier
                .verify(note)
                .map_err(|e| AuditError(format!("the last checkpoint: {e}")))?;
            if *at != size || stored.size != size || stored.root != root {
                return Err(AuditError(format!(
                    "the stored leaves do not match the last checkpoint (size {}); run `kmsgov audit verify`",
                    stored.size
                )));
            }
        }
        let head = Head {
            size,
            root,
            checkpoint: signer.sign(size, &root),
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                head,
                shutdown: false,
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
                .spawn(move || write_loop(&shared, sink.as_ref(), &signer, range))
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
            self.shared.work.notify_one();
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

fn write_loop(
    shared: &Shared,
    sink: &dyn AuditSink,
    signer: &Signer,
    mut range: merkle::CompactRange,
) {
    loop {
        let batch = {
            let mut queue = lock(&shared.queue);
            while queue.pending.is_empty() && !queue.shutdown {
                queue = shared
                    .work
                    .wait(queue)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if queue.pending.is_empty() {
                return;
            }
            let n = queue.pending.len().min(MAX_BATCH);
            queue.pending.drain(..n).collect::<Vec<_>>()
        };
        let (entries, slots): (Vec<AuditEntry>, Vec<Slot>) = batch.into_iter().unzip();
        let first = range.size();
        let mut next = range.clone();
        for entry in &entries {
            next.push(merkle::leaf_hash(&entry.leaf));
        }
        let root = next.root();
        let note = signer.sign(next.size(), &root);
        let outcome = sink.append(first, &entries, &note);
        let mut queue = lock(&shared.queue);
        match outcome {
            Ok(()) => {
                range = next;
                queue.head = Head {
                    size: range.size(),
                    root,
                    checkpoint: note,
                };
                for (i, slot) in slots.iter().enumerate() {
                    slot.complete(Ok(first + i as u64));
                }
            }
            Err(e) => {
                let error = AuditError(e.to_string());
                for slot in &slots {
                    slot.complete(Err(error.clone()));
                }
            }
        }
        shared.done.notify_all();
    }
}
