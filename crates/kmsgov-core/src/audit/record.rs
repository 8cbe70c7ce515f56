//! From a request and its response to an audit entry: the leaf and the
//! detail record it commits to.

use aws_lc_rs::digest::{Context, SHA256};
use aws_lc_rs::hmac;
use kmsgov_authz::{Environment, Outcome};
use serde_json::{json, Value};

use super::leaf::{op_code, Leaf, Reason, Verdict};
use super::AuditEntry;
use crate::error::ErrorKind;
use crate::service::{Request, Response};

/// The label of the audit key derived from the root key.
pub(crate) const PRINCIPAL_KEY_LABEL: &str = "kmsgov/audit/principal/v1";

/// The environment keys a detail record keeps.
const CONTEXT_KEYS: [&str; 4] = [
    "aws:SourceIp",
    "aws:SourceVpc",
    "aws:SourceVpce",
    "aws:SecureTransport",
];

/// What an entry records of a request.
pub(crate) struct Subject<'a> {
    /// The leaf's op byte.
    pub(crate) op: u8,
    /// The operation's name, for the detail record.
    pub(crate) operation: &'a str,
    pub(crate) caller: &'a kmsgov_policy::Caller,
    pub(crate) input: &'a Value,
    pub(crate) env: &'a Environment<'a>,
}

/// Builds entries; holds the key of the principal commitments.
pub(crate) struct Recorder {
    principal_key: hmac::Key,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder(<key redacted>)")
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// The 16 bytes of a key id (`1234abcd-…` or `mrk-…`), from an id or ARN.
fn key_id_bytes(text: &str) -> Option<[u8; 16]> {
    let id = text.rsplit_once(":key/").map_or(text, |(_, id)| id);
    let hex: String = id
        .strip_prefix("mrk-")
        .unwrap_or(id)
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Recorder {
    pub(crate) fn new(principal_key: &[u8; 32]) -> Recorder {
        Recorder {
            principal_key: hmac::Key::new(hmac::HMAC_SHA256, principal_key),
        }
    }

    /// The keyed commitment to a principal of an account.
    pub(crate) fn principal_commit(&self, account: &str, arn: &str) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.principal_key);
        context.update(account.as_bytes());
        context.update(&[0]);
        context.update(arn.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(context.sign().as_ref());
        out
    }

    /// The entry of a KMS request.
    pub(crate) fn entry(
        &self,
        request: &Request<'_>,
        response: &Response,
        time_ms: i64,
        request_id: [u8; 16],
    ) -> AuditEntry {
        self.entry_for(
            &Subject {
                op: op_code(request.operation),
                operation: request.operation.name(),
                caller: request.caller,
                input: request.input,
                env: request.env,
            },
            response,
            time_ms,
            request_id,
        )
    }

    /// The entry of any request: a KMS call or one of kmsgov's own.
    pub(crate) fn entry_for(
        &self,
        request: &Subject<'_>,
        response: &Response,
        time_ms: i64,
        request_id: [u8; 16],
    ) -> AuditEntry {
        let (verdict, reason, error) = match (&response.decision, &response.result) {
            (_, Ok(_)) => (Verdict::Allow, Reason::Ok, None),
            (Some(d), Err(e)) if d.outcome == Outcome::Deny => {
                let reason = if d.message.contains("explicit deny") {
                    Reason::ExplicitDeny
                } else {
                    Reason::NoPermit
                };
                (Verdict::Deny, reason, Some(e))
            }
            (_, Err(e)) => {
                let reason = match e.kind {
                    ErrorKind::DisabledException
                    | ErrorKind::KMSInvalidStateException
                    | ErrorKind::KeyUnavailableException => Reason::KeyState,
                    ErrorKind::InvalidCiphertextException => Reason::ContextMismatch,
                    _ => Reason::OtherError,
                };
                (Verdict::Error, reason, Some(e))
            }
        };
        let key = response
            .result
            .as_ref()
            .ok()
            .and_then(|o| o.get("KeyId"))
            .and_then(Value::as_str)
            .or_else(|| request.input.get("KeyId").and_then(Value::as_str))
            .and_then(key_id_bytes);
        let message = response
            .decision
            .as_ref()
            .map_or("", |d| d.message.as_str());
        let mut salt = [0u8; 16];
        // Without randomness the salt stays zero: the commitment still
        // binds the context, it is only easier to guess.
        let _ = aws_lc_rs::rand::fill(&mut salt);
        let context = request_context(request.env, request.input);
        let context_bytes = context.to_string();
        let caller = request.caller;
        let detail = json!({
            "salt": hex(&salt),
            "operation": request.operation,
            "principal": caller.arn(),
            "account": caller.account().unwrap_or(""),
            "context": context,
            "error": error.map(|e| e.name()),
            "message": message,
        })
        .to_string()
        .into_bytes();
        let used = response.result.as_ref().ok().and_then(|o| o.use_record());
        let leaf = Leaf {
            op: request.op,
            verdict,
            reason,
            time_ms: u64::try_from(time_ms).unwrap_or(0),
            request_id,
            principal_commit: self.principal_commit(caller.account().unwrap_or(""), caller.arn()),
            key_id: key.unwrap_or([0; 16]),
            key_version: used.map_or(0, |u| u.key_version),
            ct_header_hash: used.map_or([0; 32], |u| u.ciphertext_hash),
            policy_hash: used.map_or([0; 32], |u| u.policy_id),
            gov_size: used.map_or(0, |u| u.governance_size),
            gov_root: used.map_or([0; 32], |u| u.governance_root),
            determining: sha256(&[b"kmsgov/determining", message.as_bytes()]),
            context_commit: sha256(&[b"kmsgov/ctx", &salt, context_bytes.as_bytes()]),
            receipt_ref: used.and_then(|u| u.receipt.as_ref()).map_or([0; 32], |r| {
                sha256(&[b"kmsgov/receipt", &r.claims.receipt_id])
            }),
            detail_ref: sha256(&[&detail]),
        };
        AuditEntry {
            leaf: leaf.encode().to_vec(),
            detail,
        }
    }
}

/// The request context a detail record keeps: the network facts and the
/// encryption context, as canonical JSON (keys sorted).
fn request_context(env: &Environment<'_>, input: &Value) -> Value {
    let mut context = serde_json::Map::new();
    for key in CONTEXT_KEYS {
        if let Some(v) = env.get_one(key) {
            context.insert(key.to_owned(), Value::from(v));
        }
    }
    for member in [
        "EncryptionContext",
        "SourceEncryptionContext",
        "DestinationEncryptionContext",
    ] {
        if let Some(Value::Object(pairs)) = input.get(member) {
            let sorted: std::collections::BTreeMap<_, _> = pairs.iter().collect();
            context.insert(member.to_owned(), json!(sorted));
        }
    }
    let sorted: std::collections::BTreeMap<_, _> = context.into_iter().collect();
    json!(sorted)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_read_from_ids_and_arns() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let bytes = key_id_bytes(id).unwrap();
        assert_eq!(bytes[0], 0x12);
        assert_eq!(bytes[15], 0xab);
        assert_eq!(
            key_id_bytes(&format!("arn:aws:kms:us-east-1:111122223333:key/{id}")),
            Some(bytes)
        );
        assert!(key_id_bytes("mrk-1234abcd12ab34cd56ef1234567890ab").is_some());
        assert_eq!(key_id_bytes("alias/orders"), None);
        assert_eq!(key_id_bytes("1234abcd-12ab-34cd-56ef-1234567890zz"), None);
    }

    #[test]
    fn principal_commitments_are_keyed() {
        let a = Recorder::new(&[1; 32]);
        let b = Recorder::new(&[2; 32]);
        let arn = "arn:aws:iam::111122223333:user/alice";
        assert_eq!(
            a.principal_commit("111122223333", arn),
            a.principal_commit("111122223333", arn)
        );
        assert_ne!(
            a.principal_commit("111122223333", arn),
            b.principal_commit("111122223333", arn)
        );
    }
}
