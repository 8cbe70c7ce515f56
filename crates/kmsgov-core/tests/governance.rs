//! Governance records: the chain builds and verifies, compare-and-swap
//! refuses racing changes, thresholds hold (k-of-n with pending records,
//! distinct signers, old and new quorum for signer set changes), and
//! verification names the first record that was tampered with or the
//! pinned head that went missing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use std::sync::Arc;

use kmsgov_core::store::StoreError;

use kmsgov_core::governance::{
    conformance, policy_id, read_all, scope_id, verify_chain, Chain, ChainError, Change, GovError,
    Governance, GovernanceKey, GovernanceSink, MemoryGovernanceSink, PendingInfo, PolicyKind,
    Record, RecordType, SignerSet, Submitted, ALG_ED25519, ALG_ED25519_APPROVAL,
};
use kmsgov_core::merkle;

const SERVER_SEED: [u8; 32] = [42; 32];
const SCOPE: &str = "123456789012/us-east-1";
const NOW: u64 = 1_760_000_000;

fn key(n: u8) -> GovernanceKey {
    GovernanceKey::from_seed(&[n; 32]).unwrap()
}

fn server() -> GovernanceKey {
    key(42)
}

fn open(sink: &Arc<MemoryGovernanceSink>) -> Governance {
    Governance::open(sink.clone(), &SERVER_SEED, SCOPE, NOW).unwrap()
}

fn bind(subject: u8, policy: [u8; 32]) -> Change {
    Change {
        kind: RecordType::BindKeyPolicy,
        subject: [subject; 32],
        new_hash: policy,
        payload: Vec::new(),
        justification: [7; 32],
    }
}

fn set_change(set: &SignerSet) -> Change {
    Change {
        kind: RecordType::SignerSetChange,
        subject: [0; 32],
        new_hash: set.id(),
        payload: set.encode(),
        justification: [8; 32],
    }
}

fn pending_hash(s: &Submitted) -> [u8; 32] {
    match s {
        Submitted::Pending { record_hash, .. } => *record_hash,
        other => panic!("expected a pending record, got {other:?}"),
    }
}

fn approve(gov: &Governance, hash: &[u8; 32], signer: &GovernanceKey) -> Submitted {
    let s = signer.sign(hash);
    gov.approve(hash, s.key_id, &s.sig).unwrap()
}

/// The pending record whose record hash or proposal hash is `hash`.
fn pending_info(gov: &Governance, hash: &[u8; 32]) -> PendingInfo {
    gov.pending()
        .unwrap()
        .into_iter()
        .find(|p| p.record_hash == *hash || p.proposal_hash == *hash)
        .unwrap_or_else(|| panic!("no pending record {}", hex(hash)))
}

/// Approves the proposal `proposal` (an `alg` 2 signature).
fn approve_proposal(gov: &Governance, proposal: &[u8; 32], signer: &GovernanceKey) -> Submitted {
    let s = signer.approve(proposal);
    gov.approve(proposal, s.key_id, &s.sig).unwrap()
}

/// A tag change on `subject`, which one administrator of [`admins`]
/// approves: a record landing in the chain.
fn land_a_tag_change(gov: &Governance, subject: u8, now: u64) {
    let tag = Change {
        kind: RecordType::TagChange,
        ..bind(subject, [subject; 32])
    };
    let hash = pending_hash(&gov.submit(tag, now).unwrap());
    assert!(matches!(
        approve(gov, &hash, &key(2)),
        Submitted::Applied { .. }
    ));
}

/// Three administrators a, b, c; BindKeyPolicy and SignerSetChange need
/// two of them, everything else one.
fn admins() -> SignerSet {
    SignerSet::new(
        &[
            key(1).public_key(),
            key(2).public_key(),
            key(3).public_key(),
        ],
        1,
        &[
            (RecordType::BindKeyPolicy, 2),
            (RecordType::SignerSetChange, 2),
        ],
    )
    .unwrap()
}

/// A chain handed from the server to the administrators of [`admins`].
fn governed_by_admins(sink: &Arc<MemoryGovernanceSink>) -> Governance {
    let gov = open(sink);
    let submitted = gov.submit(set_change(&admins()), NOW).unwrap();
    let hash = pending_hash(&submitted);
    approve(&gov, &hash, &key(1));
    assert!(matches!(
        approve(&gov, &hash, &key(2)),
        Submitted::Applied { seq: 1, .. }
    ));
    gov
}

const DOC: &str = r#"{"Statement":[{"Action":"kms:*","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Resource":"*"}],"Version":"2012-10-17"}"#;

#[test]
fn genesis_is_the_server_key_alone() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = open(&sink);
    assert_eq!(gov.head().0, 1);
    let records = read_all(sink.as_ref()).unwrap();
    let genesis = Record::parse(&records[0]).unwrap();
    assert_eq!(genesis.record_type, RecordType::SignerSetChange);
    assert_eq!(genesis.seq, 0);
    assert_eq!(genesis.prev_hash, [0; 32]);
    assert_eq!(genesis.scope_id, scope_id(SCOPE));
    assert_eq!(genesis.effective_at, NOW);
    let set = SignerSet::parse(&genesis.payload).unwrap();
    assert_eq!(set, SignerSet::single(&server().public_key()).unwrap());
    assert_eq!(genesis.new_hash, set.id());
    assert_eq!(genesis.signer_ids(), vec![server().key_id()]);
    // Opening again loads it rather than writing another.
    let again = open(&sink);
    assert_eq!(again.head(), gov.head());
    assert_eq!(sink.size().unwrap(), 1);
}

#[test]
fn chain_builds_and_verifies() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = open(&sink);
    let id = gov
        .publish(PolicyKind::KeyPolicy, DOC.as_bytes(), NOW)
        .unwrap();
    assert_eq!(
        hex(&id),
        kmsgov_core::canonical::policy_id(&serde_json::from_str(DOC).unwrap()).unwrap()
    );
    // Publishing again changes nothing.
    assert_eq!(
        gov.publish(PolicyKind::KeyPolicy, DOC.as_bytes(), NOW)
            .unwrap(),
        id
    );
    assert_eq!(gov.head().0, 2);
    assert_eq!(
        gov.policy(&id),
        Some((PolicyKind::KeyPolicy, DOC.as_bytes().to_vec()))
    );
    let applied = gov.submit(bind(1, id), NOW + 5).unwrap();
    assert!(matches!(applied, Submitted::Applied { seq: 2, .. }));
    assert_eq!(gov.bound(RecordType::BindKeyPolicy, &[1; 32]), Some(id));
    assert_eq!(gov.bound(RecordType::BindKeyPolicy, &[2; 32]), None);
    // Rebinding names the old value itself.
    let other = policy_id(b"{}");
    gov.submit(bind(1, other), NOW + 6).unwrap();
    let records = read_all(sink.as_ref()).unwrap();
    assert_eq!(Record::parse(&records[3]).unwrap().expected_old, id);
    assert_eq!(gov.bound(RecordType::BindKeyPolicy, &[1; 32]), Some(other));

    let report = verify_chain(&records, &[server().public_key()], None).unwrap();
    assert_eq!(report.records, 4);
    assert_eq!((report.records, report.head), gov.head());
    let leaves: Vec<_> = records.iter().map(|r| merkle::leaf_hash(r)).collect();
    assert_eq!(gov.root(), (4, merkle::root(&leaves)));
    assert_eq!(report.root, merkle::root(&leaves));
    // A second server on the same sink sees the same state.
    let second = open(&sink);
    assert_eq!(second.root(), gov.root());
    assert_eq!(
        second.bound(RecordType::BindKeyPolicy, &[1; 32]),
        Some(other)
    );
}

#[test]
fn non_canonical_documents_are_refused() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = open(&sink);
    let err = gov
        .publish(PolicyKind::KeyPolicy, b"{ \"b\": 1, \"a\": 2 }", NOW)
        .unwrap_err();
    assert!(err.to_string().contains("not canonical JSON"), "{err}");
    assert_eq!(gov.head().0, 1);
}

#[test]
fn compare_and_swap_rejects_a_racing_change() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = open(&sink);
    let mut chain = Chain::new(Some(scope_id(SCOPE)), &[server().public_key()]);
    for r in read_all(sink.as_ref()).unwrap() {
        chain.apply(&r).unwrap();
    }
    // Two administrators both read "unbound" and bind subject 1.
    let racing = |policy: u8, seq: u64, prev: [u8; 32]| {
        let mut r = Record {
            record_type: RecordType::BindKeyPolicy,
            seq,
            scope_id: scope_id(SCOPE),
            prev_hash: prev,
            effective_at: NOW,
            subject: [1; 32],
            new_hash: [policy; 32],
            expected_old: [0; 32],
            justification: [0; 32],
            payload: Vec::new(),
            signatures: Vec::new(),
        };
        r.signatures.push(server().sign(&r.hash().unwrap()));
        r.encode().unwrap()
    };
    let head = chain.head_hash();
    chain.apply(&racing(0xa1, 1, head)).unwrap();
    // The second, built on the same head, no longer links ...
    assert_eq!(
        chain.apply(&racing(0xb2, 1, head)),
        Err(ChainError::Seq {
            expected: 2,
            got: 1
        })
    );
    // ... and rebased on the new head it still expects "unbound".
    let err = chain
        .apply(&racing(0xb2, 2, chain.head_hash()))
        .unwrap_err();
    assert_eq!(
        err,
        ChainError::Cas {
            current: [0xa1; 32],
            expected_old: [0; 32]
        }
    );
    assert!(err.is_stale());
    assert_eq!(
        chain.bound(RecordType::BindKeyPolicy, &[1; 32]),
        Some([0xa1; 32])
    );

    // Through the handle: a caller that read "unbound" loses to a change
    // made meanwhile.
    gov.submit(bind(1, [0xa1; 32]), NOW).unwrap();
    let err = gov
        .submit_expecting(bind(1, [0xb2; 32]), [0; 32], NOW)
        .unwrap_err();
    assert!(
        matches!(err, GovError::Stale(ChainError::Cas { .. })),
        "{err}"
    );
    assert_eq!(
        gov.bound(RecordType::BindKeyPolicy, &[1; 32]),
        Some([0xa1; 32])
    );
    gov.submit_expecting(bind(1, [0xb2; 32]), [0xa1; 32], NOW)
        .unwrap();
    assert_eq!(
        gov.bound(RecordType::BindKeyPolicy, &[1; 32]),
        Some([0xb2; 32])
    );
}

#[test]
fn two_servers_on_one_sink_append_one_chain() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let a = Arc::new(open(&sink));
    let b = Arc::new(open(&sink));
    let threads: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .map(|(n, gov)| {
            std::thread::spawn(move || {
                for i in 0..20u8 {
                    let subject = u8::try_from(n).unwrap() * 100 + i;
                    gov.submit(bind(subject, [i; 32]), NOW).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let records = read_all(sink.as_ref()).unwrap();
    assert_eq!(records.len(), 41);
    let report = verify_chain(&records, &[server().public_key()], None).unwrap();
    assert_eq!(a.refresh().unwrap(), (41, report.head));
    assert_eq!(b.refresh().unwrap(), (41, report.head));
}

#[test]
fn two_of_three_waits_pending_then_applies() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = governed_by_admins(&sink);
    // The server is no longer a signer: its change waits for two admins.
    let submitted = gov.submit(bind(9, [5; 32]), NOW).unwrap();
    assert!(matches!(
        submitted,
        Submitted::Pending {
            have: 0,
            need: 2,
            ..
        }
    ));
    let hash = pending_hash(&submitted);
    let pending = gov.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].have, pending[0].need), (0, 2));
    assert!(pending[0].stale.is_none());
    assert_eq!(gov.bound(RecordType::BindKeyPolicy, &[9; 32]), None);

    assert_eq!(
        approve(&gov, &hash, &key(1)),
        Submitted::Pending {
            record_hash: hash,
            have: 1,
            need: 2
        }
    );
    // The same key again does not count twice.
    assert_eq!(
        approve(&gov, &hash, &key(1)),
        Submitted::Pending {
            record_hash: hash,
            have: 1,
            need: 2
        }
    );
    assert_eq!(gov.pending().unwrap()[0].signed_by, vec![key(1).key_id()]);
    // A key outside the set, or a bad signature, is refused and not kept.
    let outsider = key(9).sign(&hash);
    assert!(matches!(
        gov.approve(&hash, outsider.key_id, &outsider.sig),
        Err(GovError::Rejected(ChainError::UnknownSigner(_)))
    ));
    let forged = key(9).sign(&hash);
    assert!(matches!(
        gov.approve(&hash, key(3).key_id(), &forged.sig),
        Err(GovError::Rejected(ChainError::BadSignature(_)))
    ));
    assert_eq!(gov.pending().unwrap()[0].have, 1);

    let done = approve(&gov, &hash, &key(3));
    assert!(matches!(done, Submitted::Applied { seq: 2, record_hash } if record_hash == hash));
    assert!(gov.pending().unwrap().is_empty());
    assert_eq!(
        gov.bound(RecordType::BindKeyPolicy, &[9; 32]),
        Some([5; 32])
    );
    // Types without an override need one admin.
    let one = gov
        .submit(
            Change {
                kind: RecordType::TagChange,
                ..bind(9, [6; 32])
            },
            NOW,
        )
        .unwrap();
    let hash = pending_hash(&one);
    assert!(matches!(
        approve(&gov, &hash, &key(2)),
        Submitted::Applied { seq: 3, .. }
    ));
    let records = read_all(sink.as_ref()).unwrap();
    verify_chain(&records, &[server().public_key()], None).unwrap();
}

#[test]
fn duplicate_signatures_in_a_record_count_once() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = governed_by_admins(&sink);
    let (size, head) = gov.head();
    let mut record = Record {
        record_type: RecordType::BindKeyPolicy,
        seq: size,
        scope_id: scope_id(SCOPE),
        prev_hash: head,
        effective_at: NOW,
        subject: [4; 32],
        new_hash: [4; 32],
        expected_old: [0; 32],
        justification: [0; 32],
        payload: Vec::new(),
        signatures: Vec::new(),
    };
    let hash = record.hash().unwrap();
    record.signatures = vec![key(1).sign(&hash), key(1).sign(&hash)];
    let bytes = record.encode().unwrap();
    let mut chain = gov.chain();
    assert_eq!(
        chain.apply(&bytes),
        Err(ChainError::Quorum {
            set: "the current signer set",
            have: 1,
            need: 2
        })
    );
    // Submitted as is, it waits for a second admin.
    assert!(matches!(
        gov.submit_signed(&bytes).unwrap(),
        Submitted::Pending {
            have: 1,
            need: 2,
            ..
        }
    ));
    assert!(matches!(
        approve(&gov, &hash, &key(2)),
        Submitted::Applied { .. }
    ));
}

#[test]
fn signer_set_change_needs_the_old_and_the_new_quorum() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = governed_by_admins(&sink);
    // Hand governance to d and e, both needed for a signer set change.
    let next = SignerSet::new(
        &[key(4).public_key(), key(5).public_key()],
        1,
        &[(RecordType::SignerSetChange, 2)],
    )
    .unwrap();
    let hash = pending_hash(&gov.submit(set_change(&next), NOW).unwrap());
    let info = &gov.pending().unwrap()[0];
    assert_eq!(info.quorums.len(), 2);
    assert_eq!((info.have, info.need), (0, 4));
    // The new set alone is not enough ...
    approve(&gov, &hash, &key(4));
    let after_new = approve(&gov, &hash, &key(5));
    assert!(matches!(
        after_new,
        Submitted::Pending {
            have: 2,
            need: 4,
            ..
        }
    ));
    let info = &gov.pending().unwrap()[0];
    assert_eq!(
        (
            info.quorums[0].have,
            info.quorums[0].need,
            info.quorums[1].have,
            info.quorums[1].need
        ),
        (0, 2, 2, 2)
    );
    // ... one of the old is not either ...
    assert!(matches!(
        approve(&gov, &hash, &key(1)),
        Submitted::Pending {
            have: 3,
            need: 4,
            ..
        }
    ));
    // ... two of the old and both of the new are.
    assert!(matches!(
        approve(&gov, &hash, &key(3)),
        Submitted::Applied { seq: 2, .. }
    ));
    assert_eq!(gov.chain().signer_set(), Some(&next));

    // The old admins alone cannot take it back.
    let back = pending_hash(&gov.submit(set_change(&admins()), NOW).unwrap());
    approve(&gov, &back, &key(1));
    assert!(matches!(
        approve(&gov, &back, &key(2)),
        Submitted::Pending { .. }
    ));
    let records = read_all(sink.as_ref()).unwrap();
    assert_eq!(records.len(), 3);
    verify_chain(&records, &[server().public_key()], None).unwrap();
}

#[test]
fn a_record_signed_offline_is_completed_by_the_server() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = open(&sink);
    let (size, head) = gov.head();
    let set = admins();
    let mut record = Record {
        record_type: RecordType::SignerSetChange,
        seq: size,
        scope_id: scope_id(SCOPE),
        prev_hash: head,
        effective_at: NOW + 60,
        subject: [0; 32],
        new_hash: set.id(),
        expected_old: gov.bound(RecordType::SignerSetChange, &[0; 32]).unwrap(),
        justification: [1; 32],
        payload: set.encode(),
        signatures: Vec::new(),
    };
    let hash = record.hash().unwrap();
    record.signatures = vec![key(1).sign(&hash), key(2).sign(&hash)];
    let submitted = gov.submit_signed(&record.encode().unwrap()).unwrap();
    // The new quorum signed offline; the old one (the server) has not.
    assert!(matches!(
        submitted,
        Submitted::Pending {
            have: 2,
            need: 3,
            ..
        }
    ));
    assert!(matches!(
        gov.cosign(&hash).unwrap(),
        Submitted::Applied { seq: 1, .. }
    ));
}

#[test]
fn a_completed_pending_record_that_no_longer_fits_is_stale() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = governed_by_admins(&sink);
    let first = pending_hash(&gov.submit(bind(1, [1; 32]), NOW).unwrap());
    let second = pending_hash(&gov.submit(bind(1, [2; 32]), NOW + 1).unwrap());
    approve(&gov, &second, &key(1));
    assert!(matches!(
        approve(&gov, &second, &key(2)),
        Submitted::Applied { .. }
    ));
    // The first was built on the head before the second landed.
    let listed = gov.pending().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0]
        .stale
        .as_deref()
        .unwrap()
        .contains("seq 2, but the next record is seq 3"));
    let err = gov
        .approve(&first, key(3).key_id(), &key(3).sign(&first).sig)
        .unwrap_err();
    assert!(
        matches!(err, GovError::Stale(ChainError::Seq { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("stale"), "{err}");
    assert!(gov.pending().unwrap().is_empty());
    assert_eq!(
        gov.bound(RecordType::BindKeyPolicy, &[1; 32]),
        Some([2; 32])
    );
    assert!(matches!(
        gov.approve(&first, key(3).key_id(), &key(3).sign(&first).sig),
        Err(GovError::NotPending(_))
    ));
}

#[test]
fn a_pending_change_survives_other_records_and_completes() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = governed_by_admins(&sink);
    let first_hash = pending_hash(&gov.submit(bind(9, [5; 32]), NOW).unwrap());
    let info = pending_info(&gov, &first_hash);
    let proposal = info.proposal_hash;
    assert_eq!(proposal, info.record.proposal_hash().unwrap());
    assert_eq!(
        approve_proposal(&gov, &proposal, &key(1)),
        Submitted::Pending {
            record_hash: first_hash,
            have: 1,
            need: 2
        }
    );
    // Three unrelated records land while the second administrator thinks.
    for i in 0..3u8 {
        land_a_tag_change(&gov, 20 + i, NOW + 10 + u64::from(i));
    }
    assert_eq!(gov.head().0, 5);
    // The pending change is rebased onto the head, not stale: same change,
    // new position, the approval kept, counted against the current head.
    let listed = gov.pending().unwrap();
    assert_eq!(listed.len(), 1);
    let rebased = &listed[0];
    assert!(rebased.stale.is_none(), "{:?}", rebased.stale);
    assert_eq!(rebased.proposal_hash, proposal);
    assert_ne!(rebased.record_hash, first_hash);
    assert_eq!(rebased.record.seq, 5);
    assert_eq!(rebased.record.prev_hash, gov.head().1);
    assert_eq!(rebased.record.effective_at, NOW + 12);
    assert_eq!(
        (rebased.record.subject, rebased.record.new_hash),
        ([9; 32], [5; 32])
    );
    assert_eq!((rebased.have, rebased.need), (1, 2));
    assert_eq!(rebased.signed_by, vec![key(1).key_id()]);
    // The old record hash no longer names it; the proposal hash does.
    let late = key(3).sign(&first_hash);
    assert!(matches!(
        gov.approve(&first_hash, late.key_id, &late.sig),
        Err(GovError::NotPending(_))
    ));
    let done = approve_proposal(&gov, &proposal, &key(3));
    assert!(
        matches!(done, Submitted::Applied { seq: 5, .. }),
        "{done:?}"
    );
    assert!(gov.pending().unwrap().is_empty());
    assert_eq!(
        gov.bound(RecordType::BindKeyPolicy, &[9; 32]),
        Some([5; 32])
    );
    let records = read_all(sink.as_ref()).unwrap();
    // The approvals, and the server's signature over the new position.
    let applied = Record::parse(&records[5]).unwrap();
    let mut algs: Vec<(u32, u8)> = applied
        .signatures
        .iter()
        .map(|s| (s.key_id, s.alg))
        .collect();
    algs.sort_unstable();
    let mut wanted = vec![
        (key(1).key_id(), ALG_ED25519_APPROVAL),
        (key(3).key_id(), ALG_ED25519_APPROVAL),
        (server().key_id(), ALG_ED25519),
    ];
    wanted.sort_unstable();
    assert_eq!(algs, wanted);
    // Approvals alone do not sign the position: without the server's
    // signature the record is refused.
    let mut unsealed = applied.clone();
    unsealed
        .signatures
        .retain(|s| s.alg == ALG_ED25519_APPROVAL);
    let mut chain = Chain::new(Some(scope_id(SCOPE)), &[server().public_key()]);
    for r in &records[..5] {
        chain.apply(r).unwrap();
    }
    assert_eq!(
        chain.apply(&unsealed.encode().unwrap()),
        Err(ChainError::Unsealed)
    );
    verify_chain(&records, &[server().public_key()], None).unwrap();
}

#[test]
fn signatures_over_the_record_hash_and_approvals_count_together() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = governed_by_admins(&sink);
    let hash = pending_hash(&gov.submit(bind(9, [5; 32]), NOW).unwrap());
    let proposal = pending_info(&gov, &hash).proposal_hash;
    // The same key over both hashes counts once.
    approve(&gov, &hash, &key(1));
    assert!(matches!(
        approve_proposal(&gov, &proposal, &key(1)),
        Submitted::Pending { have: 1, .. }
    ));
    // An approval by a key outside the set, or a forged one, is refused.
    let outsider = key(9).approve(&proposal);
    assert!(matches!(
        gov.approve(&proposal, outsider.key_id, &outsider.sig),
        Err(GovError::Rejected(ChainError::UnknownSigner(_)))
    ));
    assert!(matches!(
        gov.approve(&proposal, key(2).key_id(), &outsider.sig),
        Err(GovError::Rejected(ChainError::BadSignature(_)))
    ));
    assert!(matches!(
        approve_proposal(&gov, &proposal, &key(2)),
        Submitted::Applied { seq: 2, record_hash } if record_hash == hash
    ));
    let records = read_all(sink.as_ref()).unwrap();
    let mut algs: Vec<(u32, u8)> = Record::parse(&records[2])
        .unwrap()
        .signatures
        .iter()
        .map(|s| (s.key_id, s.alg))
        .collect();
    algs.sort_unstable();
    let mut wanted = vec![
        (key(1).key_id(), ALG_ED25519),
        (key(2).key_id(), ALG_ED25519_APPROVAL),
    ];
    wanted.sort_unstable();
    assert_eq!(algs, wanted);
    verify_chain(&records, &[server().public_key()], None).unwrap();
}

#[test]
fn a_pending_change_whose_subject_changed_meanwhile_is_stale() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = governed_by_admins(&sink);
    let first = pending_hash(&gov.submit(bind(1, [1; 32]), NOW).unwrap());
    let proposal = pending_info(&gov, &first).proposal_hash;
    approve_proposal(&gov, &proposal, &key(1));
    // Another change of the same subject lands first.
    let second = pending_hash(&gov.submit(bind(1, [2; 32]), NOW + 1).unwrap());
    approve(&gov, &second, &key(1));
    assert!(matches!(
        approve(&gov, &second, &key(2)),
        Submitted::Applied { .. }
    ));
    // Rebasing cannot help: the first expects the subject unbound.
    let listed = gov.pending().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].record_hash, first);
    assert!(listed[0].stale.is_some());
    let late = key(2).approve(&proposal);
    let err = gov.approve(&proposal, late.key_id, &late.sig).unwrap_err();
    assert!(matches!(err, GovError::Stale(_)), "{err}");
    assert!(gov.pending().unwrap().is_empty());
    assert_eq!(
        gov.bound(RecordType::BindKeyPolicy, &[1; 32]),
        Some([2; 32])
    );
}

#[test]
fn replayed_approvals_are_refused() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = governed_by_admins(&sink);
    let hash = pending_hash(&gov.submit(bind(1, [1; 32]), NOW).unwrap());
    let info = pending_info(&gov, &hash);
    let proposal = info.proposal_hash;
    let (a, b) = (key(1).approve(&proposal), key(2).approve(&proposal));
    gov.approve(&proposal, a.key_id, &a.sig).unwrap();
    assert!(matches!(
        gov.approve(&proposal, b.key_id, &b.sig).unwrap(),
        Submitted::Applied { seq: 2, .. }
    ));
    // The subject goes back to unbound ...
    let back = pending_hash(&gov.submit(bind(1, [0; 32]), NOW + 1).unwrap());
    approve(&gov, &back, &key(1));
    approve(&gov, &back, &key(3));
    assert_eq!(
        gov.bound(RecordType::BindKeyPolicy, &[1; 32]),
        Some([0; 32])
    );
    // ... so the first change's compare-and-swap holds again (A-B-A), but
    // its approvals cannot be replayed on a new record at the head.
    let (size, head) = gov.head();
    let mut replay = Record {
        seq: size,
        prev_hash: head,
        effective_at: NOW + 2,
        signatures: vec![a, b],
        ..info.record
    };
    let seal = server().sign(&replay.hash().unwrap());
    replay.signatures.push(seal);
    assert_eq!(replay.proposal_hash().unwrap(), proposal);
    let bytes = replay.encode().unwrap();
    let mut chain = gov.chain();
    assert!(chain.proposal_applied(&proposal));
    assert_eq!(chain.apply(&bytes), Err(ChainError::Replayed(proposal)));
    let mut records = read_all(sink.as_ref()).unwrap();
    records.push(bytes.clone());
    let failure = verify_chain(&records, &[server().public_key()], None).unwrap_err();
    assert_eq!(failure.seq, size);
    assert!(failure.reason.contains("already carried out"), "{failure}");
    let err = gov.submit_signed(&bytes).unwrap_err();
    assert!(
        matches!(err, GovError::Stale(ChainError::Replayed(_))),
        "{err}"
    );
    assert_eq!(gov.head(), (size, head));

    // The same change proposed again (a zero justification gets a fresh
    // random one) is a new proposal and can be approved.
    let again = Change {
        justification: [0; 32],
        ..bind(1, [1; 32])
    };
    let first = pending_hash(&gov.submit(again.clone(), NOW + 3).unwrap());
    let second = pending_hash(&gov.submit(again, NOW + 3).unwrap());
    let (one, two) = (pending_info(&gov, &first), pending_info(&gov, &second));
    assert_ne!(one.record.justification, [0; 32]);
    assert_ne!(one.record.justification, two.record.justification);
    assert_ne!(one.proposal_hash, proposal);
    approve_proposal(&gov, &one.proposal_hash, &key(1));
    assert!(matches!(
        approve_proposal(&gov, &one.proposal_hash, &key(2)),
        Submitted::Applied { .. }
    ));
    assert_eq!(
        gov.bound(RecordType::BindKeyPolicy, &[1; 32]),
        Some([1; 32])
    );
    verify_chain(
        &read_all(sink.as_ref()).unwrap(),
        &[server().public_key()],
        None,
    )
    .unwrap();
}

/// A chain with every kind of record the tests use: genesis, a hand-over
/// to three admins, a publish, a two-signature binding, a tag change.
fn sample_chain() -> (Arc<MemoryGovernanceSink>, Vec<Vec<u8>>) {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = open(&sink);
    gov.publish(PolicyKind::KeyPolicy, DOC.as_bytes(), NOW)
        .unwrap();
    let hash = pending_hash(&gov.submit(set_change(&admins()), NOW + 1).unwrap());
    approve(&gov, &hash, &key(1));
    approve(&gov, &hash, &key(2));
    let hash = pending_hash(
        &gov.submit(bind(1, policy_id(DOC.as_bytes())), NOW + 2)
            .unwrap(),
    );
    // One signature over the record hash, one approval over the proposal.
    let proposal = pending_info(&gov, &hash).proposal_hash;
    approve(&gov, &hash, &key(2));
    approve_proposal(&gov, &proposal, &key(3));
    let tag = Change {
        kind: RecordType::TagChange,
        payload: b"Project=blue".to_vec(),
        ..bind(1, [3; 32])
    };
    let hash = pending_hash(&gov.submit(tag, NOW + 3).unwrap());
    let proposal = pending_info(&gov, &hash).proposal_hash;
    approve_proposal(&gov, &proposal, &key(1));
    let records = read_all(sink.as_ref()).unwrap();
    assert_eq!(records.len(), 5);
    (sink, records)
}

#[test]
fn flipping_any_byte_of_any_record_is_detected_and_named() {
    let (_, records) = sample_chain();
    let pins = [server().public_key()];
    verify_chain(&records, &pins, None).unwrap();
    let mut checked = 0;
    for i in 0..records.len() {
        for j in 0..records[i].len() {
            let mut tampered = records.clone();
            tampered[i][j] ^= 0xff;
            let failure = verify_chain(&tampered, &pins, None)
                .err()
                .unwrap_or_else(|| panic!("flipping byte {j} of record {i} went unnoticed"));
            assert_eq!(failure.seq, i as u64, "byte {j} of record {i}: {failure}");
            assert!(failure.to_string().starts_with(&format!("record {i}: ")));
            checked += 1;
        }
    }
    assert!(checked > 1500, "{checked}");
}

#[test]
fn a_tampered_sink_is_refused_on_open() {
    let (sink, records) = sample_chain();
    let mut bad = records[3].clone();
    bad[100] ^= 1;
    sink.overwrite(3, bad);
    let err = Governance::open(sink.clone(), &SERVER_SEED, SCOPE, NOW).unwrap_err();
    assert!(matches!(err, GovError::Corrupt { seq: 3, .. }), "{err}");
    // Another scope's server does not accept this chain either.
    sink.overwrite(3, records[3].clone());
    let err = Governance::open(sink, &SERVER_SEED, "other", NOW).unwrap_err();
    assert!(matches!(err, GovError::Corrupt { seq: 0, .. }), "{err}");
}

#[test]
fn the_genesis_must_be_signed_by_a_pinned_key() {
    let (_, records) = sample_chain();
    let failure = verify_chain(&records, &[key(1).public_key()], None).unwrap_err();
    assert_eq!(failure.seq, 0);
    assert!(failure.reason.contains("pinned"), "{failure}");
    assert!(verify_chain(&records, &[], None).is_err());
}

#[test]
fn truncation_after_a_pinned_head_is_detected() {
    let (_, records) = sample_chain();
    let pins = [server().public_key()];
    let full = verify_chain(&records, &pins, None).unwrap();
    let head = (full.records - 1, full.head);
    verify_chain(&records, &pins, Some(head)).unwrap();
    // An earlier head is fine: the chain extends it.
    let early = verify_chain(&records[..2], &pins, None).unwrap();
    verify_chain(&records, &pins, Some((1, early.head))).unwrap();
    // Without the pinned head a shorter chain looks valid ...
    verify_chain(&records[..3], &pins, None).unwrap();
    // ... with it, it is named as truncated.
    let failure = verify_chain(&records[..3], &pins, Some(head)).unwrap_err();
    assert_eq!(failure.seq, 4);
    assert!(failure.reason.contains("truncated"), "{failure}");
    // A different history at the pinned seq is named too.
    let failure = verify_chain(&records, &pins, Some((4, [0; 32]))).unwrap_err();
    assert_eq!(failure.seq, 4);
    assert!(failure.reason.contains("rewritten"), "{failure}");
}

#[test]
fn backdated_records_are_refused() {
    let sink = Arc::new(MemoryGovernanceSink::new());
    let gov = open(&sink);
    let mut chain = gov.chain();
    let mut r = Record {
        record_type: RecordType::KeyCreate,
        seq: 1,
        scope_id: scope_id(SCOPE),
        prev_hash: chain.head_hash(),
        effective_at: NOW - 1,
        subject: [1; 32],
        new_hash: [1; 32],
        expected_old: [0; 32],
        justification: [0; 32],
        payload: Vec::new(),
        signatures: Vec::new(),
    };
    r.signatures.push(server().sign(&r.hash().unwrap()));
    assert_eq!(
        chain.apply(&r.encode().unwrap()),
        Err(ChainError::Backdated {
            previous: NOW,
            got: NOW - 1
        })
    );
    // The handle never backdates: a clock behind the chain gives the
    // previous record's time.
    gov.submit(bind(1, [1; 32]), NOW - 100).unwrap();
    let last = read_all(sink.as_ref()).unwrap().pop().unwrap();
    assert_eq!(Record::parse(&last).unwrap().effective_at, NOW);
}

#[test]
fn memory_sink_conforms() {
    conformance::run(&MemoryGovernanceSink::new()).unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A sink that runs `before_write` once, just before the first write of a
/// pending record: another server's approval landing between this
/// server's read of the record and its write.
struct RacingSink {
    inner: Arc<MemoryGovernanceSink>,
    before_write: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for RacingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RacingSink")
    }
}

impl RacingSink {
    fn race(&self) {
        let hook = self.before_write.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
    }
}

impl GovernanceSink for RacingSink {
    fn append(&self, seq: u64, record: &[u8]) -> Result<(), StoreError> {
        self.inner.append(seq, record)
    }
    fn read(&self, from: u64, max: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner.read(from, max)
    }
    fn size(&self) -> Result<u64, StoreError> {
        self.inner.size()
    }
    fn put_pending(&self, record_hash: &[u8; 32], record: &[u8]) -> Result<(), StoreError> {
        self.race();
        self.inner.put_pending(record_hash, record)
    }
    fn swap_pending(
        &self,
        record_hash: &[u8; 32],
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<(), StoreError> {
        self.race();
        self.inner.swap_pending(record_hash, expected, record)
    }
    fn pending(&self) -> Result<Vec<([u8; 32], Vec<u8>)>, StoreError> {
        self.inner.pending()
    }
    fn remove_pending(&self, record_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.inner.remove_pending(record_hash)
    }
}

#[test]
fn approvals_given_at_once_on_two_servers_both_count() {
    let shared = Arc::new(MemoryGovernanceSink::new());
    let first = governed_by_admins(&shared);
    let hash = pending_hash(&first.submit(bind(9, [5; 32]), NOW).unwrap());
    // Server b reads the pending record (no approvals yet); before it
    // writes its administrator's approval back, server a stores another.
    let racing = Arc::new(RacingSink {
        inner: shared.clone(),
        before_write: std::sync::Mutex::new(None),
    });
    let b = Governance::open(racing.clone(), &SERVER_SEED, SCOPE, NOW).unwrap();
    let a = open(&shared);
    *racing.before_write.lock().unwrap() = Some(Box::new(move || {
        assert!(matches!(
            approve(&a, &hash, &key(2)),
            Submitted::Pending { have: 1, .. }
        ));
    }));
    // b finds the record changed, reads it again with a's approval, and
    // its own completes the quorum.
    let done = approve(&b, &hash, &key(1));
    assert!(
        matches!(done, Submitted::Applied { record_hash, .. } if record_hash == hash),
        "{done:?}"
    );
    assert!(
        racing.before_write.lock().unwrap().is_none(),
        "the race ran"
    );
    assert_eq!(first.bound(RecordType::BindKeyPolicy, &[9; 32]), None);
    assert_eq!(b.bound(RecordType::BindKeyPolicy, &[9; 32]), Some([5; 32]));
    assert!(b.pending().unwrap().is_empty());
    let records = read_all(shared.as_ref()).unwrap();
    verify_chain(&records, &[server().public_key()], None).unwrap();
}
