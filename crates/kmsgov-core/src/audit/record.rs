//! From a request and its response to an audit entry: the leaf and the
//! detail record it commits to.

use aws_lc_rs::digest::{Context, SHA256};
use aws_lc_rs::hmac;
use kmsgov_authz::{Environment, Outcome};
use serde_json::Value;

use super::leaf::{op_code, Leaf, Reason, Verdict};
use super::AuditEntry;
use crate::error::ErrorKind;
use crate::service::{Request, Response};

/// The label of the audit key derived from the root key.
pub(crate) const PRINCIPAL_KEY_LABEL: &str = "kmsgov/audit/principal/v1";

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
        // Without randomness the salt stays zero: the commitment still
        // binds the context, it is only easier to guess.
        let salt: [u8; 16] = crate::crypto::unique_bytes().unwrap_or([0; 16]);
        let caller = request.caller;
        let (detail, context) = detail_record(&salt, request, error.map(|e| e.name()), message);
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
            context_commit: sha256(&[
                b"kmsgov/ctx",
                &salt,
                detail.get(context).unwrap_or_default(),
            ]),
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

/// The environment keys a detail record keeps, in the order of their bytes.
const SORTED_CONTEXT_KEYS: [&str; 4] = [
    "aws:SecureTransport",
    "aws:SourceIp",
    "aws:SourceVpc",
    "aws:SourceVpce",
];

/// The encryption-context members a detail record keeps, in the order of
/// their bytes (before every environment key: capitals sort first).
const CONTEXT_MEMBERS: [&str; 3] = [
    "DestinationEncryptionContext",
    "EncryptionContext",
    "SourceEncryptionContext",
];

/// Appends `value` as JSON. Writing to a vector cannot fail, and every
/// value here came from JSON, so it serializes.
fn push_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The detail record of a request, as compact JSON in a fixed member order
/// (`salt`, `operation`, `principal`, `account`, `context`, `error`,
/// `message`), and where in it the request context is. The context is
/// the network facts and the encryption context, keys sorted by their
/// bytes at every level: the bytes the leaf's context commitment covers.
///
/// Written directly rather than through a `serde_json::Value`: this runs
/// for every request, and building the tree cost more than the request.
fn detail_record(
    salt: &[u8; 16],
    request: &Subject<'_>,
    error: Option<&str>,
    message: &str,
) -> (Vec<u8>, std::ops::Range<usize>) {
    let caller = request.caller;
    let mut out = Vec::with_capacity(384);
    let mut salt_hex = String::with_capacity(32);
    crate::crypto::push_hex(&mut salt_hex, salt);
    out.extend_from_slice(b"{\"salt\":");
    push_json(&mut out, &salt_hex);
    out.extend_from_slice(b",\"operation\":");
    push_json(&mut out, request.operation);
    out.extend_from_slice(b",\"principal\":");
    push_json(&mut out, caller.arn());
    out.extend_from_slice(b",\"account\":");
    push_json(&mut out, caller.account().unwrap_or(""));
    out.extend_from_slice(b",\"context\":");
    let start = out.len();
    let mut first = true;
    out.push(b'{');
    let mut key = |out: &mut Vec<u8>, name: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        push_json(out, name);
        out.push(b':');
    };
    for member in CONTEXT_MEMBERS {
        if let Some(Value::Object(pairs)) = request.input.get(member) {
            key(&mut out, member);
            let mut sorted: Vec<(&String, &Value)> = pairs.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (name, value)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json(&mut out, name);
                out.push(b':');
                push_json(&mut out, value);
            }
            out.push(b'}');
        }
    }
    for name in SORTED_CONTEXT_KEYS {
        if let Some(value) = request.env.get_one(name) {
            key(&mut out, name);
            push_json(&mut out, value);
        }
    }
    out.push(b'}');
    let context = start..out.len();
    out.extend_from_slice(b",\"error\":");
    push_json(&mut out, &error);
    out.extend_from_slice(b",\"message\":");
    push_json(&mut out, message);
    out.push(b'}');
    (out, context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    /// The detail record as a JSON tree would give it: the reference the
    /// hand-written one must match byte for byte.
    fn detail_by_tree(
        salt: &[u8; 16],
        request: &Subject<'_>,
        error: Option<&str>,
        message: &str,
    ) -> (String, String) {
        use serde_json::json;
        use std::collections::BTreeMap;
        let mut context = BTreeMap::new();
        for key in SORTED_CONTEXT_KEYS {
            if let Some(v) = request.env.get_one(key) {
                context.insert(key.to_owned(), Value::from(v));
            }
        }
        for member in CONTEXT_MEMBERS {
            if let Some(Value::Object(pairs)) = request.input.get(member) {
                let sorted: BTreeMap<_, _> = pairs.iter().collect();
                context.insert(member.to_owned(), json!(sorted));
            }
        }
        let context = json!(context);
        let salt: String = salt.iter().map(|b| format!("{b:02x}")).collect();
        let detail = json!({
            "salt": salt,
            "operation": request.operation,
            "principal": request.caller.arn(),
            "account": request.caller.account().unwrap_or(""),
            "context": context,
            "error": error,
            "message": message,
        });
        (detail.to_string(), context.to_string())
    }

    #[test]
    fn detail_records_are_canonical_json() {
        let caller =
            kmsgov_policy::Caller::parse("arn:aws:iam::111122223333:user/alice+ops@example.com")
                .unwrap();
        let mut env = Environment::new();
        env.insert("aws:SourceIp", "10.0.0.1");
        env.insert("aws:SecureTransport", "true");
        env.insert("aws:SourceVpce", "vpce-1a2b");
        env.insert("aws:PrincipalTag/x", "not kept");
        let inputs = [
            json!({}),
            json!({"EncryptionContext": {"b": "2", "a": "1", "é\n": "\u{1}", "A": "0"}}),
            json!({
                "SourceEncryptionContext": {"z": "1"},
                "DestinationEncryptionContext": {"y": "2", "x": "3"},
                "EncryptionContext": "not an object",
            }),
        ];
        for (i, input) in inputs.iter().enumerate() {
            let subject = Subject {
                op: 1,
                operation: "Decrypt",
                caller: &caller,
                input,
                env: &env,
            };
            let salt = [i as u8; 16];
            for (error, message) in [(None, ""), (Some("AccessDeniedException"), "no \"allow\"")] {
                let (detail, range) = detail_record(&salt, &subject, error, message);
                let (want, want_context) = detail_by_tree(&salt, &subject, error, message);
                assert_eq!(String::from_utf8(detail.clone()).unwrap(), want);
                assert_eq!(&detail[range], want_context.as_bytes());
            }
        }
    }

    #[test]
    fn detail_records_match_the_tree_form_for_generated_strings() {
        // Strings over an alphabet of escapes, control characters,
        // multi-byte characters and plain ones, from a fixed-seed generator.
        let alphabet = [
            "a", "Z", "0", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1f}", "\u{7f}", "é", "€",
            "😀", "\u{2028}", " ", ":", "{", "}",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut text =
            |len: usize| -> String { (0..len).map(|_| alphabet[next(alphabet.len())]).collect() };
        let caller = kmsgov_policy::Caller::parse("arn:aws:iam::111122223333:role/app").unwrap();
        for round in 0..300 {
            let mut pairs = serde_json::Map::new();
            for _ in 0..(round % 5) {
                pairs.insert(text(1 + round % 7), Value::from(text(round % 11)));
            }
            let input = json!({ "EncryptionContext": pairs });
            let ip = text(round % 9);
            let mut env = Environment::new();
            env.insert("aws:SourceIp", ip.as_str());
            let message = text(round % 13);
            let subject = Subject {
                op: 1,
                operation: "Decrypt",
                caller: &caller,
                input: &input,
                env: &env,
            };
            let salt = [round as u8; 16];
            let (detail, range) = detail_record(&salt, &subject, Some("X"), &message);
            let (want, want_context) = detail_by_tree(&salt, &subject, Some("X"), &message);
            assert_eq!(
                String::from_utf8(detail.clone()).unwrap(),
                want,
                "round {round}"
            );
            assert_eq!(&detail[range], want_context.as_bytes(), "round {round}");
        }
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
