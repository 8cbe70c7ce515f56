//! Sign, Verify, GenerateMac, VerifyMac, GetPublicKey, DeriveSharedSecret.
//!
//! The engine has already checked that the key's usage fits the operation
//! and that the signing or MAC algorithm fits the key's spec
//! (`kmsgov-authz` `keystate::usage_error`); what is left here is the
//! message type, the message and the cryptography.

use serde_json::{json, Map, Value};

use super::params;
use super::Ctx;
use crate::crypto::{MacAlgorithm, MessageType, SigningAlgorithm};
use crate::error::KmsError;

/// Sign: the signature of `Message` (`RAW`, the default, or `DIGEST`).
pub(crate) fn sign(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    let algorithm: SigningAlgorithm = params::required(ctx.input, "SigningAlgorithm")?.parse()?;
    let message_type = message_type(ctx)?;
    let message = params::required_blob(ctx.input, "Message")?;
    let (material, _) = key.current()?;
    let signature = material.sign(algorithm, message_type, &message)?;
    Ok(json!({
        "KeyId": key.arn,
        "Signature": params::b64(&signature),
        "SigningAlgorithm": algorithm.as_str(),
    }))
}

/// Verify: `SignatureValid` is true, or the call fails with
/// `KMSInvalidSignatureException`.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    let algorithm: SigningAlgorithm = params::required(ctx.input, "SigningAlgorithm")?.parse()?;
    let message_type = message_type(ctx)?;
    let message = params::required_blob(ctx.input, "Message")?;
    let signature = params::required_blob(ctx.input, "Signature")?;
    let (material, _) = key.current()?;
    material.verify(algorithm, message_type, &message, &signature)?;
    Ok(json!({
        "KeyId": key.arn,
        "SignatureValid": true,
        "SigningAlgorithm": algorithm.as_str(),
    }))
}

/// GenerateMac: the HMAC of `Message`.
pub(crate) fn generate_mac(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    let algorithm: MacAlgorithm = params::required(ctx.input, "MacAlgorithm")?.parse()?;
    let message = params::required_blob(ctx.input, "Message")?;
    let (material, _) = key.current()?;
    let mac = material.generate_mac(algorithm, &message)?;
    Ok(json!({
        "Mac": params::b64(&mac),
        "MacAlgorithm": algorithm.as_str(),
        "KeyId": key.arn,
    }))
}

/// VerifyMac: `MacValid` is true, or the call fails with
/// `KMSInvalidMacException`.
pub(crate) fn verify_mac(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    let algorithm: MacAlgorithm = params::required(ctx.input, "MacAlgorithm")?.parse()?;
    let message = params::required_blob(ctx.input, "Message")?;
    let mac = params::required_blob(ctx.input, "Mac")?;
    let (material, _) = key.current()?;
    material.verify_mac(algorithm, &message, &mac)?;
    Ok(json!({
        "KeyId": key.arn,
        "MacValid": true,
        "MacAlgorithm": algorithm.as_str(),
    }))
}

/// GetPublicKey: the DER SubjectPublicKeyInfo of an asymmetric key, with
/// the key's spec, usage and the algorithms of that usage.
pub(crate) fn get_public_key(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    let (material, _) = key.current()?;
    let public_key = material.public_key_der()?;
    let metadata = super::keys::key_metadata(ctx.kms, &key);
    let mut out = Map::new();
    out.insert("KeyId".into(), json!(key.arn));
    out.insert("PublicKey".into(), json!(params::b64(&public_key)));
    for member in [
        "CustomerMasterKeySpec",
        "KeySpec",
        "KeyUsage",
        "EncryptionAlgorithms",
        "SigningAlgorithms",
        "KeyAgreementAlgorithms",
    ] {
        if let Some(value) = metadata.get(member) {
            out.insert(member.into(), value.clone());
        }
    }
    Ok(Value::Object(out))
}

/// DeriveSharedSecret: ECDH between the key's private key and the peer's
/// `PublicKey` (DER SubjectPublicKeyInfo on the same curve).
pub(crate) fn derive_shared_secret(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    // The engine has checked that it is `ECDH`, the only algorithm.
    let algorithm = params::required(ctx.input, "KeyAgreementAlgorithm")?;
    let peer = params::required_blob(ctx.input, "PublicKey")?;
    let (material, _) = key.current()?;
    let secret = material.derive_shared_secret(&peer)?;
    Ok(json!({
        "KeyId": key.arn,
        "SharedSecret": params::b64(secret.expose()),
        "KeyAgreementAlgorithm": algorithm,
        "KeyOrigin": key.record.origin,
    }))
}

/// The `MessageType` member; `RAW` when absent.
fn message_type(ctx: &Ctx<'_>) -> Result<MessageType, KmsError> {
    Ok(params::string(ctx.input, "MessageType")
        .unwrap_or("RAW")
        .parse()?)
}
