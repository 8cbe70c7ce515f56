//! Governance through the service: data-use policies bound into
//! ciphertexts and checked on Decrypt, use receipts completed with the
//! audit position, governance records for every change of governed state,
//! and a key-policy change that waits for two of three administrators.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;

use kmsgov_authz::{Environment, Operation, Scenario};
use kmsgov_core::audit::{checkpoint_signer, AuditLog, AuditOperation, AuditSink, MemoryAuditSink};
use kmsgov_core::ciphertext;
use kmsgov_core::governance::{
    read_all, verify_chain, Change, Governance, GovernanceKey, MemoryGovernanceSink, RecordType,
    SignerSet, Submitted,
};
use kmsgov_core::receipt::{self, PublicKeyText, ReceiptIssuer, UseCheck};
use kmsgov_core::root_key::RootKey;
use kmsgov_core::service::governed::Governed;
use kmsgov_core::store::{MemoryStore, Store};
use kmsgov_core::{Config, ErrorKind, Kms, KmsError, ManualClock, Output, Request};
use kmsgov_policy::Caller;
use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";
const START: i64 = 1_767_225_600;

const WORLD: &str = r#"{
  "accounts": {"111122223333": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:user/admin", "policies": [
      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:*", "kmsgov:*"], "Resource": "*"}]}]},
    {"arn": "arn:aws:iam::111122223333:user/alice", "policies": [
      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"], "Resource": "*"}]}]},
    {"arn": "arn:aws:iam::111122223333:user/bob"}
  ],
  "tests": []
}"#;

const POLICY: &str = r#"{"Version": "kmsgov-data-use/1", "Purposes": ["fraud-scoring", "chargeback-review"],
  "Audiences": ["svc:scoring", "svc:archive"], "MaxReceiptSeconds": 600, "ReshareDepth": 1}"#;

struct Service {
    kms: Kms,
    sink: Arc<MemoryGovernanceSink>,
    audit: Arc<MemoryAuditSink>,
    receipt_key: PublicKeyText,
    server_key: [u8; 32],
    store: Arc<dyn Store>,
    root: [u8; 32],
}

fn service() -> Service {
    on(
        Arc::new(MemoryStore::new()),
        RootKey::generate().unwrap(),
        Arc::new(MemoryGovernanceSink::new()),
        true,
    )
}

/// A service on `store` with the governance records in `sink` (or none).
fn on(
    store: Arc<dyn Store>,
    root: RootKey,
    sink: Arc<MemoryGovernanceSink>,
    governed: bool,
) -> Service {
    let root_bytes = *root.expose_bytes();
    let server_seed = *root.derive("kmsgov/governance/server-key").unwrap();
    let issuer = ReceiptIssuer::from_root_key(&root).unwrap();
    let receipt_key = issuer.public_key();
    let signer = checkpoint_signer(&root, "us-east-1").unwrap();
    let audit = Arc::new(MemoryAuditSink::new());
    let records = Governance::open(sink.clone(), &server_seed, "us-east-1", START as u64).unwrap();
    let server_key = records.server_public_key();
    let kms = Kms::open(Config {
        region: "us-east-1".into(),
        store: Arc::clone(&store),
        root_key: root,
        clock: Arc::new(ManualClock::at(START)),
        directory: Scenario::parse(WORLD).unwrap().world,
    })
    .unwrap()
    .with_audit(AuditLog::open(audit.clone(), signer).unwrap())
    .unwrap();
    let kms = if governed {
        kms.with_governance(Governed::new(Arc::new(records), issuer))
    } else {
        kms
    };
    Service {
        kms,
        sink,
        audit,
        receipt_key,
        server_key,
        store,
        root: root_bytes,
    }
}

impl Service {
    /// Another service on the same store and governance records (another
    /// server on the same database).
    fn beside(&self, governed: bool) -> Service {
        on(
            Arc::clone(&self.store),
            RootKey::from_bytes(&self.root).unwrap(),
            Arc::clone(&self.sink),
            governed,
        )
    }
}

fn caller(who: &str) -> Caller {
    Caller::parse(&format!("arn:aws:iam::{ACCOUNT}:user/{who}")).unwrap()
}

impl Service {
    fn call(&self, who: &str, op: &str, input: Value) -> Result<Output, KmsError> {
        let caller = caller(who);
        let env = Environment::new();
        self.kms
            .execute(
                &Request {
                    caller: &caller,
                    operation: Operation::from_name(op).unwrap(),
                    input: &input,
                    env: &env,
                },
                kmsgov_authz::Trace::Off,
            )
            .result
    }

    fn ok(&self, who: &str, op: &str, input: Value) -> Value {
        match self.call(who, op, input) {
            Ok(out) => out.value().clone(),
            Err(e) => panic!("{op} as {who}: {e}"),
        }
    }

    fn refused(&self, who: &str, op: &str, input: Value, kind: ErrorKind) -> KmsError {
        match self.call(who, op, input) {
            Ok(out) => panic!("{op} as {who} succeeded: {}", out.value()),
            Err(e) => {
                assert_eq!(e.kind, kind, "{op} as {who}: {e}");
                e
            }
        }
    }

    fn gov(&self, who: &str, op: AuditOperation, input: Value) -> Result<Value, KmsError> {
        let env = Environment::new();
        self.kms
            .execute_audit_operation(&caller(who), op, &input, &env, [0; 16])
            .wait()
            .result
            .map(|o| o.value().clone())
    }

    fn publish(&self, policy: &str) -> String {
        let out = self
            .gov(
                "admin",
                AuditOperation::PublishPolicy,
                json!({"Policy": policy}),
            )
            .unwrap();
        out["PolicyId"].as_str().unwrap().to_owned()
    }

    fn key(&self) -> String {
        self.ok("admin", "CreateKey", json!({}))["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn records(&self) -> Vec<kmsgov_core::governance::Record> {
        read_all(self.sink.as_ref())
            .unwrap()
            .iter()
            .map(|b| kmsgov_core::governance::Record::parse(b).unwrap())
            .collect()
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(v: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

#[test]
fn a_bound_ciphertext_opens_only_for_an_allowed_use_and_carries_a_receipt() {
    let s = service();
    let policy = s.publish(POLICY);
    let key = s.key();
    let context = json!({"kmsgov:policy": policy, "order": "7"});
    let blob = s.ok(
        "alice",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"card 4111"), "EncryptionContext": context}),
    )["CiphertextBlob"]
        .clone();
    // The header commits to the policy.
    let bytes = unb64(&blob);
    let header = ciphertext::parse(&bytes).unwrap();
    let fields = header.governance().unwrap();
    assert_eq!(kmsgov_core::data_use::id_hex(&fields.policy_id), policy);

    // No purpose, a purpose or an audience outside the policy: refused.
    for (purpose, audience) in [
        (None, None),
        (Some("marketing"), None),
        (Some("fraud-scoring"), Some("svc:ads")),
    ] {
        let mut input = json!({"CiphertextBlob": blob, "EncryptionContext": context});
        if let Some(p) = purpose {
            input["Purpose"] = json!(p);
        }
        if let Some(a) = audience {
            input["Audience"] = json!(a);
        }
        let e = s.refused("alice", "Decrypt", input, ErrorKind::AccessDeniedException);
        assert!(e.message.contains(&policy), "{e}");
    }

    // An allowed use: the plaintext, with a receipt that verifies offline.
    let out = s.ok(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": context,
               "Purpose": "fraud-scoring", "Audience": "svc:scoring"}),
    );
    assert_eq!(unb64(&out["Plaintext"]), b"card 4111");
    let token = out["UseReceipt"].as_str().unwrap();
    let salt: [u8; 32] = unb64(&out["UseReceiptSalt"]).try_into().unwrap();
    let verified = receipt::verify(
        token,
        &s.receipt_key,
        &UseCheck {
            now_unix: START,
            purpose: "fraud-scoring".into(),
            audience: "svc:scoring".into(),
            hop: 0,
            plaintext: Some((salt, b"card 4111")),
        },
    )
    .unwrap();
    let claims = &verified.claims;
    assert_eq!(claims.key_id, key);
    assert_eq!(kmsgov_core::data_use::id_hex(&claims.data_policy), policy);
    assert_eq!(claims.purposes, ["fraud-scoring"]);
    assert_eq!(claims.audiences, ["svc:scoring"]);
    assert_eq!(claims.expires_unix, START + 600);
    assert_eq!(claims.ciphertext, header.hash(&bytes));
    // The receipt names the Decrypt's own audit entry, which records the
    // ciphertext, the policy and the key version.
    let entries = s
        .audit
        .as_ref()
        .read(claims.audit_index, claims.audit_index + 1)
        .unwrap();
    let leaf = kmsgov_core::audit::Leaf::decode(&entries[0].leaf).unwrap();
    assert_eq!(leaf.op, 2, "the entry is a Decrypt");
    assert_eq!(leaf.ct_header_hash, header.hash(&bytes));
    assert_eq!(leaf.policy_hash, fields.policy_id);
    assert_eq!(leaf.key_version, 1);
    assert_ne!(leaf.receipt_ref, [0; 32]);
    // Another purpose than the receipt's is refused offline.
    assert!(receipt::verify(
        token,
        &s.receipt_key,
        &UseCheck {
            now_unix: START,
            purpose: "chargeback-review".into(),
            audience: "svc:scoring".into(),
            hop: 0,
            plaintext: None,
        },
    )
    .is_err());

    // Removing the binding from the context fails the key commitment.
    s.refused(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": {"order": "7"}, "Purpose": "fraud-scoring"}),
        ErrorKind::InvalidCiphertextException,
    );
    // So does a header that names another policy.
    let other = s.publish(&POLICY.replace("chargeback-review", "audit"));
    let mut swapped = bytes.clone();
    let at = bytes
        .windows(32)
        .position(|w| w == fields.policy_id)
        .unwrap();
    swapped[at..at + 32].copy_from_slice(&kmsgov_core::data_use::parse_id(&other).unwrap());
    let mut swapped_context = context.clone();
    swapped_context["kmsgov:policy"] = json!(other);
    s.refused(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": b64(&swapped), "EncryptionContext": swapped_context, "Purpose": "fraud-scoring"}),
        ErrorKind::InvalidCiphertextException,
    );
}

#[test]
fn a_key_default_binds_and_reencrypt_may_only_narrow() {
    let s = service();
    let wide = s.publish(POLICY);
    let narrow = s.publish(
        r#"{"Version": "kmsgov-data-use/1", "Purposes": ["fraud-scoring"], "Audiences": ["svc:scoring"], "MaxReceiptSeconds": 60}"#,
    );
    let key = s.key();
    let set = s
        .gov(
            "admin",
            AuditOperation::SetKeyDataPolicy,
            json!({"KeyId": key, "PolicyId": wide}),
        )
        .unwrap();
    assert_eq!(set["Status"], "Applied");
    // alice may not bind policies: kmsgov:* is not hers.
    let e = s
        .gov(
            "alice",
            AuditOperation::SetKeyDataPolicy,
            json!({"KeyId": key, "PolicyId": narrow}),
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDeniedException);

    let blob = s.ok(
        "alice",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x")}),
    )["CiphertextBlob"]
        .clone();
    let header = ciphertext::parse(&unb64(&blob))
        .unwrap()
        .governance()
        .cloned()
        .unwrap();
    assert_eq!(kmsgov_core::data_use::id_hex(&header.policy_id), wide);
    s.refused(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": blob}),
        ErrorKind::AccessDeniedException,
    );

    // ReEncrypt keeps the binding, or narrows it; never loosens it.
    let other = s.key();
    let kept = s.ok(
        "alice",
        "ReEncrypt",
        json!({"CiphertextBlob": blob, "DestinationKeyId": other}),
    )["CiphertextBlob"]
        .clone();
    let kept_fields = ciphertext::parse(&unb64(&kept))
        .unwrap()
        .governance()
        .cloned()
        .unwrap();
    assert_eq!(kept_fields.policy_id, header.policy_id);
    let narrowed = s.ok(
        "alice",
        "ReEncrypt",
        json!({"CiphertextBlob": blob, "DestinationKeyId": other,
               "DestinationEncryptionContext": {"kmsgov:policy": narrow}}),
    )["CiphertextBlob"]
        .clone();
    s.refused(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": narrowed, "EncryptionContext": {"kmsgov:policy": narrow},
               "Purpose": "chargeback-review"}),
        ErrorKind::AccessDeniedException,
    );
    let out = s.ok(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": narrowed, "EncryptionContext": {"kmsgov:policy": narrow},
               "Purpose": "fraud-scoring"}),
    );
    assert_eq!(unb64(&out["Plaintext"]), b"x");
    // Back from the narrow policy to the wide one: refused.
    s.refused(
        "alice",
        "ReEncrypt",
        json!({"CiphertextBlob": narrowed, "SourceEncryptionContext": {"kmsgov:policy": narrow},
               "DestinationKeyId": other, "DestinationEncryptionContext": {"kmsgov:policy": wide}}),
        ErrorKind::AccessDeniedException,
    );

    // A data key under the bound key comes with a receipt.
    let data_key = s.ok(
        "alice",
        "GenerateDataKey",
        json!({"KeyId": key, "KeySpec": "AES_256", "Purpose": "fraud-scoring"}),
    );
    assert!(data_key["UseReceipt"].is_string());
    let none = s.ok(
        "alice",
        "GenerateDataKeyWithoutPlaintext",
        json!({"KeyId": key, "KeySpec": "AES_256"}),
    );
    assert!(none.get("UseReceipt").is_none());
}

#[test]
fn every_change_of_governed_state_is_a_signed_record() {
    let s = service();
    let key = s.key();
    let arn = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}");
    s.ok(
        "admin",
        "CreateAlias",
        json!({"AliasName": "alias/orders", "TargetKeyId": key}),
    );
    s.ok(
        "admin",
        "TagResource",
        json!({"KeyId": key, "Tags": [{"TagKey": "team", "TagValue": "a"}]}),
    );
    let grant = s.ok(
        "admin",
        "CreateGrant",
        json!({"KeyId": key, "GranteePrincipal": format!("arn:aws:iam::{ACCOUNT}:user/bob"),
               "Operations": ["Decrypt"]}),
    )["GrantId"]
        .as_str()
        .unwrap()
        .to_owned();
    s.ok(
        "admin",
        "RevokeGrant",
        json!({"KeyId": key, "GrantId": grant}),
    );
    s.ok("admin", "DisableKey", json!({"KeyId": key}));
    s.ok("admin", "EnableKey", json!({"KeyId": key}));
    s.ok("admin", "RotateKeyOnDemand", json!({"KeyId": key}));
    let records = s.records();
    let types: Vec<RecordType> = records.iter().map(|r| r.record_type).collect();
    let named = |t: RecordType| {
        records
            .iter()
            .filter(|r| r.record_type == t)
            .filter(|r| r.payload == arn.as_bytes() || t == RecordType::PolicyPublish)
            .count()
    };
    assert_eq!(types[0], RecordType::SignerSetChange, "genesis");
    assert_eq!(named(RecordType::KeyCreate), 1);
    assert_eq!(named(RecordType::BindKeyPolicy), 1);
    assert_eq!(named(RecordType::PolicyPublish), 1);
    // Disabled, then enabled again.
    assert_eq!(named(RecordType::KeyStateChange), 3);
    // One version at creation, two after the rotation.
    assert_eq!(named(RecordType::KeyRotate), 2);
    // No tags, then one.
    assert_eq!(named(RecordType::TagChange), 2);
    let alias_records: Vec<_> = records
        .iter()
        .filter(|r| r.record_type == RecordType::AliasChange)
        .collect();
    assert_eq!(alias_records.len(), 1);
    assert_eq!(
        alias_records[0].payload,
        format!("arn:aws:kms:us-east-1:{ACCOUNT}:alias/orders").as_bytes()
    );
    let grant_records: Vec<_> = records
        .iter()
        .filter(|r| r.record_type == RecordType::GrantChange)
        .collect();
    assert_eq!(grant_records.len(), 2, "created, then revoked");
    assert_eq!(grant_records[1].new_hash, [0; 32]);
    assert_eq!(grant_records[1].expected_old, grant_records[0].new_hash);
    // The whole chain verifies against the server's key, pinned.
    let bytes = read_all(s.sink.as_ref()).unwrap();
    verify_chain(&bytes, &[s.server_key], None).unwrap();
    // A refused change writes nothing.
    let before = s.records().len();
    s.refused(
        "bob",
        "DisableKey",
        json!({"KeyId": key}),
        ErrorKind::AccessDeniedException,
    );
    assert_eq!(s.records().len(), before);
}

#[test]
fn a_key_policy_change_waits_for_two_of_three_administrators() {
    let s = service();
    let key = s.key();
    let admins: Vec<GovernanceKey> = (1..=3u8)
        .map(|n| GovernanceKey::from_seed(&[n; 32]).unwrap())
        .collect();
    // The server and three administrators; a key-policy change and a
    // signer-set change need three signatures: the server's and two
    // administrators'. Everything else, one.
    let mut members = vec![s.server_key];
    members.extend(admins.iter().map(GovernanceKey::public_key));
    let set = SignerSet::new(
        &members,
        1,
        &[
            (RecordType::BindKeyPolicy, 3),
            (RecordType::SignerSetChange, 3),
        ],
    )
    .unwrap();
    let governance = s.kms.governance().unwrap().records().clone();
    let handed = governance
        .submit(
            Change {
                kind: RecordType::SignerSetChange,
                subject: [0; 32],
                new_hash: set.id(),
                payload: set.encode(),
                justification: [0; 32],
            },
            START as u64,
        )
        .unwrap();
    // The old set (the server alone) suffices for the old quorum; the new
    // one wants two administrators too.
    let Submitted::Pending { record_hash, .. } = handed else {
        panic!("the hand-over applied without the administrators: {handed:?}")
    };
    for admin in &admins[..2] {
        let sig = admin.sign(&record_hash);
        s.gov(
            "admin",
            AuditOperation::ApproveChange,
            json!({"RecordHash": kmsgov_core::data_use::id_hex(&record_hash),
                   "SignerKeyId": sig.key_id, "Signature": b64(&sig.sig)}),
        )
        .unwrap();
    }
    assert!(s
        .gov("admin", AuditOperation::ListPendingChanges, json!({}))
        .unwrap()["Pending"]
        .as_array()
        .unwrap()
        .is_empty());

    // PutKeyPolicy now waits: the key keeps its policy.
    let before = s.ok("admin", "GetKeyPolicy", json!({"KeyId": key}))["Policy"]
        .as_str()
        .unwrap()
        .to_owned();
    let open_to_bob = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/bob")}, "Action": "kms:Encrypt", "Resource": "*"}]})
    .to_string();
    let e = s.refused(
        "admin",
        "PutKeyPolicy",
        json!({"KeyId": key, "PolicyName": "default", "Policy": open_to_bob}),
        ErrorKind::ConflictException,
    );
    assert!(
        e.message.contains("needs") || e.message.contains("signatures"),
        "{e}"
    );
    assert_eq!(
        s.ok("admin", "GetKeyPolicy", json!({"KeyId": key}))["Policy"],
        before
    );
    s.refused(
        "bob",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x")}),
        ErrorKind::AccessDeniedException,
    );
    let pending = s
        .gov("admin", AuditOperation::ListPendingChanges, json!({}))
        .unwrap()["Pending"][0]
        .clone();
    assert_eq!(pending["Type"], "BindKeyPolicy");
    assert_eq!(
        (pending["Signatures"].as_u64(), pending["Required"].as_u64()),
        (Some(1), Some(3))
    );
    let record_hash = pending["RecordHash"].as_str().unwrap().to_owned();
    let proposal = pending["ProposalHash"].as_str().unwrap().to_owned();
    let proposal_bytes = kmsgov_core::data_use::parse_id(&proposal).unwrap();

    // Another key is created meanwhile: records land in the chain, and the
    // pending change is rebased onto them rather than going stale.
    let (size_before, _) = governance.head();
    s.key();
    assert!(governance.head().0 > size_before);
    // (The new key's own default policy binding waits for approval too.)
    let pending = s
        .gov("admin", AuditOperation::ListPendingChanges, json!({}))
        .unwrap()["Pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ProposalHash"] == proposal.as_str())
        .unwrap()
        .clone();
    assert_ne!(pending["RecordHash"], record_hash.as_str());
    assert_eq!(pending["Sequence"], governance.head().0);
    assert!(pending["Stale"].is_null(), "{pending}");
    assert_eq!(pending["Signatures"], 1);

    // One administrator, twice: still pending. A key outside the set:
    // refused. The administrators approve the proposal hash, which
    // survives rebasing.
    let approve = |signer: &GovernanceKey| {
        let sig = signer.approve(&proposal_bytes);
        s.gov(
            "admin",
            AuditOperation::ApproveChange,
            json!({"ProposalHash": proposal, "SignerKeyId": sig.key_id, "Signature": b64(&sig.sig)}),
        )
    };
    assert_eq!(approve(&admins[0]).unwrap()["Status"], "Pending");
    assert_eq!(approve(&admins[0]).unwrap()["Signatures"], 2);
    let outsider = GovernanceKey::from_seed(&[9; 32]).unwrap();
    assert!(approve(&outsider).is_err());
    // More records land between the two approvals.
    s.key();
    s.refused(
        "bob",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x")}),
        ErrorKind::AccessDeniedException,
    );

    // The second administrator completes it: the policy is in force.
    assert_eq!(approve(&admins[1]).unwrap()["Status"], "Applied");
    let now: Value = serde_json::from_str(
        s.ok("admin", "GetKeyPolicy", json!({"KeyId": key}))["Policy"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let wanted: Value = serde_json::from_str(&open_to_bob).unwrap();
    assert_eq!(now, wanted);
    s.ok(
        "bob",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x")}),
    );
    let bytes = read_all(s.sink.as_ref()).unwrap();
    verify_chain(&bytes, &[s.server_key], None).unwrap();
}

#[test]
fn a_server_without_governance_refuses_a_bound_ciphertext() {
    let s = service();
    let policy = s.publish(POLICY);
    let key = s.key();
    let context = json!({"kmsgov:policy": policy});
    let blob = s.ok(
        "alice",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x"), "EncryptionContext": context}),
    )["CiphertextBlob"]
        .clone();
    let ungoverned = s.beside(false);
    let e = ungoverned.refused(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": context, "Purpose": "fraud-scoring"}),
        ErrorKind::AccessDeniedException,
    );
    assert!(e.message.contains("keeps no governance records"), "{e}");
    // Binding data to a policy is refused there too, rather than ignored.
    ungoverned.refused(
        "alice",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x"), "EncryptionContext": context}),
        ErrorKind::UnsupportedOperationException,
    );
}

#[test]
fn a_key_default_set_on_one_server_binds_on_another_after_it_catches_up() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::shared());
    let a = on(
        store,
        RootKey::generate().unwrap(),
        Arc::new(MemoryGovernanceSink::new()),
        true,
    );
    let b = a.beside(true);
    let policy = a.publish(POLICY);
    let key = a.key();
    b.kms.sync().unwrap();
    let before = b.ok(
        "alice",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x")}),
    )["CiphertextBlob"]
        .clone();
    assert!(ciphertext::parse(&unb64(&before))
        .unwrap()
        .governance()
        .is_none());
    a.gov(
        "admin",
        AuditOperation::SetKeyDataPolicy,
        json!({"KeyId": key, "PolicyId": policy}),
    )
    .unwrap();
    // B reads the binding when it next catches up (at most a second on a
    // shared store; here, at once).
    b.kms.sync().unwrap();
    let after = b.ok(
        "alice",
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x")}),
    )["CiphertextBlob"]
        .clone();
    let fields = ciphertext::parse(&unb64(&after))
        .unwrap()
        .governance()
        .cloned()
        .unwrap();
    assert_eq!(kmsgov_core::data_use::id_hex(&fields.policy_id), policy);
    // And a ciphertext bound on B opens on A for an allowed purpose.
    let out = a.ok(
        "alice",
        "Decrypt",
        json!({"CiphertextBlob": after, "Purpose": "fraud-scoring"}),
    );
    assert_eq!(unb64(&out["Plaintext"]), b"x");
}
