//! Data-use policies on the data path: which policy an encryption binds,
//! whether a decryption's stated use fits the bound policy, and the draft of
//! the use receipt that goes out with the plaintext.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::params;
use super::Ctx;
use crate::ciphertext::{self, Header};
use crate::data_use::{self, DataUsePolicy};
use crate::error::{ErrorKind, KmsError};
use crate::service::{LiveKey, ReceiptDraft, UseRecord};

/// The request members that state the intended use of the plaintext
/// (members AWS does not define; AWS SDKs send them through the
/// `x-kmsgov-purpose` and `x-kmsgov-audience` headers instead).
pub(crate) const PURPOSE: &str = "Purpose";
/// See [`PURPOSE`].
pub(crate) const AUDIENCE: &str = "Audience";
/// The receipt lifetime asked for, in seconds (the policy's maximum when
/// absent or larger).
pub(crate) const RECEIPT_SECONDS: &str = "ReceiptSeconds";

/// A ciphertext's binding: the policy and the header fields that commit to
/// it.
pub(crate) struct Binding {
    pub(crate) policy: Arc<DataUsePolicy>,
    pub(crate) fields: ciphertext::Governance,
}

/// The data-use policy an encryption under `key` with `context` binds: the
/// one the `kmsgov:policy` entry names, else the key's default, else none.
pub(crate) fn binding_for_encrypt(
    ctx: &Ctx<'_>,
    key: &LiveKey,
    context: &BTreeMap<String, String>,
) -> Result<Option<Binding>, KmsError> {
    let named = match context.get(data_use::CONTEXT_KEY) {
        Some(text) => Some(data_use::parse_id(text).ok_or_else(|| {
            KmsError::new(
                ErrorKind::ValidationException,
                format!(
                    "The encryption context entry {} must be a data-use policy id (64 hexadecimal digits).",
                    data_use::CONTEXT_KEY
                ),
            )
        })?),
        None => None,
    };
    let Some(governance) = ctx.kms.governance() else {
        return match named {
            Some(_) => Err(KmsError::new(
                ErrorKind::UnsupportedOperationException,
                "This server keeps no governance records, so it cannot bind data-use policies.",
            )),
            None => Ok(None),
        };
    };
    let id = match named {
        Some(id) => id,
        None => match governance.key_data_policy(&key.arn) {
            Some(id) => id,
            None => return Ok(None),
        },
    };
    let policy = governance.data_use_policy(&id)?.ok_or_else(|| {
        KmsError::new(
            ErrorKind::NotFoundException,
            format!(
                "Data-use policy {} is not published.",
                data_use::id_hex(&id)
            ),
        )
    })?;
    let (size, _) = governance.position();
    Ok(Some(Binding {
        policy,
        fields: ciphertext::Governance {
            policy_id: id,
            governance_size: size,
        },
    }))
}

/// The binding of a ReEncrypt's new blob. A blob bound to a policy keeps
/// it: the destination may name a policy only if it is the same or
/// narrower ([`DataUsePolicy::within`]); loosening takes a governance
/// change, not a ReEncrypt. An unbound blob binds as Encrypt does.
pub(crate) fn binding_for_reencrypt(
    ctx: &Ctx<'_>,
    destination: &LiveKey,
    context: &BTreeMap<String, String>,
    source: Option<&Arc<DataUsePolicy>>,
) -> Result<Option<Binding>, KmsError> {
    let Some(source) = source else {
        return binding_for_encrypt(ctx, destination, context);
    };
    let policy = if context.contains_key(data_use::CONTEXT_KEY) {
        let named = binding_for_encrypt(ctx, destination, context)?
            .map(|b| b.policy)
            .unwrap_or_else(|| Arc::clone(source));
        if !named.within(source) {
            return Err(KmsError::new(
                ErrorKind::AccessDeniedException,
                format!(
                    "Data-use policy {} is not within {}, the policy the ciphertext is bound to: ReEncrypt may only narrow it.",
                    named.id(),
                    source.id()
                ),
            ));
        }
        named
    } else {
        Arc::clone(source)
    };
    let Some(governance) = ctx.kms.governance() else {
        return Ok(None);
    };
    let (size, _) = governance.position();
    Ok(Some(Binding {
        fields: ciphertext::Governance {
            policy_id: policy.id_bytes(),
            governance_size: size,
        },
        policy,
    }))
}

/// Checks the use a request states, if any, against `policy` (for
/// GenerateDataKey*, where stating one is optional).
pub(crate) fn check_stated(ctx: &Ctx<'_>, policy: &DataUsePolicy) -> Result<(), KmsError> {
    let (purpose, audience) = stated_use(ctx.input)?;
    policy
        .check_use(purpose, audience)
        .map_err(|m| KmsError::new(ErrorKind::AccessDeniedException, m))
}

/// The stated use of a request: `Purpose` and `Audience`.
pub(crate) fn stated_use(
    input: &Map<String, Value>,
) -> Result<(Option<&str>, Option<&str>), KmsError> {
    let read = |member: &str| -> Result<Option<&str>, KmsError> {
        match input.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                data_use::valid_name(member, s)
                    .map_err(|e| KmsError::new(ErrorKind::ValidationException, e.0))?;
                Ok(Some(s.as_str()))
            }
            Some(_) => Err(KmsError::new(
                ErrorKind::ValidationException,
                format!("{member} must be a string."),
            )),
        }
    };
    Ok((read(PURPOSE)?, read(AUDIENCE)?))
}

/// For a blob with governance fields: the bound policy, after checking that
/// it is published, that the `kmsgov:policy` entry (if any) names it, and
/// that the stated use fits it. `None` for a blob bound to nothing.
pub(crate) fn check_decrypt(
    ctx: &Ctx<'_>,
    header: &Header,
    context: &BTreeMap<String, String>,
    require_purpose: bool,
) -> Result<Option<Arc<DataUsePolicy>>, KmsError> {
    let Some(fields) = header.governance() else {
        return Ok(None);
    };
    if let Some(named) = context.get(data_use::CONTEXT_KEY) {
        if data_use::parse_id(named) != Some(fields.policy_id) {
            return Err(KmsError::new(ErrorKind::InvalidCiphertextException, ""));
        }
    }
    // Only refusals name the policy.
    let id_hex = || data_use::id_hex(&fields.policy_id);
    let Some(governance) = ctx.kms.governance() else {
        return Err(KmsError::new(
            ErrorKind::AccessDeniedException,
            format!("The ciphertext is bound to data-use policy {}, and this server keeps no governance records to enforce it.", id_hex()),
        ));
    };
    let policy = governance
        .data_use_policy(&fields.policy_id)?
        .ok_or_else(|| {
            KmsError::new(
                ErrorKind::AccessDeniedException,
                format!(
                    "The ciphertext is bound to data-use policy {}, which is not published.",
                    id_hex()
                ),
            )
        })?;
    let (purpose, audience) = stated_use(ctx.input)?;
    if require_purpose && purpose.is_none() {
        return Err(KmsError::new(
            ErrorKind::AccessDeniedException,
            format!("The ciphertext is bound to data-use policy {}, so the request must state a Purpose.", id_hex()),
        ));
    }
    policy
        .check_use(purpose, audience)
        .map_err(|m| KmsError::new(ErrorKind::AccessDeniedException, m))?;
    Ok(Some(policy))
}

/// Records a data operation on a governed ciphertext for its audit leaf
/// and, when `plaintext` leaves with the response, drafts the use receipt
/// that goes with it; the service completes the receipt with the audit
/// position once the decision is durable.
pub(crate) fn record_use(
    ctx: &Ctx<'_>,
    policy: &DataUsePolicy,
    ciphertext_hash: [u8; 32],
    key: &LiveKey,
    key_version: u32,
    plaintext: Option<&[u8]>,
) -> Result<(), KmsError> {
    let Some(governance) = ctx.kms.governance() else {
        return Ok(());
    };
    let (size, root) = governance.position();
    let receipt = match plaintext {
        Some(plaintext) => Some(draft_receipt(
            ctx,
            policy,
            ciphertext_hash,
            key,
            key_version,
            plaintext,
            (size, root),
        )?),
        None => None,
    };
    ctx.set_governed(UseRecord {
        ciphertext_hash,
        policy_id: policy.id_bytes(),
        key_version,
        governance_size: size,
        governance_root: root,
        receipt,
    });
    Ok(())
}

fn draft_receipt(
    ctx: &Ctx<'_>,
    policy: &DataUsePolicy,
    ciphertext_hash: [u8; 32],
    key: &LiveKey,
    key_version: u32,
    plaintext: &[u8],
    (size, root): (u64, [u8; 32]),
) -> Result<ReceiptDraft, KmsError> {
    let (purpose, audience) = stated_use(ctx.input)?;
    let purposes = match purpose {
        Some(p) => vec![p.to_owned()],
        None => policy.purposes.iter().cloned().collect(),
    };
    let audiences = match audience {
        Some(a) => vec![a.to_owned()],
        None => policy.audiences.iter().cloned().collect(),
    };
    let lifetime = match params::integer(ctx.input, RECEIPT_SECONDS) {
        None => policy.max_receipt_seconds,
        Some(n) if n >= 1 => u64::try_from(n)
            .unwrap_or(u64::MAX)
            .min(policy.max_receipt_seconds),
        Some(_) => {
            return Err(KmsError::new(
                ErrorKind::ValidationException,
                "ReceiptSeconds must be a positive integer.",
            ))
        }
    };
    let failed = || KmsError::internal("the random number generator failed");
    let salt: [u8; 32] = crate::crypto::unique_bytes().ok_or_else(failed)?;
    let receipt_id: [u8; 16] = crate::crypto::unique_bytes().ok_or_else(failed)?;
    let holder = ctx
        .kms
        .principal_commitment(ctx.account, ctx.caller.arn())
        .unwrap_or([0; 32]);
    let claims = crate::receipt::ReceiptClaims {
        receipt_id,
        kms: format!("kmsgov/{}", ctx.kms.region()),
        ciphertext: ciphertext_hash,
        key_id: key.record.key_id.clone(),
        key_version,
        data_policy: policy.id_bytes(),
        holder,
        plaintext_commit: crate::receipt::plaintext_commitment(&salt, plaintext),
        audit_origin: String::new(),
        audit_index: 0,
        governance_size: size,
        governance_root: root,
        purposes,
        audiences,
        reshare_depth: policy.reshare_depth,
        expires_unix: ctx
            .now
            .saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX)),
    };
    Ok(ReceiptDraft { claims, salt })
}
