//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, GenerateDataKeyPair*,
//! GenerateRandom.

use serde_json::{json, Value};

use super::params;
use super::Ctx;
use crate::ciphertext;
use crate::crypto::{EncryptionAlgorithm, KeySpec, SecretBytes};
use crate::error::{ErrorKind, KmsError};
use crate::service::LiveKey;

/// Encrypts `plaintext` under `key` with `algorithm`: the kmsgov ciphertext
/// format for symmetric keys, RSAES-OAEP for RSA keys.
pub(crate) fn encrypt_with(
    key: &LiveKey,
    algorithm: EncryptionAlgorithm,
    plaintext: &[u8],
    context: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<u8>, KmsError> {
    let (material, version) = key.current()?;
    if algorithm == EncryptionAlgorithm::SymmetricDefault {
        Ok(ciphertext::encrypt(
            material,
            &key.record.key_id,
            version,
            plaintext,
            context,
            None,
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
    let blob = encrypt_with(&key, algorithm, plaintext.expose(), &context)?;
    Ok(json!({
        "CiphertextBlob": params::b64(&blob),
        "KeyId": key.arn,
        "EncryptionAlgorithm": algorithm.as_str(),
    }))
}

/// Decrypt.
pub(crate) fn decrypt(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let blob = params::required_blob(ctx.input, "CiphertextBlob")?;
    let key = match params::string(ctx.input, "KeyId") {
        Some(id) => ctx.kms.live_key(ctx.account, id)?,
        None => {
            let header = ciphertext::parse(&blob).map_err(invalid_ciphertext)?;
            ctx.kms
                .live_key_by_id(header.key_id())
                .ok_or_else(|| invalid_ciphertext(()))?
        }
    };
    let algorithm = algorithm(ctx, "EncryptionAlgorithm", &key)?;
    let context = params::context(ctx.input, "EncryptionContext");
    let plaintext = decrypt_with(&key, algorithm, &blob, &context)?;
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
    let blob = encrypt_with(
        &key,
        EncryptionAlgorithm::SymmetricDefault,
        data_key.expose(),
        &context,
    )?;
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

/// ReEncrypt.
pub(crate) fn re_encrypt(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(not_yet("ReEncrypt"))
}

/// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext.
pub(crate) fn generate_data_key_pair(
    _ctx: &Ctx<'_>,
    _with_plaintext: bool,
) -> Result<Value, KmsError> {
    Err(not_yet("GenerateDataKeyPair"))
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

pub(crate) fn not_yet(op: &str) -> KmsError {
    KmsError::new(
        ErrorKind::UnsupportedOperationException,
        format!("{op} is not supported by this service."),
    )
}
