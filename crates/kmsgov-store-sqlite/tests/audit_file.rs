//! The audit log in an append-only file: appends are all-or-nothing at the
//! position the log expects and survive reopening; a torn last write is set
//! aside and cut, damage before it is refused with its offset; one writer
//! at a time, readers alongside; the data directory picks its log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/audit_log.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kmsgov_core::audit::{checkpoint_signer, AuditEntry, AuditLog, AuditSink};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::StoreError;
use kmsgov_store_sqlite::{
    open_audit_log, read_audit_log, FileAuditSink, SqliteAuditSink, AUDIT_DB, AUDIT_LOG,
};
use support::entry;

fn log_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_LOG);
    (dir, path)
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Three appends (entries 0..1, 1..3, 3..4): where the frames end.
fn three_frames(path: &Path) -> [u64; 3] {
    let sink = FileAuditSink::open(path).unwrap();
    sink.append(0, &[entry(1)], "note 1").unwrap();
    let a = sink.end().unwrap();
    sink.append(1, &[entry(2), entry(3)], "note 3").unwrap();
    let b = sink.end().unwrap();
    sink.append(3, &[entry(4)], "note 4").unwrap();
    [a, b, sink.end().unwrap()]
}

/// Writes `bytes` at `at` in the file.
fn overwrite(path: &Path, at: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt as _;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, at).unwrap();
}

fn torn_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".torn-"))
        .collect();
    names.sort();
    names
}

#[test]
fn appends_are_positional_durable_and_ordered() {
    let (_dir, path) = log_path();
    {
        let sink = FileAuditSink::open(&path).unwrap();
        assert_eq!(sink.size().unwrap(), 0);
        assert_eq!(sink.latest_checkpoint().unwrap(), None);
        sink.append(0, &[entry(1), entry(2)], "note 2").unwrap();
        let before = std::fs::read(&path).unwrap();
        // Not at the end: refused, and nothing of it is kept.
        for at in [1, 5] {
            assert!(matches!(
                sink.append(at, &[entry(9)], "note x"),
                Err(StoreError::Conflict)
            ));
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
        sink.append(2, &[entry(3)], "note 3").unwrap();
    }
    let sink = FileAuditSink::open(&path).unwrap();
    assert_eq!(sink.size().unwrap(), 3);
    assert_eq!(
        sink.read(0, 10).unwrap(),
        vec![entry(1), entry(2), entry(3)]
    );
    assert_eq!(sink.read(1, 2).unwrap(), vec![entry(2)]);
    assert_eq!(sink.read(1, 3).unwrap(), vec![entry(2), entry(3)]);
    assert!(sink.read(3, 5).unwrap().is_empty());
    assert!(sink.read(2, 2).unwrap().is_empty());
    assert_eq!(
        sink.checkpoints().unwrap(),
        vec![(2, "note 2".to_owned()), (3, "note 3".to_owned())]
    );
    assert_eq!(
        sink.latest_checkpoint().unwrap(),
        Some((3, "note 3".to_owned()))
    );
}

#[test]
fn reads_find_entries_across_many_frames() {
    // Enough frames for several index marks (one per 64 KiB).
    let (_dir, path) = log_path();
    let sink = FileAuditSink::open(&path).unwrap();
    let mut all = Vec::new();
    for n in 0..600u32 {
        let batch: Vec<AuditEntry> = (0..(n % 3 + 1))
            .map(|i| AuditEntry {
                leaf: vec![(n % 251) as u8; 300],
                detail: format!("{n}/{i}").into_bytes(),
            })
            .collect();
        sink.append(all.len() as u64, &batch, &format!("note {n}"))
            .unwrap();
        all.extend(batch);
    }
    assert!(sink.end().unwrap() > 4 * 64 * 1024);
    let reopened = FileAuditSink::open_read_only(&path).unwrap();
    for s in [&sink, &reopened] {
        assert_eq!(s.size().unwrap(), all.len() as u64);
        for (from, to) in [(0, 1), (5, 9), (400, 800), (1000, 1300), (1190, 5000)] {
            let got = s.read(from, to).unwrap();
            let to = to.min(all.len() as u64);
            assert_eq!(got, all[from as usize..to as usize], "{from}..{to}");
        }
        assert_eq!(s.checkpoints().unwrap().len(), 600);
    }
}

#[test]
fn a_log_in_a_file_reopens_where_it_left_off() {
    let (_dir, path) = log_path();
    support::reopens_where_it_left_off(&|| Arc::new(FileAuditSink::open(&path).unwrap()));
}

/// A last frame damaged by `damage` (given the file, where the frame
/// starts and ends) is set aside and cut: the log holds the two frames
/// before it and goes on after them. The bytes set aside, without zeros.
fn torn(damage: impl Fn(&Path, u64, u64)) -> Vec<u8> {
    let (dir, path) = log_path();
    let [_, b, c] = three_frames(&path);
    damage(&path, b, c);
    let sink = FileAuditSink::open(&path).unwrap();
    assert_eq!(sink.size().unwrap(), 3);
    assert_eq!(sink.end().unwrap(), b);
    assert_eq!(len(&path), b);
    let aside = torn_files(dir.path());
    assert_eq!(aside, vec![format!("{AUDIT_LOG}.torn-{b}")]);
    // The log goes on at the position after the last whole frame.
    sink.append(3, &[entry(7)], "note 4").unwrap();
    drop(sink);
    let reopened = FileAuditSink::open(&path).unwrap();
    assert_eq!(reopened.read(0, 9).unwrap().len(), 4);
    assert_eq!(reopened.read(3, 4).unwrap(), vec![entry(7)]);
    std::fs::read(dir.path().join(&aside[0])).unwrap()
}

#[test]
fn a_torn_last_write_is_set_aside_and_cut() {
    // Cut short: the file ends inside the frame.
    let kept = torn(|path, b, c| {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_len(b + (c - b) / 2).unwrap();
    });
    assert!(!kept.is_empty() && kept.len() <= 300);
    // Its second half never reached the disk (zeros, as made ready).
    torn(|path, b, c| overwrite(path, b + (c - b) / 2, &vec![0; ((c - b) / 2) as usize + 1]));
    // Its first bytes never did, and the rest did.
    let kept = torn(|path, b, _| overwrite(path, b, &[0; 40]));
    assert!(kept.len() > 300);
    // All of it did, but for one byte.
    torn(|path, _, c| overwrite(path, c - 40, &[0xff]));
}

#[test]
fn zeros_after_the_last_frame_are_space_made_ready() {
    let (dir, path) = log_path();
    let [_, _, c] = three_frames(&path);
    let made = len(&path);
    assert!(made > c, "the file is extended ahead of the frames");
    let sink = FileAuditSink::open(&path).unwrap();
    assert_eq!(sink.size().unwrap(), 4);
    assert_eq!(len(&path), made);
    assert!(torn_files(dir.path()).is_empty());
    // Appends fill it without growing the file.
    sink.append(4, &[entry(5)], "note 5").unwrap();
    assert_eq!(len(&path), made);
    // A file without them (as a crash while extending may leave it) opens.
    drop(sink);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let end = FileAuditSink::open_read_only(&path).unwrap().end().unwrap();
    file.set_len(end).unwrap();
    assert_eq!(FileAuditSink::open(&path).unwrap().size().unwrap(), 5);
}

#[test]
fn damage_before_the_last_frame_is_refused_not_cut() {
    let (dir, path) = log_path();
    let [a, _, _] = three_frames(&path);
    let original = std::fs::read(&path).unwrap();

    // The second frame's length: its frames no longer add up.
    let mut bytes = original.clone();
    bytes[a as usize] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    for opened in [
        FileAuditSink::open(&path).map(|_| ()),
        FileAuditSink::open_read_only(&path).map(|_| ()),
    ] {
        match opened {
            Err(StoreError::Corrupt(m)) => assert!(m.contains(&format!("byte {a}")), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert!(torn_files(dir.path()).is_empty());

    // A byte of a leaf in the second frame: the frame is read as stored,
    // and the Merkle tree names the entry.
    let mut bytes = original.clone();
    let at = a as usize + 60;
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let sink = FileAuditSink::open(&path).unwrap();
    assert_eq!(sink.size().unwrap(), 4);
    let read = sink.read(1, 2).unwrap();
    assert_ne!(read, vec![entry(2)]);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    drop(sink);

    // Not an audit log at all.
    std::fs::write(&path, b"SQLite format 3\0 and more bytes").unwrap();
    assert!(matches!(
        FileAuditSink::open(&path),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn a_changed_leaf_stops_the_log_from_opening() {
    let (_dir, path) = log_path();
    let root = RootKey::from_bytes(&[7u8; 32]).unwrap();
    let signer = || checkpoint_signer(&root, "us-east-1").unwrap();
    let sizes: Vec<u64> = {
        let file = Arc::new(FileAuditSink::open(&path).unwrap());
        let sink: Arc<dyn AuditSink> = file.clone();
        let log = AuditLog::open(sink, signer()).unwrap();
        (0..3)
            .map(|n| {
                log.append(entry(n)).unwrap();
                file.end().unwrap()
            })
            .collect()
    };
    let mut bytes = std::fs::read(&path).unwrap();
    // Inside entry 1's leaf (its frame is not the last), which ends
    // before its detail (`{"n":1}` and its length) and the digest.
    bytes[sizes[1] as usize - 32 - 11 - 100] ^= 0x02;
    std::fs::write(&path, &bytes).unwrap();
    let sink: Arc<dyn AuditSink> = Arc::new(FileAuditSink::open(&path).unwrap());
    let refused = AuditLog::open(sink, signer()).map(|_| ());
    assert!(refused.unwrap_err().to_string().contains("do not match"));
}

#[test]
fn one_writer_at_a_time_and_readers_alongside() {
    let (_dir, path) = log_path();
    let writer = FileAuditSink::open(&path).unwrap();
    match FileAuditSink::open(&path) {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("another process"), "{m}"),
        other => panic!("{other:?}"),
    }
    let reader = FileAuditSink::open_read_only(&path).unwrap();
    assert_eq!(reader.size().unwrap(), 0);
    writer.append(0, &[entry(1)], "note 1").unwrap();
    writer.append(1, &[entry(2)], "note 2").unwrap();
    // The reader sees what was appended after it opened.
    assert_eq!(reader.size().unwrap(), 2);
    assert_eq!(reader.read(0, 2).unwrap(), vec![entry(1), entry(2)]);
    assert_eq!(
        reader.latest_checkpoint().unwrap(),
        Some((2, "note 2".to_owned()))
    );
    assert!(matches!(
        reader.append(2, &[entry(3)], "note 3"),
        Err(StoreError::Unavailable(_))
    ));
    // A half-written frame is not read until it is whole.
    let whole = std::fs::read(&path).unwrap();
    let end = writer.end().unwrap() as usize;
    drop(writer);
    let (_dir2, other) = log_path();
    std::fs::write(&other, &whole[..end - 20]).unwrap();
    assert_eq!(
        FileAuditSink::open_read_only(&other)
            .unwrap()
            .size()
            .unwrap(),
        1
    );
    // Once the writer is gone another may open it.
    assert!(FileAuditSink::open(&path).is_ok());
}

#[test]
fn the_data_directory_picks_its_log() {
    // Nothing yet: none to read; writing makes an audit.log.
    let dir = tempfile::tempdir().unwrap();
    assert!(read_audit_log(dir.path()).unwrap().is_none());
    let (sink, path) = open_audit_log(dir.path()).unwrap();
    assert_eq!(path, dir.path().join(AUDIT_LOG));
    sink.append(0, &[entry(1)], "note 1").unwrap();
    drop(sink);
    let (sink, _) = read_audit_log(dir.path()).unwrap().unwrap();
    assert_eq!(sink.size().unwrap(), 1);

    // A data directory from before keeps its audit.db.
    let old = tempfile::tempdir().unwrap();
    SqliteAuditSink::open(old.path().join(AUDIT_DB))
        .unwrap()
        .append(0, &[entry(1), entry(2)], "note 2")
        .unwrap();
    let (sink, path) = open_audit_log(old.path()).unwrap();
    assert_eq!(path, old.path().join(AUDIT_DB));
    assert_eq!(sink.size().unwrap(), 2);
    let (read, path) = read_audit_log(old.path()).unwrap().unwrap();
    assert_eq!(path, old.path().join(AUDIT_DB));
    assert_eq!(read.size().unwrap(), 2);
    assert!(!old.path().join(AUDIT_LOG).exists());
}

/// Damaged files of every kind (bytes flipped, cut at any length, bytes
/// appended): opening never panics; it refuses with `Corrupt`, or opens a
/// log whose every entry and checkpoint reads back.
#[test]
fn damaged_files_open_cleanly_or_are_refused() {
    let (dir, path) = log_path();
    let [_, _, c] = three_frames(&path);
    // Without the zeros made ready after the frames, which the cases below
    // reach often enough.
    let mut original = std::fs::read(&path).unwrap();
    original.truncate(c as usize + 64);
    // A fixed-seed xorshift: the cases are the same on every run.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut opened, mut refused) = (0, 0);
    for case in 0..600 {
        let mut bytes = original.clone();
        match case % 3 {
            0 => {
                for _ in 0..=next() % 3 {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] ^= 1 << (next() % 8);
                }
            }
            1 => bytes.truncate((next() % bytes.len() as u64) as usize),
            _ => bytes.extend((0..next() % 64).map(|_| next() as u8)),
        }
        let target = dir.path().join(format!("case-{case}"));
        std::fs::write(&target, &bytes).unwrap();
        let results = [
            FileAuditSink::open_read_only(&target),
            FileAuditSink::open(&target),
        ];
        for result in results {
            match result {
                Ok(sink) => {
                    opened += 1;
                    let size = sink.size().unwrap();
                    assert!(size <= 4, "case {case}");
                    assert_eq!(sink.read(0, size).unwrap().len() as u64, size);
                    let checkpoints = sink.checkpoints().unwrap();
                    assert_eq!(checkpoints.last().map(|c| c.0), (size > 0).then_some(size));
                }
                Err(StoreError::Corrupt(_)) => refused += 1,
                Err(e) => panic!("case {case}: {e}"),
            }
        }
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let name = e.unwrap().path();
            if name != path {
                std::fs::remove_file(name).unwrap();
            }
        }
    }
    // Both kinds of outcome were reached.
    assert!(
        opened > 100 && refused > 20,
        "{opened} opened, {refused} refused"
    );
}
