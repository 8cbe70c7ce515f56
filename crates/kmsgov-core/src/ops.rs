//! The KMS operations, one module per concern. Each runs after the engine
//! has allowed the request (the request is validated and the caller
//! authorized); it checks what only the live state can tell, does the work,
//! stores the change and returns the response body.

pub(crate) mod aliases;
pub(crate) mod asymmetric;
pub(crate) mod crypto;
pub(crate) mod custom_key_stores;
mod data_use;
pub(crate) mod grants;
pub(crate) mod import;
pub(crate) mod keys;
pub(crate) mod lifecycle;
pub(crate) mod multi_region;
pub(crate) mod params;
pub(crate) mod policy;
pub(crate) mod rotation;
pub(crate) mod tags;

use base64::Engine as _;
use kmsgov_authz::{Environment, Operation};
use kmsgov_policy::Caller;
use serde_json::{Map, Value};

use crate::error::KmsError;
use crate::service::Kms;

/// What an operation runs with.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) kms: &'a Kms,
    pub(crate) caller: &'a Caller,
    /// The caller's account.
    pub(crate) account: &'a str,
    pub(crate) input: &'a Map<String, Value>,
    #[allow(dead_code, reason = "for operations that read request facts")]
    pub(crate) env: &'a Environment<'a>,
    /// Unix seconds.
    pub(crate) now: i64,
    /// For Decrypt and ReEncrypt: the `CiphertextBlob`, already decoded.
    pub(crate) ciphertext: Option<Vec<u8>>,
    /// Unix milliseconds.
    #[allow(dead_code, reason = "for operations that need sub-second times")]
    pub(crate) now_ms: i64,
    /// Set by a data operation on a governed ciphertext.
    pub(crate) governed: std::cell::RefCell<Option<crate::service::UseRecord>>,
}

impl Ctx<'_> {
    /// Records what a governed data operation adds to its audit leaf and
    /// response.
    pub(crate) fn set_governed(&self, governed: crate::service::UseRecord) {
        *self.governed.borrow_mut() = Some(governed);
    }
}

/// Whether the operation changes state (it then runs under the writer lock).
pub(crate) fn mutates(op: Operation) -> bool {
    use Operation as O;
    matches!(
        op,
        O::CreateKey
            | O::UpdateKeyDescription
            | O::EnableKey
            | O::DisableKey
            | O::ScheduleKeyDeletion
            | O::CancelKeyDeletion
            | O::EnableKeyRotation
            | O::DisableKeyRotation
            | O::RotateKeyOnDemand
            | O::CreateAlias
            | O::UpdateAlias
            | O::DeleteAlias
            | O::TagResource
            | O::UntagResource
            | O::CreateGrant
            | O::RetireGrant
            | O::RevokeGrant
            | O::PutKeyPolicy
            | O::GetParametersForImport
            | O::ImportKeyMaterial
            | O::DeleteImportedKeyMaterial
            | O::ReplicateKey
            | O::UpdatePrimaryRegion
    )
}

/// For Decrypt and ReEncrypt of a symmetric ciphertext: the ARN of the key
/// the blob names, so the engine can decide a request without a key id.
/// A blob that does not parse is `InvalidCiphertextException`, unless it is
/// not even base64 (the engine's validation reports that).
/// Also returns the decoded blob, so the operation does not decode it again.
pub(crate) fn ciphertext_key_arn(
    kms: &Kms,
    op: Operation,
    input: &Map<String, Value>,
) -> Result<(Option<String>, Option<Vec<u8>>), KmsError> {
    if !matches!(op, Operation::Decrypt | Operation::ReEncrypt) {
        return Ok((None, None));
    }
    let Some(text) = input.get("CiphertextBlob").and_then(Value::as_str) else {
        return Ok((None, None));
    };
    let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(text) else {
        return Ok((None, None));
    };
    // An empty or oversized blob breaks the member's length constraint
    // (1–6144 bytes): the engine's validation reports it.
    if blob.is_empty() || blob.len() > MAX_CIPHERTEXT_BLOB_LEN {
        return Ok((None, None));
    }
    match crate::ciphertext::parse(&blob) {
        Ok(header) => Ok((
            kms.live_key_by_id(header.key_id()).map(|k| k.arn.clone()),
            Some(blob),
        )),
        // An asymmetric ciphertext names no key; the request must.
        Err(_) if input.get(key_member(op)).is_some() => Ok((None, Some(blob))),
        Err(_) => Err(KmsError::new(
            crate::error::ErrorKind::InvalidCiphertextException,
            "",
        )),
    }
}

/// The largest `CiphertextBlob` KMS accepts, in bytes.
const MAX_CIPHERTEXT_BLOB_LEN: usize = 6144;

fn key_member(op: Operation) -> &'static str {
    if op == Operation::ReEncrypt {
        "SourceKeyId"
    } else {
        "KeyId"
    }
}

/// Runs an allowed operation.
pub(crate) fn run(ctx: &Ctx<'_>, op: Operation) -> Result<Value, KmsError> {
    use Operation as O;
    match op {
        O::CreateKey => keys::create_key(ctx),
        O::DescribeKey => keys::describe_key(ctx),
        O::ListKeys => keys::list_keys(ctx),
        O::UpdateKeyDescription => keys::update_key_description(ctx),
        O::GetKeyLastUsage => keys::get_key_last_usage(ctx),

        O::EnableKey => lifecycle::enable_key(ctx),
        O::DisableKey => lifecycle::disable_key(ctx),
        O::ScheduleKeyDeletion => lifecycle::schedule_key_deletion(ctx),
        O::CancelKeyDeletion => lifecycle::cancel_key_deletion(ctx),

        O::Encrypt => crypto::encrypt(ctx),
        O::Decrypt => crypto::decrypt(ctx),
        O::ReEncrypt => crypto::re_encrypt(ctx),
        O::GenerateDataKey => crypto::generate_data_key(ctx, true),
        O::GenerateDataKeyWithoutPlaintext => crypto::generate_data_key(ctx, false),
        O::GenerateDataKeyPair => crypto::generate_data_key_pair(ctx, true),
        O::GenerateDataKeyPairWithoutPlaintext => crypto::generate_data_key_pair(ctx, false),
        O::GenerateRandom => crypto::generate_random(ctx),

        O::Sign => asymmetric::sign(ctx),
        O::Verify => asymmetric::verify(ctx),
        O::GenerateMac => asymmetric::generate_mac(ctx),
        O::VerifyMac => asymmetric::verify_mac(ctx),
        O::GetPublicKey => asymmetric::get_public_key(ctx),
        O::DeriveSharedSecret => asymmetric::derive_shared_secret(ctx),

        O::EnableKeyRotation => rotation::enable_key_rotation(ctx),
        O::DisableKeyRotation => rotation::disable_key_rotation(ctx),
        O::GetKeyRotationStatus => rotation::get_key_rotation_status(ctx),
        O::RotateKeyOnDemand => rotation::rotate_key_on_demand(ctx),
        O::ListKeyRotations => rotation::list_key_rotations(ctx),

        O::CreateAlias => aliases::create_alias(ctx),
        O::UpdateAlias => aliases::update_alias(ctx),
        O::DeleteAlias => aliases::delete_alias(ctx),
        O::ListAliases => aliases::list_aliases(ctx),

        O::TagResource => tags::tag_resource(ctx),
        O::UntagResource => tags::untag_resource(ctx),
        O::ListResourceTags => tags::list_resource_tags(ctx),

        O::CreateGrant => grants::create_grant(ctx),
        O::ListGrants => grants::list_grants(ctx),
        O::ListRetirableGrants => grants::list_retirable_grants(ctx),
        O::RetireGrant => grants::retire_grant(ctx),
        O::RevokeGrant => grants::revoke_grant(ctx),

        O::GetKeyPolicy => policy::get_key_policy(ctx),
        O::PutKeyPolicy => policy::put_key_policy(ctx),
        O::ListKeyPolicies => policy::list_key_policies(ctx),

        O::GetParametersForImport => import::get_parameters_for_import(ctx),
        O::ImportKeyMaterial => import::import_key_material(ctx),
        O::DeleteImportedKeyMaterial => import::delete_imported_key_material(ctx),

        O::ReplicateKey => multi_region::replicate_key(ctx),
        O::UpdatePrimaryRegion => multi_region::update_primary_region(ctx),

        O::ConnectCustomKeyStore
        | O::CreateCustomKeyStore
        | O::DeleteCustomKeyStore
        | O::DescribeCustomKeyStores
        | O::DisconnectCustomKeyStore
        | O::UpdateCustomKeyStore => custom_key_stores::run(ctx, op),
    }
}
