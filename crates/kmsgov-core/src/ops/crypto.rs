//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, GenerateDataKeyPair*,
//! GenerateRandom.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::data_use;
use super::params;
use super::Ctx;
use crate::ciphertext;
use crate::crypto::{CryptoError, EncryptionAlgorithm, KeyMaterial, KeySpec, SecretBytes};
use crate::data_use::DataUsePolicy;
use crate::error::{ErrorKind, KmsError};
use crate::service::LiveKey;

/// Encrypts `plaintext` under `key` with `algorithm`: the kmsgov ciphertext
/// format for symmetric keys, RSAES-OAEP for RSA keys.
pub(crate) fn encrypt_with(
    key: &LiveKey,
    algorithm: EncryptionAlgorithm,
    plaintext: &[u8],
    context: &std::collections::BTreeMap<String, String>,
    governance: Option<&ciphertext::Governance>,
) -> Result<Vec<u8>, KmsError> {
    let (material, version) = key.current()?;
    if algorithm == EncryptionAlgorithm::SymmetricDefault {
        Ok(ciphertext::encrypt(
            material,
            &key.record.key_id,
            version,
            plaintext,
            context,
            governance,
        )?)
    } else {
        Ok(material.rsa_encrypt(algorithm, plaintext)?)
    }
}

/// Decrypts a blob under `key`: symmetric blobs name their key version.
pub(crate) fn decrypt_with(
    key: &LiveKey,
    algorithm: EncryptionAlgorithm,
    blob: &[u8],
    context: &std::collections::BTreeMap<String, String>,
) -> Result<SecretBytes, KmsError> {
    if algorithm == EncryptionAlgorithm::SymmetricDefault {
        let header = ciphertext::parse(blob).map_err(invalid_ciphertext)?;
        if header.key_id() != key.record.key_id {
            return Err(KmsError::new(
                ErrorKind::IncorrectKeyException,
                "The key ID in the request does not identify a KMS key that can perform this operation.",
            ));
        }
        let material = key
            .version(header.key_version())
            .ok_or_else(|| invalid_ciphertext(()))?;
        Ok(ciphertext::decrypt(material, &header, blob, context)?)
    } else {
        let (material, _) = key.current()?;
        Ok(material.rsa_decrypt(algorithm, blob)?)
    }
}

/// For a symmetric blob: its header and bound data-use policy, after the
/// policy's checks ([`data_use::check_decrypt`]); `None` for a blob bound to
/// nothing and for asymmetric ciphertexts.
fn governed_source(
    ctx: &Ctx<'_>,
    algorithm: EncryptionAlgorithm,
    blob: &[u8],
    context: &std::collections::BTreeMap<String, String>,
    releases_plaintext: bool,
) -> Result<Option<(Arc<DataUsePolicy>, ciphertext::Header)>, KmsError> {
    if algorithm != EncryptionAlgorithm::SymmetricDefault {
        return Ok(None);
    }
    let header = ciphertext::parse(blob).map_err(invalid_ciphertext)?;
    Ok(
        data_use::check_decrypt(ctx, &header, context, releases_plaintext)?
            .map(|policy| (policy, header)),
    )
}

/// Records a new governed blob for the audit leaf (and, with `released`,
/// drafts the receipt for the plaintext that leaves).
fn record_encryption(
    ctx: &Ctx<'_>,
    binding: &data_use::Binding,
    key: &LiveKey,
    blob: &[u8],
    released: Option<&[u8]>,
) -> Result<(), KmsError> {
    let header = ciphertext::parse(blob).map_err(invalid_ciphertext)?;
    data_use::record_use(
        ctx,
        &binding.policy,
        header.hash(blob),
        key,
        header.key_version(),
        released,
    )
}

fn invalid_ciphertext<E>(_: E) -> KmsError {
    KmsError::new(ErrorKind::InvalidCiphertextException, "")
}

/// The `EncryptionAlgorithm` member (default `SYMMETRIC_DEFAULT`), checked
/// against the key's spec.
pub(crate) fn algorithm(
    ctx: &Ctx<'_>,
    member: &str,
    key: &LiveKey,
) -> Result<EncryptionAlgorithm, KmsError> {
    let name = params::string(ctx.input, member).unwrap_or("SYMMETRIC_DEFAULT");
    let algorithm: EncryptionAlgorithm = name.parse()?;
    let spec = key.spec()?;
    if algorithm.max_plaintext_len(spec).is_none() {
        return Err(KmsError::new(
            ErrorKind::InvalidKeyUsageException,
            format!(
                "{} key {} cannot use {} algorithm",
                spec.as_str(),
                key.arn,
                algorithm.as_str()
            ),
        ));
    }
    Ok(algorithm)
}

/// Encrypt.
pub(crate) fn encrypt(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    let plaintext = SecretBytes::new(params::required_blob(ctx.input, "Plaintext")?);
    let algorithm = algorithm(ctx, "EncryptionAlgorithm", &key)?;
    let context = params::context(ctx.input, "EncryptionContext");
    let binding = match algorithm {
        EncryptionAlgorithm::SymmetricDefault => {
            data_use::binding_for_encrypt(ctx, &key, &context)?
        }
        _ => None,
    };
    let blob = encrypt_with(
        &key,
        algorithm,
        plaintext.expose(),
        &context,
        binding.as_ref().map(|b| &b.fields),
    )?;
    if let Some(binding) = &binding {
        record_encryption(ctx, binding, &key, &blob, None)?;
    }
    Ok(json!({
        "CiphertextBlob": params::b64(&blob),
        "KeyId": key.arn,
        "EncryptionAlgorithm": algorithm.as_str(),
    }))
}

/// Decrypt.
pub(crate) fn decrypt(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let blob = ciphertext_blob(ctx)?;
    let key = source_key(ctx, "KeyId", &blob)?;
    let algorithm = algorithm(ctx, "EncryptionAlgorithm", &key)?;
    let context = params::context(ctx.input, "EncryptionContext");
    let bound = governed_source(ctx, algorithm, &blob, &context, true)?;
    let plaintext = decrypt_with(&key, algorithm, &blob, &context)?;
    if let Some((policy, header)) = bound {
        data_use::record_use(
            ctx,
            &policy,
            header.hash(&blob),
            &key,
            header.key_version(),
            Some(plaintext.expose()),
        )?;
    }
    Ok(json!({
        "KeyId": key.arn,
        "Plaintext": params::b64(plaintext.expose()),
        "EncryptionAlgorithm": algorithm.as_str(),
    }))
}

/// GenerateDataKey and GenerateDataKeyWithoutPlaintext.
pub(crate) fn generate_data_key(ctx: &Ctx<'_>, with_plaintext: bool) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    if key.spec()? != KeySpec::SymmetricDefault {
        return Err(KmsError::new(
            ErrorKind::InvalidKeyUsageException,
            format!(
                "{} key {} cannot generate data keys",
                key.record.key_spec, key.arn
            ),
        ));
    }
    let len = match (
        params::string(ctx.input, "KeySpec"),
        params::integer(ctx.input, "NumberOfBytes"),
    ) {
        (Some("AES_128"), _) => 16,
        (Some(_), _) => 32,
        (None, Some(n)) => usize::try_from(n).unwrap_or(32),
        (None, None) => 32,
    };
    let data_key = crate::crypto::random_bytes(len)?;
    let context = params::context(ctx.input, "EncryptionContext");
    let binding = data_use::binding_for_encrypt(ctx, &key, &context)?;
    if let Some(binding) = &binding {
        data_use::check_stated(ctx, &binding.policy)?;
    }
    let blob = encrypt_with(
        &key,
        EncryptionAlgorithm::SymmetricDefault,
        data_key.expose(),
        &context,
        binding.as_ref().map(|b| &b.fields),
    )?;
    if let Some(binding) = &binding {
        let released = with_plaintext.then(|| data_key.expose());
        record_encryption(ctx, binding, &key, &blob, released)?;
    }
    let mut out = json!({
        "CiphertextBlob": params::b64(&blob),
        "KeyId": key.arn,
    });
    if with_plaintext {
        if let Value::Object(m) = &mut out {
            m.insert("Plaintext".into(), json!(params::b64(data_key.expose())));
        }
    }
    Ok(out)
}

/// ReEncrypt: decrypts under the source key (named by a symmetric blob, or
/// by `SourceKeyId` with `SourceEncryptionAlgorithm` for RSA ciphertexts)
/// and encrypts the plaintext under the destination key, without the
/// plaintext leaving the service.
pub(crate) fn re_encrypt(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let blob = ciphertext_blob(ctx)?;
    let source = source_key(ctx, "SourceKeyId", &blob)?;
    let source_algorithm = algorithm(ctx, "SourceEncryptionAlgorithm", &source)?;
    let destination = ctx.kms.live_key(
        ctx.account,
        params::required(ctx.input, "DestinationKeyId")?,
    )?;
    let destination_algorithm = algorithm(ctx, "DestinationEncryptionAlgorithm", &destination)?;
    let source_context = params::context(ctx.input, "SourceEncryptionContext");
    let bound = governed_source(ctx, source_algorithm, &blob, &source_context, false)?;
    let plaintext = decrypt_with(&source, source_algorithm, &blob, &source_context)?;
    let destination_context = params::context(ctx.input, "DestinationEncryptionContext");
    let binding = match destination_algorithm {
        EncryptionAlgorithm::SymmetricDefault => data_use::binding_for_reencrypt(
            ctx,
            &destination,
            &destination_context,
            bound.as_ref().map(|(policy, _)| policy),
        )?,
        _ if bound.is_some() => {
            return Err(KmsError::new(
                ErrorKind::AccessDeniedException,
                "A ciphertext bound to a data-use policy can be re-encrypted only under a symmetric key, which keeps the binding.",
            ))
        }
        _ => None,
    };
    let reencrypted = encrypt_with(
        &destination,
        destination_algorithm,
        plaintext.expose(),
        &destination_context,
        binding.as_ref().map(|b| &b.fields),
    )?;
    if let Some(binding) = &binding {
        record_encryption(ctx, binding, &destination, &reencrypted, None)?;
    }
    Ok(json!({
        "CiphertextBlob": params::b64(&reencrypted),
        "SourceKeyId": source.arn,
        "KeyId": destination.arn,
        "SourceEncryptionAlgorithm": source_algorithm.as_str(),
        "DestinationEncryptionAlgorithm": destination_algorithm.as_str(),
    }))
}

/// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext: a new RSA
/// or elliptic-curve key pair whose private key (PKCS#8 DER) is returned
/// encrypted under the symmetric KMS key, bound to the `EncryptionContext`,
/// so that Decrypt gives it back; the public key is DER
/// SubjectPublicKeyInfo.
pub(crate) fn generate_data_key_pair(
    ctx: &Ctx<'_>,
    with_plaintext: bool,
) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    let spec = data_key_pair_spec(params::required(ctx.input, "KeyPairSpec")?)?;
    let pair = KeyMaterial::generate(spec)?;
    let public_key = pair.public_key_der()?;
    let context = params::context(ctx.input, "EncryptionContext");
    let binding = data_use::binding_for_encrypt(ctx, &key, &context)?;
    if let Some(binding) = &binding {
        data_use::check_stated(ctx, &binding.policy)?;
    }
    let blob = encrypt_with(
        &key,
        EncryptionAlgorithm::SymmetricDefault,
        pair.expose_secret(),
        &context,
        binding.as_ref().map(|b| &b.fields),
    )?;
    if let Some(binding) = &binding {
        let released = with_plaintext.then(|| pair.expose_secret());
        record_encryption(ctx, binding, &key, &blob, released)?;
    }
    let mut out = Map::new();
    out.insert("PrivateKeyCiphertextBlob".into(), json!(params::b64(&blob)));
    if with_plaintext {
        out.insert(
            "PrivateKeyPlaintext".into(),
            json!(params::b64(pair.expose_secret())),
        );
    }
    out.insert("PublicKey".into(), json!(params::b64(&public_key)));
    out.insert("KeyId".into(), json!(key.arn));
    out.insert("KeyPairSpec".into(), json!(spec.as_str()));
    Ok(Value::Object(out))
}

/// GenerateRandom.
pub(crate) fn generate_random(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    if params::string(ctx.input, "CustomKeyStoreId").is_some() {
        return Err(KmsError::new(
            ErrorKind::CustomKeyStoreNotFoundException,
            "Custom key stores are not supported by this service.",
        ));
    }
    let n = params::integer(ctx.input, "NumberOfBytes")
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(32);
    let bytes = crate::crypto::random_bytes(n)?;
    Ok(json!({ "Plaintext": params::b64(bytes.expose()) }))
}

/// The key that decrypts `blob`: the one `member` names, else the one a
/// symmetric blob names (an RSA ciphertext names none, so it needs
/// `member`).
/// The decoded `CiphertextBlob` (decoded once per request).
fn ciphertext_blob<'c>(ctx: &'c Ctx<'_>) -> Result<std::borrow::Cow<'c, [u8]>, KmsError> {
    match &ctx.ciphertext {
        Some(b) => Ok(std::borrow::Cow::Borrowed(b)),
        None => params::required_blob(ctx.input, "CiphertextBlob").map(std::borrow::Cow::Owned),
    }
}

fn source_key(ctx: &Ctx<'_>, member: &str, blob: &[u8]) -> Result<Arc<LiveKey>, KmsError> {
    match params::string(ctx.input, member) {
        Some(id) => ctx.kms.live_key(ctx.account, id),
        None => {
            let header = ciphertext::parse(blob).map_err(invalid_ciphertext)?;
            ctx.kms
                .live_key_by_id(header.key_id())
                .ok_or_else(|| invalid_ciphertext(()))
        }
    }
}

/// A `KeyPairSpec` kmsgov generates: the RSA and elliptic-curve specs.
/// `SM2` and `ECC_NIST_EDWARDS25519` are valid AWS values that kmsgov does
/// not implement.
fn data_key_pair_spec(name: &str) -> Result<KeySpec, KmsError> {
    match name.parse::<KeySpec>() {
        Ok(spec) if spec.is_asymmetric() => Ok(spec),
        Err(CryptoError::UnsupportedKeySpec(_)) => Err(KmsError::new(
            ErrorKind::UnsupportedOperationException,
            format!("KeyPairSpec {name} is not supported by this service."),
        )),
        _ => Err(KmsError::validation(format!(
            "1 validation error detected: Value '{name}' at 'keyPairSpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, ECC_NIST_EDWARDS25519, SM2]"
        ))),
    }
}
