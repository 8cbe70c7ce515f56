//! What the audit sinks' tests share: a test entry, and an `AuditLog` that
//! reopens where it left off on any sink.

use std::sync::Arc;

use kmsgov_core::audit::verify::verify;
use kmsgov_core::audit::{checkpoint_signer, AuditEntry, AuditLog, AuditSink, Verifier};
use kmsgov_core::root_key::RootKey;

/// A test entry: not a `GAUD` leaf, of a leaf's size.
pub(crate) fn entry(n: u8) -> AuditEntry {
    AuditEntry {
        leaf: vec![n; 316],
        detail: format!("{{\"n\":{n}}}").into_bytes(),
    }
}

/// An `AuditLog` on the sink `open` gives appends 50 entries, is reopened
/// on a new sink of the same storage, has the same head, appends at 50,
/// and the whole log verifies against the first head's checkpoint.
pub(crate) fn reopens_where_it_left_off(open: &dyn Fn() -> Arc<dyn AuditSink>) {
    let root = RootKey::from_bytes(&[6u8; 32]).unwrap();
    let head = {
        let log = AuditLog::open(open(), checkpoint_signer(&root, "us-east-1").unwrap()).unwrap();
        for n in 0..50 {
            assert_eq!(log.append(entry(n)).unwrap(), u64::from(n));
        }
        log.head()
    };
    let sink = open();
    let log = AuditLog::open(
        Arc::clone(&sink),
        checkpoint_signer(&root, "us-east-1").unwrap(),
    )
    .unwrap();
    assert_eq!((log.head().size, log.head().root), (head.size, head.root));
    assert_eq!(log.append(entry(50)).unwrap(), 50);
    let verifier = Verifier::parse(&log.verifier_key()).unwrap();
    drop(log);
    // The test leaves are not GAUD leaves, so each is reported; the tree
    // and every checkpoint match.
    let report = verify(sink.as_ref(), &verifier, Some(&head.checkpoint)).unwrap();
    assert_eq!(report.size, 51);
    assert!(report
        .problems
        .iter()
        .all(|p| p.starts_with("entry ") && p.contains("magic")));
}
