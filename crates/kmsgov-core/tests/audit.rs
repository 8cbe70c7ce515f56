//! The audit log: a leaf for every request (allow, deny and error) that
//! commits to the caller, the context and the detail record; signed
//! checkpoints and proofs; failing closed; group commit under concurrency;
//! and tamper detection by `audit::verify::verify`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{digest, SHA256};
use kmsgov_authz::{Environment, Operation, Scenario, Trace};
use kmsgov_core::audit::verify::{consistency_proof, inclusion_proof, verify};
use kmsgov_core::audit::{
    checkpoint_signer, AuditEntry, AuditLog, AuditSink, Leaf, MemoryAuditSink, Reason, Verdict,
    Verifier,
};
use kmsgov_core::merkle::{leaf_hash, root, verify_consistency, verify_inclusion};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::{MemoryStore, StoreError};
use kmsgov_core::{Config, ErrorKind, Kms, ManualClock, Request};
use kmsgov_policy::Caller;
use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";
const NOW: i64 = 1_767_225_600;
const WORLD: &str = r#"{
  "accounts": {"111122223333": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:user/admin", "policies": [
      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}]},
    {"arn": "arn:aws:iam::111122223333:user/alice"},
    {"arn": "arn:aws:iam::111122223333:user/eve", "policies": [
      {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}]}
  ]
}"#;

fn root_key() -> RootKey {
    RootKey::from_bytes(&[4u8; 32]).unwrap()
}

fn service(sink: Arc<dyn AuditSink>) -> Kms {
    let log = AuditLog::open(sink, checkpoint_signer(&root_key(), "us-east-1").unwrap()).unwrap();
    Kms::open(Config {
        region: "us-east-1".into(),
        store: Arc::new(MemoryStore::new()),
        root_key: root_key(),
        clock: Arc::new(ManualClock::at(NOW)),
        directory: Scenario::parse(WORLD).unwrap().world,
    })
    .unwrap()
    .with_audit(log)
    .unwrap()
}

fn verifier() -> Verifier {
    Verifier::parse(
        &checkpoint_signer(&root_key(), "us-east-1")
            .unwrap()
            .verifier_key(),
    )
    .unwrap()
}

fn caller(name: &str) -> Caller {
    Caller::parse(&format!("arn:aws:iam::{ACCOUNT}:user/{name}")).unwrap()
}

fn call(kms: &Kms, who: &str, op: Operation, input: Value) -> Result<Value, ErrorKind> {
    let mut env = Environment::new();
    env.insert("aws:SourceIp", "192.0.2.7");
    let caller = caller(who);
    kms.execute(
        &Request {
            caller: &caller,
            operation: op,
            input: &input,
            env: &env,
        },
        Trace::Off,
    )
    .result
    .map(|o| o.value().clone())
    .map_err(|e| e.kind)
}

fn entries(sink: &dyn AuditSink) -> Vec<AuditEntry> {
    sink.read(0, sink.size().unwrap()).unwrap()
}

#[test]
fn every_request_leaves_a_leaf_that_commits_to_it() {
    let sink = Arc::new(MemoryAuditSink::new());
    let kms = service(sink.clone());
    let key = call(&kms, "admin", Operation::CreateKey, json!({})).unwrap()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let context = json!({"dept": "billing", "a": "b"});
    call(
        &kms,
        "admin",
        Operation::Encrypt,
        json!({"KeyId": key, "Plaintext": "aGVsbG8=", "EncryptionContext": context}),
    )
    .unwrap();
    // alice has no permission (no statement allows), eve an explicit deny.
    let denied = call(&kms, "alice", Operation::DescribeKey, json!({"KeyId": key}));
    assert_eq!(denied, Err(ErrorKind::AccessDeniedException));
    let denied = call(&kms, "eve", Operation::DescribeKey, json!({"KeyId": key}));
    assert_eq!(denied, Err(ErrorKind::AccessDeniedException));
    let missing = call(
        &kms,
        "admin",
        Operation::DescribeKey,
        json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
    );
    assert_eq!(missing, Err(ErrorKind::NotFoundException));
    call(&kms, "admin", Operation::DisableKey, json!({"KeyId": key})).unwrap();
    let disabled = call(
        &kms,
        "admin",
        Operation::Encrypt,
        json!({"KeyId": key, "Plaintext": "aGVsbG8="}),
    );
    assert_eq!(disabled, Err(ErrorKind::DisabledException));

    let stored = entries(sink.as_ref());
    assert_eq!(stored.len(), 7);
    let leaves: Vec<Leaf> = stored
        .iter()
        .map(|e| Leaf::decode(&e.leaf).unwrap())
        .collect();
    let got: Vec<(Verdict, Reason)> = leaves.iter().map(|l| (l.verdict, l.reason)).collect();
    assert_eq!(
        got,
        [
            (Verdict::Allow, Reason::Ok),
            (Verdict::Allow, Reason::Ok),
            (Verdict::Deny, Reason::NoPermit),
            (Verdict::Deny, Reason::ExplicitDeny),
            (Verdict::Error, Reason::OtherError),
            (Verdict::Allow, Reason::Ok),
            (Verdict::Error, Reason::KeyState),
        ]
    );
    let ops: Vec<Option<Operation>> = leaves
        .iter()
        .map(|l| kmsgov_core::audit::leaf::operation_of(l.op))
        .collect();
    assert_eq!(ops[1], Some(Operation::Encrypt));
    assert_eq!(ops[2], Some(Operation::DescribeKey));
    for l in &leaves {
        assert_eq!(l.time_ms, (NOW * 1000) as u64);
    }
    // The caller is a keyed commitment, not in the leaf in clear.
    let alice = format!("arn:aws:iam::{ACCOUNT}:user/alice");
    assert_eq!(
        Some(leaves[2].principal_commit),
        kms.principal_commitment(ACCOUNT, &alice)
    );
    assert_ne!(leaves[2].principal_commit, leaves[1].principal_commit);
    assert!(!stored[2].leaf.windows(5).any(|w| w == b"alice"));
    // The key's id bytes.
    let id_hex: String = key.chars().filter(|c| *c != '-').collect();
    let leaf_hex: String = leaves[1]
        .key_id
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(leaf_hex, id_hex);
    // Each leaf commits to its detail record, which holds the salt and the
    // context the leaf's context commitment covers.
    for (entry, leaf) in stored.iter().zip(&leaves) {
        assert_eq!(digest(&SHA256, &entry.detail).as_ref(), leaf.detail_ref);
        let detail: Value = serde_json::from_slice(&entry.detail).unwrap();
        let salt: Vec<u8> = detail["salt"]
            .as_str()
            .unwrap()
            .as_bytes()
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect();
        let mut input = b"kmsgov/ctx".to_vec();
        input.extend_from_slice(&salt);
        input.extend_from_slice(detail["context"].to_string().as_bytes());
        assert_eq!(digest(&SHA256, &input).as_ref(), leaf.context_commit);
        assert_eq!(detail["context"]["aws:SourceIp"], "192.0.2.7");
    }
    let encrypt_detail: Value = serde_json::from_slice(&stored[1].detail).unwrap();
    assert_eq!(
        encrypt_detail["context"]["EncryptionContext"],
        json!({"a": "b", "dept": "billing"})
    );
    let deny_detail: Value = serde_json::from_slice(&stored[3].detail).unwrap();
    assert_eq!(deny_detail["error"], "AccessDeniedException");
    assert!(deny_detail["message"]
        .as_str()
        .unwrap()
        .contains("explicit deny"));

    // The head is signed, and every leaf is provably in it.
    let head = kms.audit_log().unwrap().head();
    let checkpoint = verifier().verify(&head.checkpoint).unwrap();
    let hashes: Vec<_> = stored.iter().map(|e| leaf_hash(&e.leaf)).collect();
    assert_eq!((checkpoint.size, checkpoint.root), (7, root(&hashes)));
    for seq in 0..7u64 {
        let proof = inclusion_proof(sink.as_ref(), seq, 7).unwrap();
        assert!(verify_inclusion(
            &hashes[seq as usize],
            seq,
            7,
            &proof,
            &checkpoint.root
        ));
    }
    let proof = consistency_proof(sink.as_ref(), 3, 7).unwrap();
    assert!(verify_consistency(
        3,
        7,
        &root(&hashes[..3]),
        &checkpoint.root,
        &proof
    ));
    let report = verify(sink.as_ref(), &verifier(), Some(&head.checkpoint)).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.size, 7);
}

#[test]
fn nothing_is_released_when_the_log_cannot_be_written() {
    let sink = Arc::new(MemoryAuditSink::new());
    let kms = service(sink.clone());
    let key = call(&kms, "admin", Operation::CreateKey, json!({})).unwrap()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let blob = call(
        &kms,
        "admin",
        Operation::Encrypt,
        json!({"KeyId": key, "Plaintext": "c2VjcmV0"}),
    )
    .unwrap()["CiphertextBlob"]
        .clone();
    sink.set_broken(true);
    let refused = call(
        &kms,
        "admin",
        Operation::Decrypt,
        json!({"CiphertextBlob": blob}),
    );
    assert_eq!(refused, Err(ErrorKind::KMSInternalException));
    let refused = call(
        &kms,
        "admin",
        Operation::GenerateDataKey,
        json!({"KeyId": key, "KeySpec": "AES_256"}),
    );
    assert_eq!(refused, Err(ErrorKind::KMSInternalException));
    assert_eq!(sink.size().unwrap(), 2);
    sink.set_broken(false);
    let plain = call(
        &kms,
        "admin",
        Operation::Decrypt,
        json!({"CiphertextBlob": blob}),
    )
    .unwrap();
    assert_eq!(plain["Plaintext"], "c2VjcmV0");
    assert_eq!(sink.size().unwrap(), 3);
    let report = verify(sink.as_ref(), &verifier(), None).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
}

fn entry(i: usize) -> AuditEntry {
    let detail = format!("{{\"n\":{i}}}").into_bytes();
    let leaf = Leaf {
        op: 2,
        verdict: Verdict::Allow,
        reason: Reason::Ok,
        time_ms: i as u64,
        request_id: [1; 16],
        principal_commit: [2; 32],
        key_id: [3; 16],
        key_version: 1,
        ct_header_hash: [0; 32],
        policy_hash: [0; 32],
        gov_size: 0,
        gov_root: [0; 32],
        determining: [4; 32],
        context_commit: [5; 32],
        receipt_ref: [0; 32],
        detail_ref: digest(&SHA256, &detail).as_ref().try_into().unwrap(),
    };
    AuditEntry {
        leaf: leaf.encode().to_vec(),
        detail,
    }
}

#[test]
fn concurrent_appends_get_distinct_positions_and_one_consistent_tree() {
    let sink: Arc<dyn AuditSink> = Arc::new(MemoryAuditSink::new());
    let log = Arc::new(
        AuditLog::open(
            Arc::clone(&sink),
            checkpoint_signer(&root_key(), "us-east-1").unwrap(),
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                (0..200)
                    .map(|i| log.append(entry(t * 1000 + i)).unwrap())
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..1600).collect::<Vec<u64>>());
    // Fewer commits than entries: they were grouped.
    let commits = sink.checkpoints().unwrap().len();
    assert!(commits <= 1600);
    let report = verify(sink.as_ref(), &verifier(), Some(&log.head().checkpoint)).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.checkpoints, commits);

    // Reopened, the log continues where it was.
    let before = log.head();
    drop(log);
    let log = AuditLog::open(
        Arc::clone(&sink),
        checkpoint_signer(&root_key(), "us-east-1").unwrap(),
    )
    .unwrap();
    assert_eq!(
        (log.head().size, log.head().root),
        (before.size, before.root)
    );
    assert_eq!(log.append(entry(5)).unwrap(), 1600);
}

/// A sink whose contents a test can change behind the log's back.
#[derive(Debug, Default)]
struct Tamperable {
    entries: Mutex<Vec<AuditEntry>>,
    checkpoints: Mutex<Vec<(u64, String)>>,
}

impl AuditSink for Tamperable {
    fn append(&self, first: u64, new: &[AuditEntry], note: &str) -> Result<(), StoreError> {
        let mut entries = self.entries.lock().unwrap();
        assert_eq!(first, entries.len() as u64);
        entries.extend_from_slice(new);
        self.checkpoints
            .lock()
            .unwrap()
            .push((entries.len() as u64, note.to_owned()));
        Ok(())
    }
    fn size(&self) -> Result<u64, StoreError> {
        Ok(self.entries.lock().unwrap().len() as u64)
    }
    fn read(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>, StoreError> {
        let entries = self.entries.lock().unwrap();
        let to = (to as usize).min(entries.len());
        Ok(entries[(from as usize).min(to)..to].to_vec())
    }
    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        Ok(self.checkpoints.lock().unwrap().clone())
    }
}

/// A log of 20 entries, committed one by one (so every size has its
/// checkpoint), and the checkpoint saved at the end.
fn tamperable_log() -> (Arc<Tamperable>, String) {
    let sink = Arc::new(Tamperable::default());
    let log = AuditLog::open(
        sink.clone() as Arc<dyn AuditSink>,
        checkpoint_signer(&root_key(), "us-east-1").unwrap(),
    )
    .unwrap();
    for i in 0..20 {
        log.append(entry(i)).unwrap();
    }
    let saved = log.head().checkpoint;
    (sink, saved)
}

#[test]
fn a_changed_byte_anywhere_is_found_and_named() {
    let (sink, saved) = tamperable_log();
    assert!(verify(sink.as_ref(), &verifier(), Some(&saved))
        .unwrap()
        .ok());
    let leaf_len = sink.entries.lock().unwrap()[7].leaf.len();
    for byte in 0..leaf_len {
        sink.entries.lock().unwrap()[7].leaf[byte] ^= 0x01;
        let report = verify(sink.as_ref(), &verifier(), Some(&saved)).unwrap();
        assert!(!report.ok(), "byte {byte} of leaf 7 changed unnoticed");
        let first = &report.problems[0];
        assert!(
            first.starts_with("entry 7:") || first.contains("in 7..8"),
            "byte {byte}: {first}"
        );
        sink.entries.lock().unwrap()[7].leaf[byte] ^= 0x01;
    }
    sink.entries.lock().unwrap()[7].detail[3] ^= 0x01;
    let report = verify(sink.as_ref(), &verifier(), Some(&saved)).unwrap();
    assert_eq!(
        report.problems,
        ["entry 7: its detail record does not match the leaf"]
    );
    sink.entries.lock().unwrap()[7].detail[3] ^= 0x01;
    // A stored checkpoint's signature.
    let note = sink.checkpoints.lock().unwrap()[4].1.clone();
    sink.checkpoints.lock().unwrap()[4].1 = note.replace("\n5\n", "\n6\n");
    let report = verify(sink.as_ref(), &verifier(), Some(&saved)).unwrap();
    assert!(
        report.problems[0].starts_with("checkpoint stored for size 5"),
        "{:?}",
        report.problems
    );
}

#[test]
fn truncation_and_rewriting_after_a_saved_checkpoint_are_found() {
    let (sink, saved) = tamperable_log();
    // Cut the last three entries (and their checkpoints).
    sink.entries.lock().unwrap().truncate(17);
    sink.checkpoints.lock().unwrap().truncate(17);
    let report = verify(sink.as_ref(), &verifier(), Some(&saved)).unwrap();
    assert!(!report.ok());
    assert!(
        report.problems[0].contains("truncated"),
        "{:?}",
        report.problems
    );

    // Rewrite history with the signing key itself: a new log whose entry 3
    // differs, every checkpoint validly signed. Only the saved checkpoint
    // shows it.
    let (_, saved) = tamperable_log();
    let forged = Arc::new(Tamperable::default());
    let log = AuditLog::open(
        forged.clone() as Arc<dyn AuditSink>,
        checkpoint_signer(&root_key(), "us-east-1").unwrap(),
    )
    .unwrap();
    for i in 0..20 {
        log.append(entry(if i == 3 { 99 } else { i })).unwrap();
    }
    assert!(verify(forged.as_ref(), &verifier(), None).unwrap().ok());
    let report = verify(forged.as_ref(), &verifier(), Some(&saved)).unwrap();
    assert!(
        report.problems[0].contains("the saved checkpoint (size 20)"),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_log_changed_outside_kmsgov_is_not_opened() {
    let (sink, _) = tamperable_log();
    sink.entries.lock().unwrap()[19].leaf[40] ^= 0x01;
    let reopened = AuditLog::open(
        sink.clone() as Arc<dyn AuditSink>,
        checkpoint_signer(&root_key(), "us-east-1").unwrap(),
    );
    assert!(reopened.is_err());
}

/// A sink that commits one more entry (with its signed checkpoint) right
/// after the first thing a reader asks of it: the moment a server would
/// commit while `verify` reads.
#[derive(Debug)]
struct GrowsUnderTheReader {
    inner: Tamperable,
    grown: std::sync::atomic::AtomicBool,
}

impl GrowsUnderTheReader {
    fn grow_once(&self) {
        if self.grown.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut entries = self.inner.entries.lock().unwrap();
        let next = entry(entries.len());
        entries.push(next);
        let hashes: Vec<_> = entries.iter().map(|e| leaf_hash(&e.leaf)).collect();
        let signer = checkpoint_signer(&root_key(), "us-east-1").unwrap();
        let note = signer.sign(hashes.len() as u64, &root(&hashes));
        self.inner
            .checkpoints
            .lock()
            .unwrap()
            .push((hashes.len() as u64, note));
    }
}

impl AuditSink for GrowsUnderTheReader {
    fn append(&self, first: u64, new: &[AuditEntry], note: &str) -> Result<(), StoreError> {
        self.inner.append(first, new, note)
    }
    fn size(&self) -> Result<u64, StoreError> {
        let size = self.inner.size();
        self.grow_once();
        size
    }
    fn read(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.read(from, to)
    }
    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let checkpoints = self.inner.checkpoints();
        self.grow_once();
        checkpoints
    }
}

/// A commit that lands while `verify` reads does not make an intact log
/// look broken (so a served log can be checked while it is written).
#[test]
fn a_log_that_grows_while_it_is_checked_verifies() {
    let (sink, _) = tamperable_log();
    let growing = GrowsUnderTheReader {
        inner: Tamperable {
            entries: Mutex::new(sink.entries.lock().unwrap().clone()),
            checkpoints: Mutex::new(sink.checkpoints.lock().unwrap().clone()),
        },
        grown: std::sync::atomic::AtomicBool::new(false),
    };
    let report = verify(&growing, &verifier(), None).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(growing.size().unwrap(), 21);
}

fn signer() -> kmsgov_core::audit::Signer {
    checkpoint_signer(&root_key(), "us-east-1").unwrap()
}

/// Two logs (two servers) on one sink, each appended to from several
/// threads at once: one log holding every entry once, at the position its
/// caller was told, that verifies.
#[test]
fn two_logs_on_one_sink_write_one_totally_ordered_log() {
    let sink: Arc<dyn AuditSink> = Arc::new(MemoryAuditSink::new());
    let logs = [
        Arc::new(AuditLog::open(Arc::clone(&sink), signer()).unwrap()),
        Arc::new(AuditLog::open(Arc::clone(&sink), signer()).unwrap()),
    ];
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = Arc::clone(&logs[t % 2]);
            std::thread::spawn(move || {
                (0..150)
                    .map(|i| {
                        let n = t * 1000 + i;
                        (log.append(entry(n)).unwrap(), n)
                    })
                    .collect::<Vec<(u64, usize)>>()
            })
        })
        .collect();
    let mut appended: Vec<(u64, usize)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    appended.sort_unstable();
    let seqs: Vec<u64> = appended.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..1200).collect::<Vec<u64>>());
    let stored = entries(sink.as_ref());
    assert_eq!(stored.len(), 1200);
    for (seq, n) in &appended {
        assert_eq!(stored[*seq as usize], entry(*n), "entry {seq}");
    }
    let report = verify(sink.as_ref(), &verifier(), None).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.checkpoints, sink.checkpoints().unwrap().len());

    // Each log goes on from the global end, and its head catches up.
    assert_eq!(logs[0].append(entry(5000)).unwrap(), 1200);
    assert_eq!(logs[1].append(entry(5001)).unwrap(), 1201);
    assert_eq!(logs[0].append(entry(5002)).unwrap(), 1202);
    assert_eq!(logs[0].head().size, 1203);
    let report = verify(sink.as_ref(), &verifier(), Some(&logs[1].head().checkpoint)).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.size, 1203);
}

/// A log opened while another writes starts from the newest checkpoint,
/// and goes on after what was written since.
#[test]
fn a_log_opened_beside_a_writer_starts_where_the_log_is() {
    let sink: Arc<dyn AuditSink> = Arc::new(MemoryAuditSink::new());
    let first = AuditLog::open(Arc::clone(&sink), signer()).unwrap();
    for i in 0..10 {
        assert_eq!(first.append(entry(i)).unwrap(), i as u64);
    }
    let second = AuditLog::open(Arc::clone(&sink), signer()).unwrap();
    assert_eq!(second.head().size, 10);
    assert_eq!(second.head().root, first.head().root);
    for i in 10..15 {
        assert_eq!(first.append(entry(i)).unwrap(), i as u64);
    }
    assert_eq!(second.append(entry(15)).unwrap(), 15);
    assert_eq!(first.append(entry(16)).unwrap(), 16);
    let report = verify(sink.as_ref(), &verifier(), None).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.size, 17);
}

/// What another writer appended is only taken on trust of a checkpoint
/// signed with the log's key that matches the entries: otherwise the batch
/// fails and nothing of it is written.
#[test]
fn entries_from_another_writer_that_do_not_verify_fail_the_batch() {
    let sink = Arc::new(MemoryAuditSink::new());
    let log = AuditLog::open(sink.clone() as Arc<dyn AuditSink>, signer()).unwrap();
    assert_eq!(log.append(entry(0)).unwrap(), 0);

    // Another key signs the checkpoint of an appended entry.
    let foreign =
        checkpoint_signer(&RootKey::from_bytes(&[9u8; 32]).unwrap(), "us-east-1").unwrap();
    let hashes: Vec<_> = [entry(0), entry(1)]
        .iter()
        .map(|e| leaf_hash(&e.leaf))
        .collect();
    sink.append(1, &[entry(1)], &foreign.sign(2, &root(&hashes)))
        .unwrap();
    let error = log.append(entry(2)).unwrap_err();
    assert!(error.0.contains("checkpoint stored for size 2"), "{error}");
    assert_eq!(sink.size().unwrap(), 2);

    // The right key, but a root that is not the entries'.
    let sink = Arc::new(MemoryAuditSink::new());
    let log = AuditLog::open(sink.clone() as Arc<dyn AuditSink>, signer()).unwrap();
    assert_eq!(log.append(entry(0)).unwrap(), 0);
    let forged: Vec<_> = [entry(0), entry(7)]
        .iter()
        .map(|e| leaf_hash(&e.leaf))
        .collect();
    sink.append(1, &[entry(1)], &signer().sign(2, &root(&forged)))
        .unwrap();
    let error = log.append(entry(2)).unwrap_err();
    assert!(error.0.contains("do not match the checkpoint"), "{error}");
    assert_eq!(sink.size().unwrap(), 2);
    // It keeps failing closed rather than writing past what it cannot check.
    assert!(log.append(entry(3)).is_err());
    assert_eq!(sink.size().unwrap(), 2);
}

/// A sink that refuses every append as if another writer were first, but
/// never grows: the writer does not retry forever, and says so.
#[derive(Debug, Default)]
struct RefusesEverything(MemoryAuditSink);

impl AuditSink for RefusesEverything {
    fn append(&self, _: u64, _: &[AuditEntry], _: &str) -> Result<(), StoreError> {
        Err(StoreError::Conflict)
    }
    fn size(&self) -> Result<u64, StoreError> {
        self.0.size()
    }
    fn read(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>, StoreError> {
        self.0.read(from, to)
    }
    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        self.0.checkpoints()
    }
}

#[test]
fn a_sink_that_refuses_its_own_end_fails_the_batch() {
    let sink = Arc::new(RefusesEverything::default());
    let log = AuditLog::open(sink.clone() as Arc<dyn AuditSink>, signer()).unwrap();
    let error = log.append(entry(0)).unwrap_err();
    assert!(error.0.contains("refuses appends at its end"), "{error}");
    assert_eq!(sink.size().unwrap(), 0);
}
