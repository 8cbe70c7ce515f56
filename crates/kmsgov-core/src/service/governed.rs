//! The service's view of governance: the record chain, the data-use
//! policies published in it, and the receipt key.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use aws_lc_rs::digest::{Context, SHA256};
use base64::Engine as _;
use kmsgov_policy::Caller;
use serde_json::{json, Map, Value};

use crate::audit::AuditOperation;
use crate::data_use::{id_hex, DataUsePolicy};
use crate::error::{ErrorKind, KmsError};
use crate::governance::{Change, Governance, PolicyKind, RecordType, Submitted};
use crate::receipt::ReceiptIssuer;
use crate::service::Kms;
use crate::store::{GrantRecord, KeyRecord};

/// Governance as the service uses it.
pub struct Governed {
    records: Arc<Governance>,
    issuer: ReceiptIssuer,
    policies: RwLock<HashMap<[u8; 32], Arc<DataUsePolicy>>>,
}

impl fmt::Debug for Governed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Governed").finish_non_exhaustive()
    }
}

/// The subject a governance record names for a key: SHA-256 over a label
/// and the key's ARN.
#[must_use]
pub fn key_subject(key_arn: &str) -> [u8; 32] {
    subject("key", key_arn)
}

/// The subject of a named thing of `kind` (`key`, `alias`, `grant`).
#[must_use]
pub fn subject(kind: &str, name: &str) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(b"kmsgov/subject/");
    context.update(kind.as_bytes());
    context.update(b"\0");
    context.update(name.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

impl Governed {
    /// Governance over `records`, with receipts signed by `issuer`.
    #[must_use]
    pub fn new(records: Arc<Governance>, issuer: ReceiptIssuer) -> Governed {
        Governed {
            records,
            issuer,
            policies: RwLock::new(HashMap::new()),
        }
    }

    /// The record chain.
    #[must_use]
    pub fn records(&self) -> &Arc<Governance> {
        &self.records
    }

    /// The receipt issuer.
    #[must_use]
    pub fn issuer(&self) -> &ReceiptIssuer {
        &self.issuer
    }

    /// The data-use policy bound to a key as its default.
    #[must_use]
    pub fn key_data_policy(&self, key_arn: &str) -> Option<[u8; 32]> {
        self.records
            .bound(RecordType::BindDataPolicy, &key_subject(key_arn))
            .filter(|id| *id != [0; 32])
    }

    /// A published data-use policy, by id; `None` when no such policy is
    /// published (after reading what other servers may have published).
    ///
    /// # Errors
    ///
    /// The records cannot be read.
    pub fn data_use_policy(&self, id: &[u8; 32]) -> Result<Option<Arc<DataUsePolicy>>, KmsError> {
        if let Some(p) = self.cached(id) {
            return Ok(Some(p));
        }
        let doc = match self.records.policy(id) {
            Some(doc) => Some(doc),
            None => {
                self.records
                    .refresh()
                    .map_err(|e| KmsError::internal(format!("governance records: {e}")))?;
                self.records.policy(id)
            }
        };
        let Some((kind, bytes)) = doc else {
            return Ok(None);
        };
        if kind != PolicyKind::DataUsePolicy {
            return Ok(None);
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| KmsError::internal("a published data-use policy is not UTF-8"))?;
        let policy = Arc::new(
            DataUsePolicy::parse(text)
                .map_err(|e| KmsError::internal(format!("a published data-use policy: {e}")))?,
        );
        if let Ok(mut cache) = self.policies.write() {
            cache.insert(*id, Arc::clone(&policy));
        }
        Ok(Some(policy))
    }

    fn cached(&self, id: &[u8; 32]) -> Option<Arc<DataUsePolicy>> {
        self.policies.read().ok()?.get(id).cloned()
    }

    /// The governance log's size and Merkle root.
    #[must_use]
    pub fn position(&self) -> (u64, [u8; 32]) {
        self.records.root()
    }
}

/// The digest a governance record names for a piece of governed state:
/// SHA-256 over a label and length-prefixed parts.
fn state_hash(label: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(b"kmsgov/state/");
    context.update(label.as_bytes());
    for part in parts {
        context.update(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// A key policy's id as bytes, with its canonical text: the content
/// address of `crate::canonical::policy_id` when the text is JSON (always,
/// for a stored key policy), else a hash of the text.
pub(crate) fn key_policy_id(text: &str) -> ([u8; 32], Vec<u8>) {
    let parsed = serde_json::from_str::<serde_json::Value>(text).ok();
    let canonical = parsed
        .as_ref()
        .and_then(|v| crate::canonical::canonicalize(v).ok());
    let id = parsed
        .as_ref()
        .and_then(|v| crate::canonical::policy_id(v).ok())
        .and_then(|hex| crate::data_use::parse_id(&hex));
    match (id, canonical) {
        (Some(id), Some(canonical)) => (id, canonical.into_bytes()),
        _ => (
            state_hash("policy-text", &[text.as_bytes()]),
            text.as_bytes().to_vec(),
        ),
    }
}

/// What a key's governed state is, for its records: (type, subject, value,
/// payload) for each part.
fn key_state(record: &KeyRecord, arn: &str) -> Vec<(RecordType, [u8; 32], Vec<u8>)> {
    let subject = key_subject(arn);
    let created = state_hash(
        "key",
        &[
            arn.as_bytes(),
            &record.creation_date.to_be_bytes(),
            record.key_spec.as_bytes(),
            record.key_usage.as_bytes(),
            record.origin.as_bytes(),
        ],
    );
    let deletion = record.deletion_date.unwrap_or(0).to_be_bytes();
    let state = state_hash("key-state", &[record.key_state.as_bytes(), &deletion]);
    let versions = u32::try_from(record.versions.len()).unwrap_or(u32::MAX);
    let rotated = state_hash("key-versions", &[&versions.to_be_bytes()]);
    let mut tags: Vec<&[u8]> = Vec::new();
    for (k, v) in &record.tags {
        tags.push(k.as_bytes());
        tags.push(v.as_bytes());
    }
    let tagged = state_hash("tags", &tags);
    vec![
        (RecordType::KeyCreate, subject, created.to_vec()),
        (RecordType::KeyStateChange, subject, state.to_vec()),
        (RecordType::KeyRotate, subject, rotated.to_vec()),
        (RecordType::TagChange, subject, tagged.to_vec()),
    ]
}

impl Governed {
    /// Writes governance records for whatever of `key`'s governed state
    /// (creation, key policy, state, versions, tags) differs from what the
    /// chain binds; `None` records a deleted key.
    ///
    /// # Errors
    ///
    /// A record cannot be written.
    pub(crate) fn record_key(
        &self,
        arn: &str,
        record: Option<&KeyRecord>,
        now: i64,
    ) -> Result<(), KmsError> {
        let subject = key_subject(arn);
        let now = u64::try_from(now).unwrap_or(0);
        let Some(record) = record else {
            let deleted = state_hash("key-state", &[b"Deleted"]);
            return self.bind(RecordType::KeyStateChange, subject, deleted, arn, now);
        };
        let (policy_id, canonical) = key_policy_id(&record.policy);
        if self.records.bound(RecordType::BindKeyPolicy, &subject) != Some(policy_id) {
            self.publish(PolicyKind::KeyPolicy, &canonical, now)?;
            self.bind(RecordType::BindKeyPolicy, subject, policy_id, arn, now)?;
        }
        for (kind, subject, value) in key_state(record, arn) {
            let mut new_hash = [0u8; 32];
            new_hash.copy_from_slice(&value);
            self.bind(kind, subject, new_hash, arn, now)?;
        }
        Ok(())
    }

    /// Writes the record of an alias now pointing at `key_id` (`None`:
    /// deleted), if the chain binds something else.
    ///
    /// # Errors
    ///
    /// A record cannot be written.
    pub(crate) fn record_alias(
        &self,
        alias_arn: &str,
        key_id: Option<&str>,
        now: i64,
    ) -> Result<(), KmsError> {
        let value = key_id.map_or([0; 32], |k| state_hash("alias-target", &[k.as_bytes()]));
        let now = u64::try_from(now).unwrap_or(0);
        self.bind(
            RecordType::AliasChange,
            subject("alias", alias_arn),
            value,
            alias_arn,
            now,
        )
    }

    /// Writes the record of a grant created (`Some`) or retired or revoked
    /// (`None`).
    ///
    /// # Errors
    ///
    /// A record cannot be written.
    pub(crate) fn record_grant(
        &self,
        grant_id: &str,
        grant: Option<&GrantRecord>,
        now: i64,
    ) -> Result<(), KmsError> {
        let value = grant.map_or([0; 32], |g| {
            let text = serde_json::to_string(g).unwrap_or_default();
            state_hash("grant", &[text.as_bytes()])
        });
        let now = u64::try_from(now).unwrap_or(0);
        self.bind(
            RecordType::GrantChange,
            subject("grant", grant_id),
            value,
            grant_id,
            now,
        )
    }

    fn publish(&self, kind: PolicyKind, canonical: &[u8], now: u64) -> Result<[u8; 32], KmsError> {
        self.records
            .publish(kind, canonical, now)
            .map_err(|e| KmsError::internal(format!("governance record: {e}")))
    }

    /// Binds `subject` to `value` under `kind` unless it already is; the
    /// payload names the subject in clear (an ARN or a grant id) for people
    /// reading the chain.
    fn bind(
        &self,
        kind: RecordType,
        subject: [u8; 32],
        value: [u8; 32],
        name: &str,
        now: u64,
    ) -> Result<(), KmsError> {
        if self.records.bound(kind, &subject) == Some(value)
            || (value == [0; 32] && self.records.bound(kind, &subject).is_none())
        {
            return Ok(());
        }
        let change = Change {
            kind,
            subject,
            new_hash: value,
            payload: name.as_bytes().to_vec(),
            justification: [0; 32],
        };
        match self.records.submit(change, now) {
            Ok(Submitted::Applied { .. }) => Ok(()),
            Ok(Submitted::Pending { record_hash, .. }) => {
                tracing::warn!(
                    record = %crate::data_use::id_hex(&record_hash),
                    "a governance record of a change already made waits for approval"
                );
                Ok(())
            }
            Err(e) => Err(KmsError::internal(format!("governance record: {e}"))),
        }
    }
}

impl Governed {
    /// Proposes binding `policy` to the key `arn` (PutKeyPolicy): `Ok` when
    /// the server's own signature suffices and the change may be made now;
    /// a `ConflictException` naming the pending record when the signer set
    /// wants more signatures first (the change is then made on approval).
    ///
    /// # Errors
    ///
    /// As above, or a record cannot be written.
    pub(crate) fn propose_key_policy(
        &self,
        arn: &str,
        policy: &str,
        now: i64,
    ) -> Result<(), KmsError> {
        let subject = key_subject(arn);
        let (policy_id, canonical) = key_policy_id(policy);
        if self.records.bound(RecordType::BindKeyPolicy, &subject) == Some(policy_id) {
            return Ok(());
        }
        let now = u64::try_from(now).unwrap_or(0);
        self.publish(PolicyKind::KeyPolicy, &canonical, now)?;
        let change = Change {
            kind: RecordType::BindKeyPolicy,
            subject,
            new_hash: policy_id,
            payload: arn.as_bytes().to_vec(),
            justification: [0; 32],
        };
        match self.records.submit(change, now) {
            Ok(Submitted::Applied { .. }) => Ok(()),
            Ok(Submitted::Pending {
                record_hash,
                have,
                need,
            }) => Err(KmsError::new(
                ErrorKind::ConflictException,
                format!(
                    "The key policy change is governance record {} and takes effect once it has {need} signatures of the signer set (it has {have}); approve it with KmsGov.ApproveChange.",
                    crate::data_use::id_hex(&record_hash)
                ),
            )),
            Err(e) => Err(KmsError::internal(format!("governance record: {e}"))),
        }
    }
}

fn invalid(message: impl Into<String>) -> KmsError {
    KmsError::new(ErrorKind::ValidationException, message)
}

fn hex_member(input: &Map<String, Value>, member: &str) -> Result<[u8; 32], KmsError> {
    input
        .get(member)
        .and_then(Value::as_str)
        .and_then(crate::data_use::parse_id)
        .ok_or_else(|| invalid(format!("{member} must be 64 hexadecimal digits.")))
}

fn submitted_json(submitted: &Submitted) -> Value {
    match submitted {
        Submitted::Applied { seq, record_hash } => json!({
            "Status": "Applied",
            "Sequence": seq,
            "RecordHash": id_hex(record_hash),
        }),
        Submitted::Pending {
            record_hash,
            have,
            need,
        } => json!({
            "Status": "Pending",
            "RecordHash": id_hex(record_hash),
            "Signatures": have,
            "Required": need,
        }),
    }
}

fn gov_error(e: impl std::fmt::Display) -> KmsError {
    KmsError::new(
        ErrorKind::ValidationException,
        format!("Governance record refused: {e}"),
    )
}

/// Runs an allowed governance operation for `caller`.
pub(crate) fn run_api(
    kms: &Kms,
    caller: &Caller,
    operation: AuditOperation,
    input: &Value,
) -> Result<Value, KmsError> {
    let Some(governance) = kms.governance() else {
        return Err(KmsError::new(
            ErrorKind::UnsupportedOperationException,
            "This server keeps no governance records.",
        ));
    };
    let empty = Map::new();
    let input = match input {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => return Err(invalid("The request body must be a JSON object.")),
    };
    let now = kms.clock().now();
    let now_u = u64::try_from(now).unwrap_or(0);
    let records = governance.records();
    match operation {
        AuditOperation::PublishPolicy => {
            let text = input
                .get("Policy")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("Policy must be the data-use policy's JSON text."))?;
            let policy = DataUsePolicy::parse(text)
                .map_err(|e| KmsError::new(ErrorKind::MalformedPolicyDocumentException, e.0))?;
            governance.publish(
                PolicyKind::DataUsePolicy,
                policy.canonical().as_bytes(),
                now_u,
            )?;
            let (size, root) = governance.position();
            Ok(json!({
                "PolicyId": policy.id(),
                "GovernanceSize": size,
                "GovernanceRoot": id_hex(&root),
            }))
        }
        AuditOperation::GetPolicy => {
            let id = hex_member(input, "PolicyId")?;
            let _ = records.refresh();
            let (kind, bytes) = records.policy(&id).ok_or_else(|| {
                KmsError::new(
                    ErrorKind::NotFoundException,
                    format!("Policy {} is not published.", id_hex(&id)),
                )
            })?;
            Ok(json!({
                "PolicyId": id_hex(&id),
                "Kind": format!("{kind:?}"),
                "Policy": String::from_utf8_lossy(&bytes),
            }))
        }
        AuditOperation::SetKeyDataPolicy => {
            let key_ref = input
                .get("KeyId")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("KeyId is required."))?;
            let key = kms.live_key(caller.account().unwrap_or(""), key_ref)?;
            let id = match input.get("PolicyId") {
                None | Some(Value::Null) => [0; 32],
                Some(_) => {
                    let id = hex_member(input, "PolicyId")?;
                    if governance.data_use_policy(&id)?.is_none() {
                        return Err(KmsError::new(
                            ErrorKind::NotFoundException,
                            format!("Data-use policy {} is not published.", id_hex(&id)),
                        ));
                    }
                    id
                }
            };
            let change = Change {
                kind: RecordType::BindDataPolicy,
                subject: key_subject(&key.arn),
                new_hash: id,
                payload: key.arn.as_bytes().to_vec(),
                justification: [0; 32],
            };
            let submitted = records.submit(change, now_u).map_err(gov_error)?;
            let mut out = submitted_json(&submitted);
            if let Value::Object(m) = &mut out {
                m.insert("KeyId".into(), json!(key.arn));
                m.insert(
                    "PolicyId".into(),
                    if id == [0; 32] {
                        Value::Null
                    } else {
                        json!(id_hex(&id))
                    },
                );
            }
            Ok(out)
        }
        AuditOperation::GetGovernanceHead => {
            let _ = records.refresh();
            let (size, root) = governance.position();
            let (_, head) = records.head();
            Ok(json!({
                "Size": size,
                "RootHash": id_hex(&root),
                "HeadHash": id_hex(&head),
                "ServerKey": server_key_text(&records.server_public_key()),
                "ReceiptVerifierKey": governance.issuer().verifier_key(),
            }))
        }
        AuditOperation::ListPendingChanges => {
            let pending: Vec<Value> = records
                .pending()
                .map_err(|e| KmsError::internal(format!("governance records: {e}")))?
                .iter()
                .map(|p| {
                    json!({
                        "RecordHash": id_hex(&p.record_hash),
                        "ProposalHash": id_hex(&p.proposal_hash),
                        "Sequence": p.record.seq,
                        "Type": p.record.record_type.name(),
                        "Subject": id_hex(&p.record.subject),
                        "NewHash": id_hex(&p.record.new_hash),
                        "ExpectedOld": id_hex(&p.record.expected_old),
                        "Payload": String::from_utf8_lossy(&p.record.payload),
                        "Signatures": p.have,
                        "Required": p.need,
                        "SignedBy": p.signed_by,
                        "Stale": p.stale,
                    })
                })
                .collect();
            Ok(json!({ "Pending": pending }))
        }
        AuditOperation::ApproveChange => {
            // The record hash, or the proposal hash (which survives the
            // record being rebased when other changes land first).
            let hash = if input.contains_key("RecordHash") {
                hex_member(input, "RecordHash")?
            } else {
                hex_member(input, "ProposalHash")?
            };
            let key_id = input
                .get("SignerKeyId")
                .and_then(Value::as_u64)
                .and_then(|k| u32::try_from(k).ok())
                .ok_or_else(|| invalid("SignerKeyId must be the signer's 32-bit key id."))?;
            let signature = input
                .get("Signature")
                .and_then(Value::as_str)
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .ok_or_else(|| invalid("Signature must be base64."))?;
            let record = records
                .pending()
                .map_err(|e| KmsError::internal(format!("governance records: {e}")))?
                .into_iter()
                .find(|p| p.record_hash == hash || p.proposal_hash == hash)
                .map(|p| p.record)
                .ok_or_else(|| {
                    KmsError::new(
                        ErrorKind::NotFoundException,
                        format!("No pending governance record {}.", id_hex(&hash)),
                    )
                })?;
            let submitted = records
                .approve(&hash, key_id, &signature)
                .map_err(gov_error)?;
            if matches!(submitted, Submitted::Applied { .. }) {
                kms.apply_approved(&record)?;
            }
            Ok(submitted_json(&submitted))
        }
        AuditOperation::SubmitRecord => {
            let bytes = input
                .get("Record")
                .and_then(Value::as_str)
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .ok_or_else(|| invalid("Record must be the record's bytes in base64."))?;
            let submitted = records.submit_signed(&bytes).map_err(gov_error)?;
            Ok(submitted_json(&submitted))
        }
        _ => Err(KmsError::new(
            ErrorKind::UnsupportedOperationException,
            "Not a governance operation.",
        )),
    }
}

/// A governance public key as people pin it: `ed25519:<base64>`.
#[must_use]
pub fn server_key_text(key: &[u8; 32]) -> String {
    format!(
        "ed25519:{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}
