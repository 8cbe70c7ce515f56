//! The audit log in an append-only file, `audit.log` beside `kmsgov.db`: the
//! embedded default since this layout was introduced (data directories that
//! hold an `audit.db` keep using [`crate::SqliteAuditSink`]).
//!
//! Each append is one frame written after the last with one `pwrite`, then
//! `fdatasync`: an append that returns `Ok` survives a crash or power loss.
//! The file is extended with zeros 4 MiB at a time ahead of the frames, so
//! that an append overwrites space already allocated and its sync has no
//! new file size to commit. A frame holds the batch's entries and the
//! signed checkpoint of the new size, and ends with a SHA-256 digest of
//! itself, which tells a torn last write from a complete one. The digest is
//! not the log's integrity: that is the Merkle tree and its signed
//! checkpoints, checked by `kmsgov audit verify`.
//!
//! ```text
//! file   = magic (16 bytes: "kmsgov-audit-1\n\0") frame* zeros
//! frame  = len:u32 first:u64 count:u32 note_len:u32 note
//!          (leaf_len:u32 leaf detail_len:u32 detail){count}
//!          sha256:[32]            len counts the bytes after itself;
//!                                 the digest covers the frame before it
//! ```
//!
//! All integers are little-endian. Compared with the SQLite sink, an entry
//! is written once rather than twice (write-ahead log, then database) and
//! no page is rewritten.
//!
//! Opening for writing takes an exclusive lock on the file (another server
//! on the same data directory is refused) and repairs a torn tail: bytes
//! after the last whole frame, other than zeros, with no whole frame after
//! them, were never acknowledged (a crash may leave any of the pages of the
//! last write on disk, in any order). They are kept in
//! `audit.log.torn-<offset>` and cut from the log. Damage followed by whole
//! frames is not repaired: the file is refused with the byte offset named.
//! Opening read-only (for `kmsgov audit verify` while a server runs) takes
//! no lock, repairs nothing, and sees frames appended later.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use aws_lc_rs::digest;
use kmsgov_core::audit::{AuditEntry, AuditSink};
use kmsgov_core::store::StoreError;

/// The file name of the audit log in a data directory.
pub const AUDIT_LOG: &str = "audit.log";

const MAGIC: &[u8; 16] = b"kmsgov-audit-1\n\0";
/// `len`, `first`, `count`, `note_len`.
const HEAD: usize = 4 + 8 + 4 + 4;
const DIGEST: usize = 32;
/// The smallest frame: a header and a digest.
const MIN_FRAME: u64 = (HEAD + DIGEST) as u64;
/// A new index mark after this many bytes of frames.
const MARK_EVERY: u64 = 64 * 1024;
/// The file is extended with zeros this much at a time, ahead of the
/// frames, so that an append overwrites space already allocated and its
/// `fdatasync` has no file size to commit (a journal commit on ext4:
/// about four times the CPU of the sync itself on the machine measured).
const PREALLOCATE: u64 = 4 << 20;

/// [`AuditSink`] on an append-only file.
#[derive(Debug)]
pub struct FileAuditSink {
    path: PathBuf,
    writable: bool,
    /// For reads, which never take the state lock while reading: the bytes
    /// below `State::end` never change while the sink is open.
    reader: File,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    file: File,
    /// The offset after the last complete frame.
    end: u64,
    /// The file's length: zeros from `end` on.
    allocated: u64,
    /// Making zeros ready failed (the disk was full): appends go at the
    /// end of the file until it reaches this length.
    no_zeros_until: u64,
    /// The number of entries.
    size: u64,
    /// A sparse index, `(first entry, frame offset)`, ascending.
    marks: Vec<(u64, u64)>,
    latest: Option<(u64, String)>,
    /// The frame being encoded, kept to reuse its allocation.
    buf: Vec<u8>,
    /// Set when a write left the end of the file unknown: no further
    /// appends until the log is opened again (which repairs the tail).
    broken: Option<String>,
}

/// One frame's header, as read.
#[derive(Clone, Copy)]
struct Header {
    /// The whole frame's length, `len` included.
    total: u64,
    first: u64,
    count: u64,
    note_len: usize,
}

fn io_error(path: &Path, what: &str, e: &std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{}: {what}: {e}", path.display()))
}

fn corrupt(path: &Path, offset: u64, what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "{}: the frame at byte {offset} {what}",
        path.display()
    ))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

fn parse_header(bytes: &[u8]) -> Option<Header> {
    Some(Header {
        total: u64::from(u32_at(bytes, 0)?) + 4,
        first: u64_at(bytes, 4)?,
        count: u64::from(u32_at(bytes, 12)?),
        note_len: usize::try_from(u32_at(bytes, 16)?).ok()?,
    })
}

/// The entries of a whole frame (digest not checked), or `None` when its
/// lengths do not add up.
fn parse_entries(frame: &[u8], header: Header) -> Option<Vec<AuditEntry>> {
    let mut at = HEAD.checked_add(header.note_len)?;
    let body_end = frame.len().checked_sub(DIGEST)?;
    let mut entries = Vec::with_capacity(usize::try_from(header.count).ok()?.min(4096));
    for _ in 0..header.count {
        let leaf_len = usize::try_from(u32_at(frame, at)?).ok()?;
        let leaf = frame.get(at + 4..(at + 4).checked_add(leaf_len)?)?;
        at += 4 + leaf_len;
        let detail_len = usize::try_from(u32_at(frame, at)?).ok()?;
        let detail = frame.get(at + 4..(at + 4).checked_add(detail_len)?)?;
        at += 4 + detail_len;
        entries.push(AuditEntry {
            leaf: leaf.to_vec(),
            detail: detail.to_vec(),
        });
    }
    (at == body_end).then_some(entries)
}

fn digest_ok(frame: &[u8]) -> bool {
    let Some(body_len) = frame.len().checked_sub(DIGEST) else {
        return false;
    };
    let (body, stored) = frame.split_at(body_len);
    digest::digest(&digest::SHA256, body).as_ref() == stored
}

fn read_exact_at(file: &File, len: u64, offset: u64) -> std::io::Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| std::io::ErrorKind::OutOfMemory)?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// What a scan of frames found after the good ones.
enum Stop {
    /// The file ends after the last good frame.
    Clean,
    /// What follows the last good frame (from this offset to the end) is
    /// a torn last write.
    Torn(u64),
}

impl State {
    fn file_len(&self, path: &Path) -> Result<u64, StoreError> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| io_error(path, "cannot read its length", &e))?
            .len())
    }

    /// Takes in the frames from `self.end` up to `len` bytes. Zeros after
    /// the last frame are space made ready for the next ones. Otherwise
    /// what stops the scan is a torn last write (nothing whole follows it)
    /// or, an error, damage with whole frames after it. `careful` (opening
    /// to write) reads all of the rest; a reader takes a zero length as
    /// the end of the frames written so far.
    fn scan(&mut self, path: &Path, len: u64, careful: bool) -> Result<Stop, StoreError> {
        while self.end < len {
            let offset = self.end;
            let rest = len - offset;
            let header = if rest >= HEAD as u64 {
                let head = read_exact_at(&self.file, HEAD as u64, offset)
                    .map_err(|e| io_error(path, "cannot read", &e))?;
                parse_header(&head)
            } else {
                None
            };
            let no_length = header.is_none_or(|h| h.total == 4);
            if careful {
                // A frame starts with a length that is not zero: only
                // then can the rest be zeros.
                if no_length && self.zeros_from(offset, len)? {
                    return Ok(Stop::Clean);
                }
            } else if no_length {
                return Ok(Stop::Clean);
            }
            let frame = match header {
                Some(h) if h.total >= MIN_FRAME && h.total <= rest => {
                    let bytes = read_exact_at(&self.file, h.total, offset)
                        .map_err(|e| io_error(path, "cannot read", &e))?;
                    Some((h, bytes))
                }
                _ => None,
            };
            let entries = frame.as_ref().and_then(|(h, bytes)| {
                let entries = parse_entries(bytes, *h)?;
                (h.first == self.size && entries.len() as u64 == h.count).then_some(entries)
            });
            let intact =
                matches!((&frame, &entries), (Some((_, bytes)), Some(_)) if digest_ok(bytes));
            if !intact && !self.whole_frame_after(path, offset + 1, len)? {
                return Ok(Stop::Torn(offset));
            }
            // Whole frames follow, so this is no torn write. A frame whose
            // digest fails but whose lengths add up is kept: its entries
            // are read as stored, and verification names the one that was
            // changed.
            let (Some((header, bytes)), Some(_)) = (frame, entries) else {
                return Err(corrupt(
                    path,
                    offset,
                    &format!("(entry {} on) cannot be read", self.size),
                ));
            };
            let note = bytes
                .get(HEAD..HEAD + header.note_len)
                .and_then(|n| std::str::from_utf8(n).ok())
                .ok_or_else(|| corrupt(path, offset, "has a checkpoint that is not text"))?;
            self.admit(offset, header, note.to_owned());
        }
        Ok(Stop::Clean)
    }

    /// Whether a whole, intact frame of a later batch starts anywhere from
    /// `from` to `len`: what tells damage (frames follow) from a torn last
    /// write (nothing was written after it).
    fn whole_frame_after(&self, path: &Path, from: u64, len: u64) -> Result<bool, StoreError> {
        const WINDOW: u64 = 1 << 20;
        let mut at = from;
        while at + MIN_FRAME <= len {
            let n = (len - at).min(WINDOW + HEAD as u64);
            let window =
                read_exact_at(&self.file, n, at).map_err(|e| io_error(path, "cannot read", &e))?;
            for i in 0..window.len().min(WINDOW as usize) {
                let Some(h) = window.get(i..).and_then(parse_header) else {
                    break;
                };
                let y = at + i as u64;
                let plausible = h.total >= MIN_FRAME
                    && h.total <= len - y
                    && h.first >= self.size
                    && h.first - self.size < 1 << 40;
                if !plausible {
                    continue;
                }
                let bytes = read_exact_at(&self.file, h.total, y)
                    .map_err(|e| io_error(path, "cannot read", &e))?;
                if parse_entries(&bytes, h).is_some() && digest_ok(&bytes) {
                    return Ok(true);
                }
            }
            at += WINDOW;
        }
        Ok(false)
    }

    /// Records a frame written or read at `offset`.
    fn admit(&mut self, offset: u64, header: Header, note: String) {
        let due = self
            .marks
            .last()
            .is_none_or(|&(_, at)| offset - at >= MARK_EVERY);
        if due {
            self.marks.push((header.first, offset));
        }
        self.end = offset + header.total;
        self.size = header.first + header.count;
        self.latest = Some((self.size, note));
    }

    /// Whether every byte from `offset` to `len` is zero (a tail some file
    /// systems leave after a crash that extended the file).
    fn zeros_from(&self, offset: u64, len: u64) -> Result<bool, StoreError> {
        let mut at = offset;
        let mut buf = vec![0u8; 64 * 1024];
        while at < len {
            let n = usize::try_from((len - at).min(buf.len() as u64)).unwrap_or(buf.len());
            let chunk = buf.get_mut(..n).unwrap_or_default();
            self.file
                .read_exact_at(chunk, at)
                .map_err(|e| StoreError::Unavailable(format!("cannot read: {e}")))?;
            if chunk.iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    }
}

impl FileAuditSink {
    /// Opens (creating if needed) the log at `path` for appending: takes an
    /// exclusive lock on it and repairs a torn tail (see the module text).
    ///
    /// # Errors
    ///
    /// The file cannot be created, read or locked (another process has it
    /// open for appending), is not an audit log, or is damaged before its
    /// last frame.
    pub fn open(path: impl AsRef<Path>) -> Result<FileAuditSink, StoreError> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io_error(path, "cannot open", &e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Unavailable(format!(
                    "{}: another process is writing this audit log",
                    path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_error(path, "cannot lock", &e));
            }
        }
        let len = file
            .metadata()
            .map_err(|e| io_error(path, "cannot read its length", &e))?
            .len();
        if len < MAGIC.len() as u64 {
            // New, or its creation was cut short before anything was
            // appended.
            file.set_len(0)
                .and_then(|()| file.write_all_at(MAGIC, 0))
                .and_then(|()| file.sync_all())
                .map_err(|e| io_error(path, "cannot initialize", &e))?;
            sync_directory(path)?;
        }
        let sink = FileAuditSink::with_file(path, file, true)?;
        {
            let mut state = sink.lock()?;
            let len = state.file_len(path)?;
            state.allocated = len;
            if let Stop::Torn(at) = state.scan(path, len, true)? {
                set_aside(path, &state.file, at, len)?;
                state.allocated = at;
            }
        }
        Ok(sink)
    }

    /// Opens the log at `path` to read it, while a server may append: no
    /// lock, no repair; frames appended later are read too.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is not an audit log, or is damaged before
    /// its last frame.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<FileAuditSink, StoreError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| io_error(path, "cannot open", &e))?;
        let sink = FileAuditSink::with_file(path, file, false)?;
        drop(sink.refresh()?);
        Ok(sink)
    }

    fn with_file(path: &Path, file: File, writable: bool) -> Result<FileAuditSink, StoreError> {
        let mut magic = [0u8; 16];
        let read = file.read_exact_at(&mut magic, 0);
        if matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof) {
            return Err(StoreError::Corrupt(format!(
                "{}: shorter than the header of an audit log",
                path.display()
            )));
        }
        read.map_err(|e| io_error(path, "cannot read its header", &e))?;
        if &magic != MAGIC {
            return Err(StoreError::Corrupt(format!(
                "{}: not a kmsgov audit log",
                path.display()
            )));
        }
        let reader = file
            .try_clone()
            .map_err(|e| io_error(path, "cannot open", &e))?;
        Ok(FileAuditSink {
            path: path.to_owned(),
            writable,
            reader,
            state: Mutex::new(State {
                file,
                end: MAGIC.len() as u64,
                allocated: MAGIC.len() as u64,
                no_zeros_until: 0,
                size: 0,
                marks: Vec::new(),
                latest: None,
                buf: Vec::new(),
                broken: None,
            }),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Unavailable("the audit writer panicked".into()))
    }

    /// Read-only: takes in frames appended since the last look. The state,
    /// locked.
    fn refresh(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let mut state = self.lock()?;
        if !self.writable {
            let len = state.file_len(&self.path)?;
            if len > state.end {
                // A torn or unfinished frame at the end is a write in
                // progress: it is read once complete.
                state.scan(&self.path, len, false)?;
            }
        }
        Ok(state)
    }

    /// The path of the file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The offset after the last frame: the bytes of the file in use. The
    /// rest of the file is zeros made ready for the next frames.
    ///
    /// # Errors
    ///
    /// A read-only sink cannot read what was appended since it looked.
    pub fn end(&self) -> Result<u64, StoreError> {
        Ok(self.refresh()?.end)
    }

    fn encode(buf: &mut Vec<u8>, first: u64, entries: &[AuditEntry], note: &str) -> Option<()> {
        buf.clear();
        let len32 = |n: usize| u32::try_from(n).ok().map(u32::to_le_bytes);
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&first.to_le_bytes());
        buf.extend_from_slice(&len32(entries.len())?);
        buf.extend_from_slice(&len32(note.len())?);
        buf.extend_from_slice(note.as_bytes());
        for entry in entries {
            buf.extend_from_slice(&len32(entry.leaf.len())?);
            buf.extend_from_slice(&entry.leaf);
            buf.extend_from_slice(&len32(entry.detail.len())?);
            buf.extend_from_slice(&entry.detail);
        }
        let len = len32(buf.len() + DIGEST - 4)?;
        buf.get_mut(..4)?.copy_from_slice(&len);
        let sum = digest::digest(&digest::SHA256, buf);
        buf.extend_from_slice(sum.as_ref());
        Some(())
    }

    /// The frames from the mark at or before entry `from`, read without
    /// the lock, calling `each` with each frame's header and offset until
    /// it answers `false`.
    fn frames(
        &self,
        from: u64,
        mut each: impl FnMut(u64, Header) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let (mut offset, end) = {
            let state = self.refresh()?;
            let i = state.marks.partition_point(|&(first, _)| first <= from);
            let start = match i.checked_sub(1).and_then(|i| state.marks.get(i)) {
                Some(&(_, at)) => at,
                None => MAGIC.len() as u64,
            };
            (start, state.end)
        };
        while offset < end {
            let head = read_exact_at(&self.reader, HEAD as u64, offset)
                .map_err(|e| io_error(&self.path, "cannot read", &e))?;
            let header =
                parse_header(&head).ok_or_else(|| corrupt(&self.path, offset, "cannot be read"))?;
            if !each(offset, header)? {
                break;
            }
            offset += header.total;
        }
        Ok(())
    }
}

/// Keeps the torn tail `at..len` of the log in a file beside it, then cuts
/// it from the log.
fn set_aside(path: &Path, file: &File, at: u64, len: u64) -> Result<(), StoreError> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".torn-{at}"));
    let aside = PathBuf::from(aside);
    // Copied a piece at a time; the zeros made ready after the torn
    // write are not part of it.
    let copy = || -> std::io::Result<()> {
        let mut out = File::create(&aside)?;
        let mut buf = vec![0u8; 1 << 20];
        let (mut pos, mut used) = (at, 0);
        while pos < len {
            let n = usize::try_from((len - pos).min(buf.len() as u64)).unwrap_or(buf.len());
            let piece = buf.get_mut(..n).unwrap_or_default();
            file.read_exact_at(piece, pos)?;
            if let Some(i) = piece.iter().rposition(|&b| b != 0) {
                used = pos - at + i as u64 + 1;
            }
            out.write_all(piece)?;
            pos += n as u64;
        }
        out.set_len(used)?;
        out.sync_all()
    };
    copy().map_err(|e| io_error(&aside, "cannot keep the torn end of the audit log", &e))?;
    file.set_len(at)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(path, "cannot cut its torn end", &e))?;
    sync_directory(path)
}

/// Writes zeros from `from` to `to`.
fn extend(file: &File, from: u64, to: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; 1 << 20];
    let mut at = from;
    while at < to {
        let n = usize::try_from((to - at).min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_all_at(zeros.get(..n).unwrap_or_default(), at)?;
        at += n as u64;
    }
    Ok(())
}

/// Makes a new file's directory entry durable.
fn sync_directory(path: &Path) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, "cannot sync", &e))
}

impl AuditSink for FileAuditSink {
    fn append(
        &self,
        first: u64,
        entries: &[AuditEntry],
        checkpoint: &str,
    ) -> Result<(), StoreError> {
        let mut guard = self.lock()?;
        let state = &mut *guard;
        if !self.writable {
            return Err(StoreError::Unavailable(format!(
                "{}: opened read-only",
                self.path.display()
            )));
        }
        if let Some(why) = &state.broken {
            return Err(StoreError::Unavailable(why.clone()));
        }
        if first != state.size {
            return Err(StoreError::Conflict);
        }
        let mut buf = std::mem::take(&mut state.buf);
        let encoded = FileAuditSink::encode(&mut buf, first, entries, checkpoint);
        let result = match encoded {
            None => Err(StoreError::Unavailable(
                "an audit batch too large for one frame".into(),
            )),
            Some(()) => self.write_frame(state, &buf, first, entries.len(), checkpoint),
        };
        state.buf = buf;
        result
    }

    fn size(&self) -> Result<u64, StoreError> {
        Ok(self.refresh()?.size)
    }

    fn read(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>, StoreError> {
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        self.frames(from, |offset, header| {
            if header.first >= to {
                return Ok(false);
            }
            if header.first + header.count > from {
                let frame = read_exact_at(&self.reader, header.total, offset)
                    .map_err(|e| io_error(&self.path, "cannot read", &e))?;
                let entries = parse_entries(&frame, header)
                    .ok_or_else(|| corrupt(&self.path, offset, "cannot be read"))?;
                let skip = usize::try_from(from.saturating_sub(header.first)).unwrap_or(0);
                let take = usize::try_from(to - header.first.max(from)).unwrap_or(usize::MAX);
                out.extend(entries.into_iter().skip(skip).take(take));
            }
            Ok(true)
        })?;
        Ok(out)
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let mut out = Vec::new();
        self.frames(0, |offset, header| {
            let note = read_exact_at(&self.reader, header.note_len as u64, offset + HEAD as u64)
                .map_err(|e| io_error(&self.path, "cannot read", &e))?;
            let note = String::from_utf8(note)
                .map_err(|_| corrupt(&self.path, offset, "has a checkpoint that is not text"))?;
            out.push((header.first + header.count, note));
            Ok(true)
        })?;
        Ok(out)
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        Ok(self.refresh()?.latest.clone())
    }
}

impl FileAuditSink {
    /// Writes an encoded frame at the end and syncs it.
    fn write_frame(
        &self,
        state: &mut State,
        frame: &[u8],
        first: u64,
        count: usize,
        note: &str,
    ) -> Result<(), StoreError> {
        let offset = state.end;
        let need = offset + frame.len() as u64;
        if need > state.allocated.max(state.no_zeros_until) {
            let before = state.allocated;
            let target = need.div_ceil(PREALLOCATE) * PREALLOCATE;
            if extend(&state.file, before, target).is_ok() {
                state.allocated = target;
            } else {
                // No room for the zeros (a nearly full disk): give back
                // what was added and append without them, trying again a
                // chunk later; only the frame itself must fit.
                let _ = state.file.set_len(before);
                state.no_zeros_until = target;
            }
        }
        if let Err(e) = state.file.write_all_at(frame, offset) {
            // All or nothing: cut what was written, or stop appending.
            state.allocated = offset;
            if state.file.set_len(offset).is_err() {
                state.broken = Some(format!(
                    "{}: a failed write could not be undone; reopen the log",
                    self.path.display()
                ));
            }
            return Err(io_error(&self.path, "cannot write", &e));
        }
        if let Err(e) = state.file.sync_data() {
            // After a failed sync what reached the disk is unknown: stop
            // appending until the log is opened again and its end checked.
            state.broken = Some(format!(
                "{}: a sync failed ({e}); reopen the log",
                self.path.display()
            ));
            return Err(io_error(&self.path, "cannot sync", &e));
        }
        state.allocated = state.allocated.max(need);
        let header = Header {
            total: frame.len() as u64,
            first,
            count: count as u64,
            note_len: note.len(),
        };
        state.admit(offset, header, note.to_owned());
        Ok(())
    }
}
