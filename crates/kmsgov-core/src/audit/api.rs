//! The audit operations' work, once authorized: the latest checkpoint,
//! evidence for one entry, and a consistency proof.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::leaf::{AuditOperation, Leaf};
use super::verify::{consistency_proof, prove};
use super::AuditLog;
use crate::error::{ErrorKind, KmsError};

pub(crate) fn run(
    log: &AuditLog,
    operation: AuditOperation,
    input: &Value,
) -> Result<Value, KmsError> {
    let empty = Map::new();
    let input = match input {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => return Err(invalid("The request body must be a JSON object.")),
    };
    match operation {
        AuditOperation::GetCheckpoint => {
            let head = log.head();
            Ok(json!({
                "Checkpoint": head.checkpoint,
                "TreeSize": head.size,
                "RootHash": STANDARD.encode(head.root),
                "VerifierKey": log.verifier_key(),
            }))
        }
        AuditOperation::GetInclusionProof => {
            let seq = match (input.get("RequestId"), input.get("Sequence")) {
                (Some(id), None) => {
                    let id = id
                        .as_str()
                        .ok_or_else(|| invalid("RequestId must be a string."))?;
                    find_request(log, id)?
                }
                (None, Some(seq)) => seq
                    .as_u64()
                    .ok_or_else(|| invalid("Sequence must be a non-negative integer."))?,
                _ => return Err(invalid("Give exactly one of RequestId and Sequence.")),
            };
            let evidence = prove(log.sink().as_ref(), seq).map_err(|e| {
                KmsError::new(ErrorKind::NotFoundException, format!("No evidence: {e}."))
            })?;
            Ok(json!({ "Evidence": evidence }))
        }
        // Decided against the service's state, not the log (`Kms`).
        AuditOperation::Evaluate
        | AuditOperation::PublishPolicy
        | AuditOperation::GetPolicy
        | AuditOperation::SetKeyDataPolicy
        | AuditOperation::GetGovernanceHead
        | AuditOperation::ListPendingChanges
        | AuditOperation::ApproveChange
        | AuditOperation::SubmitRecord => Err(KmsError::new(
            ErrorKind::UnsupportedOperationException,
            format!("{} is not an operation of the audit log.", operation.name()),
        )),
        AuditOperation::GetConsistencyProof => {
            let first = input
                .get("FirstSize")
                .and_then(Value::as_u64)
                .ok_or_else(|| invalid("FirstSize must be a non-negative integer."))?;
            let head = log.head();
            if first > head.size {
                return Err(invalid(&format!(
                    "FirstSize {first} is beyond the log's {} entries.",
                    head.size
                )));
            }
            let proof = consistency_proof(log.sink().as_ref(), first, head.size)
                .map_err(|e| KmsError::internal(format!("consistency proof: {e}")))?;
            Ok(json!({
                "FirstSize": first,
                "SecondSize": head.size,
                "Proof": proof.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
                "Checkpoint": head.checkpoint,
            }))
        }
    }
}

fn invalid(message: &str) -> KmsError {
    KmsError::new(ErrorKind::ValidationException, message)
}

/// The position of the entry with request id `id` (UUID form), newest
/// first.
fn find_request(log: &AuditLog, id: &str) -> Result<u64, KmsError> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    let mut wanted = [0u8; 16];
    if hex.len() != 32 {
        return Err(invalid("RequestId must be a request id (a UUID)."));
    }
    for (i, byte) in wanted.iter_mut().enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(|| invalid("RequestId must be a request id (a UUID)."))?;
    }
    let sink = log.sink();
    let mut to = log.head().size;
    while to > 0 {
        let from = to.saturating_sub(4096);
        let entries = sink
            .read(from, to)
            .map_err(|e| KmsError::internal(format!("reading the audit log: {e}")))?;
        for (i, entry) in entries.iter().enumerate().rev() {
            if Leaf::decode(&entry.leaf).is_ok_and(|l| l.request_id == wanted) {
                return Ok(from + i as u64);
            }
        }
        to = from;
    }
    Err(KmsError::new(
        ErrorKind::NotFoundException,
        format!("No request {id} in the audit log."),
    ))
}
