//! GetParametersForImport, ImportKeyMaterial and DeleteImportedKeyMaterial:
//! key material a customer brings, for keys created with `Origin` EXTERNAL.
//!
//! AWS KMS API Reference:
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_GetParametersForImport.html>,
//! `API_ImportKeyMaterial.html`, `API_DeleteImportedKeyMaterial.html`;
//! Developer Guide, "Importing key material"
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html>).
//!
//! # The flow
//!
//! 1. GetParametersForImport generates an RSA wrapping key pair and an import
//!    token, valid for 24 hours. The private key is stored in the key's
//!    record (`KeyRecord::import`), wrapped under the root key with the
//!    distinct key id `<key id>/import`, so it can never be taken for a
//!    version of the key's own material. A later call replaces them.
//! 2. The client wraps its material under the public key:
//!    - `RSAES_OAEP_SHA_1` / `RSAES_OAEP_SHA_256`: RSA-OAEP of the material;
//!    - `RSA_AES_KEY_WRAP_SHA_1` / `RSA_AES_KEY_WRAP_SHA_256`: RSA-OAEP of an
//!      ephemeral AES key (256 or 128 bits), followed by the material wrapped
//!      under that key with AES key wrap with padding (RFC 5649).
//! 3. ImportKeyMaterial checks the token, unwraps, checks that the material
//!    suits the key spec and, when the key has had material before, that it
//!    is the same material; the key then has version 1 and, if it was
//!    PendingImport, becomes Enabled.
//! 4. DeleteImportedKeyMaterial removes the material (the version records);
//!    the key becomes PendingImport and its ciphertexts cannot be decrypted
//!    until the same material is imported again.
//!
//! Telling "the same material" after it was deleted (or expired) needs
//! something that outlives it: `KeyRecord::imported_material_fingerprint`,
//! an HMAC-SHA-256 of the material under a key derived from the root key.
//! It identifies the material without revealing it, even to someone who can
//! read the store but not the root key.
//!
//! The engine has already checked that the key's origin is EXTERNAL (for the
//! first two operations) and its state; the members it does not validate
//! (the wrapping algorithm and key spec, the expiration model, `ValidTo`)
//! are checked here.
//!
//! Not supported: importing further, new material into a key that has had
//! material (`ImportType` NEW_KEY_MATERIAL, for on-demand rotation of
//! imported keys), the deprecated `RSAES_PKCS1_V1_5` wrapping algorithm and
//! the China Regions' SM2 wrapping keys (UnsupportedOperationException).

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_128, AES_256};
use base64::Engine as _;
use kmsgov_authz::KeyState;
use serde_json::{json, Value};

use super::params;
use super::Ctx;
use crate::crypto::{EncryptionAlgorithm, KeyMaterial, KeySpec, SecretBytes};
use crate::error::{ErrorKind, KmsError};
use crate::service::{Kms, LiveKey};
use crate::store::{ImportRecord, KeyVersionRecord};

/// How long import parameters stay valid: 24 hours.
const PARAMETERS_LIFETIME_SECONDS: i64 = 24 * 3600;

/// The furthest `ValidTo` may lie in the future: 365 days.
const MAX_VALID_TO_SECONDS: i64 = 365 * 86_400;

/// GetParametersForImport.
pub(crate) fn get_parameters_for_import(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    let algorithm = Wrapping::parse(params::required(ctx.input, "WrappingAlgorithm")?)?;
    let spec = wrapping_key_spec(params::required(ctx.input, "WrappingKeySpec")?)?;
    let pair = KeyMaterial::generate(spec)?;
    let wrapped_private_key = ctx
        .kms
        .root_key()
        .wrap(&import_wrap_id(&key.record.key_id), 0, pair.expose_secret())
        .map_err(|e| KmsError::internal(format!("wrapping an import key pair: {e}")))?;
    let token = crate::crypto::random_bytes(32)?;
    let token = params::b64(token.expose());
    let valid_to = ctx.now.saturating_add(PARAMETERS_LIFETIME_SECONDS);
    let public_key = pair.public_key_der()?;
    let mut record = key.record.clone();
    record.import = Some(ImportRecord {
        token: token.clone(),
        wrapping_algorithm: algorithm.as_str().to_owned(),
        wrapping_key_spec: spec.as_str().to_owned(),
        wrapped_private_key,
        valid_to,
    });
    ctx.kms.update_key(record)?;
    Ok(json!({
        "KeyId": key.arn,
        "ImportToken": token,
        "PublicKey": params::b64(&public_key),
        "ParametersValidTo": valid_to,
    }))
}

/// ImportKeyMaterial.
pub(crate) fn import_key_material(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let input = ctx.input;
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(input, "KeyId")?)?;
    let token = params::required_blob(input, "ImportToken")?;
    let encrypted = params::required_blob(input, "EncryptedKeyMaterial")?;
    let valid_to = expiration(ctx)?;
    let had_material =
        key.record.imported_material_fingerprint.is_some() || !key.record.versions.is_empty();
    match params::string(input, "ImportType") {
        None | Some("EXISTING_KEY_MATERIAL") => {}
        Some("NEW_KEY_MATERIAL") if had_material => {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperationException,
                format!("{} already has key material; importing new key material into it is not supported by this service.", key.arn),
            ))
        }
        Some("NEW_KEY_MATERIAL") => {}
        Some(other) => {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value '{other}' at 'importType' failed to satisfy constraint: Member must satisfy enum value set: [NEW_KEY_MATERIAL, EXISTING_KEY_MATERIAL]"
            )))
        }
    }

    let import = checked_import(&key, &token, ctx.now)?;
    let plaintext = unwrap_material(ctx.kms, &key, import, &encrypted)?;
    let spec = key.spec()?;
    let material = KeyMaterial::from_bytes(spec, plaintext.expose()).map_err(|_| {
        KmsError::new(
            ErrorKind::IncorrectKeyMaterialException,
            format!("The key material is not valid for a {} key.", spec.as_str()),
        )
    })?;
    let fingerprint = fingerprint(ctx.kms, &key.record.key_id, &material);
    let same = match (
        &key.record.imported_material_fingerprint,
        key.material.first(),
    ) {
        (Some(known), _) => {
            verify_slices_are_equal(known.as_bytes(), fingerprint.as_bytes()).is_ok()
        }
        (None, Some(current)) => {
            verify_slices_are_equal(current.expose_secret(), material.expose_secret()).is_ok()
        }
        (None, None) => true,
    };
    if !same {
        return Err(KmsError::new(
            ErrorKind::IncorrectKeyMaterialException,
            format!(
                "The key material is not the key material previously imported into {}.",
                key.arn
            ),
        ));
    }

    let mut record = key.record.clone();
    if record.versions.is_empty() {
        record.versions.push(KeyVersionRecord {
            version: 1,
            created: ctx.now,
            on_demand: false,
            wrapped_material: ctx.kms.wrap(&record.key_id, 1, &material)?,
        });
    }
    record.imported_material_fingerprint = Some(fingerprint);
    record.material_valid_to = valid_to;
    if record.key_state == KeyState::PendingImport.name() {
        KeyState::Enabled.name().clone_into(&mut record.key_state);
    }
    ctx.kms.update_key(record)?;
    Ok(json!({ "KeyId": key.arn }))
}

/// DeleteImportedKeyMaterial: the key keeps its id, metadata, policy, grants
/// and aliases, but not its material.
pub(crate) fn delete_imported_key_material(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let key = ctx
        .kms
        .live_key(ctx.account, params::required(ctx.input, "KeyId")?)?;
    if key.record.origin != "EXTERNAL" {
        return Err(KmsError::new(
            ErrorKind::UnsupportedOperationException,
            format!(
                "{} origin is {} which is not valid for this operation.",
                key.arn, key.record.origin
            ),
        ));
    }
    let mut record = key.record.clone();
    record.versions.clear();
    record.material_valid_to = None;
    // A key pending deletion stays so; Enabled and Disabled keys wait for
    // their material again.
    if record.key_state == KeyState::Enabled.name() || record.key_state == KeyState::Disabled.name()
    {
        KeyState::PendingImport
            .name()
            .clone_into(&mut record.key_state);
    }
    if record != key.record {
        ctx.kms.update_key(record)?;
    }
    Ok(json!({ "KeyId": key.arn }))
}

// ----- helpers -----

/// A wrapping algorithm (`AlgorithmSpec`) this service supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrapping {
    RsaesOaepSha1,
    RsaesOaepSha256,
    RsaAesKeyWrapSha1,
    RsaAesKeyWrapSha256,
}

impl Wrapping {
    const ALL: [Wrapping; 4] = [
        Wrapping::RsaesOaepSha1,
        Wrapping::RsaesOaepSha256,
        Wrapping::RsaAesKeyWrapSha1,
        Wrapping::RsaAesKeyWrapSha256,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Wrapping::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            Wrapping::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
            Wrapping::RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
            Wrapping::RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        }
    }

    fn parse(name: &str) -> Result<Wrapping, KmsError> {
        if let Some(w) = Wrapping::ALL.into_iter().find(|w| w.as_str() == name) {
            return Ok(w);
        }
        match name {
            "RSAES_PKCS1_V1_5" | "SM2PKE" => Err(KmsError::new(
                ErrorKind::UnsupportedOperationException,
                format!("The wrapping algorithm {name} is not supported by this service."),
            )),
            other => Err(KmsError::validation(format!(
                "1 validation error detected: Value '{other}' at 'wrappingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RSA_AES_KEY_WRAP_SHA_256, RSA_AES_KEY_WRAP_SHA_1, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSAES_PKCS1_V1_5, SM2PKE]"
            ))),
        }
    }

    /// The RSA-OAEP variant used for the material or the ephemeral AES key.
    fn oaep(self) -> EncryptionAlgorithm {
        match self {
            Wrapping::RsaesOaepSha1 | Wrapping::RsaAesKeyWrapSha1 => {
                EncryptionAlgorithm::RsaesOaepSha1
            }
            Wrapping::RsaesOaepSha256 | Wrapping::RsaAesKeyWrapSha256 => {
                EncryptionAlgorithm::RsaesOaepSha256
            }
        }
    }

    fn is_key_wrap(self) -> bool {
        matches!(
            self,
            Wrapping::RsaAesKeyWrapSha1 | Wrapping::RsaAesKeyWrapSha256
        )
    }
}

/// `WrappingKeySpec`: RSA_2048, RSA_3072 or RSA_4096.
fn wrapping_key_spec(name: &str) -> Result<KeySpec, KmsError> {
    match name {
        "RSA_2048" => Ok(KeySpec::Rsa2048),
        "RSA_3072" => Ok(KeySpec::Rsa3072),
        "RSA_4096" => Ok(KeySpec::Rsa4096),
        "SM2" => Err(KmsError::new(
            ErrorKind::UnsupportedOperationException,
            "The wrapping key spec SM2 is not supported by this service.",
        )),
        other => Err(KmsError::validation(format!(
            "1 validation error detected: Value '{other}' at 'wrappingKeySpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, SM2]"
        ))),
    }
}

/// The root-key wrapping id of a key's import key pair.
fn import_wrap_id(key_id: &str) -> String {
    format!("{key_id}/import")
}

/// `ExpirationModel` and `ValidTo`: the time the material expires, if it
/// does. The default model is KEY_MATERIAL_EXPIRES, which needs `ValidTo`.
fn expiration(ctx: &Ctx<'_>) -> Result<Option<i64>, KmsError> {
    let valid_to = match ctx.input.get("ValidTo") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|t| t.is_finite())
                .ok_or_else(|| {
                    KmsError::validation(
                        "1 validation error detected: Value at 'validTo' failed to satisfy constraint: Member must be a timestamp",
                    )
                })?,
        ),
    };
    match params::string(ctx.input, "ExpirationModel").unwrap_or("KEY_MATERIAL_EXPIRES") {
        "KEY_MATERIAL_EXPIRES" => {
            let Some(t) = valid_to else {
                return Err(KmsError::validation(
                    "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.",
                ));
            };
            // Fractional seconds round up; `as` saturates for out-of-range values.
            let t = t.ceil() as i64;
            if t <= ctx.now {
                return Err(KmsError::validation(
                    "ValidTo must be a date and time in the future.",
                ));
            }
            if t > ctx.now.saturating_add(MAX_VALID_TO_SECONDS) {
                return Err(KmsError::validation(
                    "ValidTo must be no more than 365 days from the request date.",
                ));
            }
            Ok(Some(t))
        }
        "KEY_MATERIAL_DOES_NOT_EXPIRE" => {
            if valid_to.is_some() {
                return Err(KmsError::validation(
                    "ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.",
                ));
            }
            Ok(None)
        }
        other => Err(KmsError::validation(format!(
            "1 validation error detected: Value '{other}' at 'expirationModel' failed to satisfy constraint: Member must satisfy enum value set: [KEY_MATERIAL_EXPIRES, KEY_MATERIAL_DOES_NOT_EXPIRE]"
        ))),
    }
}

/// The key's import parameters, if `token` is their current, unexpired token.
fn checked_import<'a>(
    key: &'a LiveKey,
    token: &[u8],
    now: i64,
) -> Result<&'a ImportRecord, KmsError> {
    let invalid = || {
        KmsError::new(
            ErrorKind::InvalidImportTokenException,
            format!(
                "The import token is invalid or is associated with a different KMS key than {}.",
                key.arn
            ),
        )
    };
    let import = key.record.import.as_ref().ok_or_else(invalid)?;
    let expected = base64::engine::general_purpose::STANDARD
        .decode(&import.token)
        .map_err(|_| invalid())?;
    if verify_slices_are_equal(&expected, token).is_err() {
        return Err(invalid());
    }
    if now >= import.valid_to {
        return Err(KmsError::new(
            ErrorKind::ExpiredImportTokenException,
            "The import token is expired. Use GetParametersForImport to get a new import token and public key, use the new public key to encrypt the key material, and then try the request again.",
        ));
    }
    Ok(import)
}

/// Unwraps `encrypted` with the key's import key pair.
fn unwrap_material(
    kms: &Kms,
    key: &LiveKey,
    import: &ImportRecord,
    encrypted: &[u8],
) -> Result<SecretBytes, KmsError> {
    let internal =
        |what: &str| KmsError::internal(format!("import parameters of {}: {what}", key.arn));
    let algorithm = Wrapping::parse(&import.wrapping_algorithm)
        .map_err(|_| internal("unknown wrapping algorithm"))?;
    let spec: KeySpec = import
        .wrapping_key_spec
        .parse()
        .map_err(|_| internal("unknown wrapping key spec"))?;
    let private_key = kms
        .root_key()
        .unwrap(
            &import_wrap_id(&key.record.key_id),
            0,
            &import.wrapped_private_key,
        )
        .map_err(|_| internal("the wrapping key does not unwrap"))?;
    let wrapping_key = KeyMaterial::from_bytes(spec, &private_key)
        .map_err(|_| internal("the wrapping key does not parse"))?;
    let oaep = |ciphertext: &[u8]| {
        wrapping_key
            .rsa_decrypt(algorithm.oaep(), ciphertext)
            .map_err(|e| match KmsError::from(e) {
                e if e.kind == ErrorKind::KMSInternalException => e,
                _ => cannot_unwrap(),
            })
    };
    if !algorithm.is_key_wrap() {
        return oaep(encrypted);
    }
    let rsa_len = spec.rsa_bits().unwrap_or(0) / 8;
    let (wrapped_aes_key, wrapped_material) = encrypted
        .split_at_checked(rsa_len)
        .filter(|(_, rest)| !rest.is_empty())
        .ok_or_else(cannot_unwrap)?;
    let aes_key = oaep(wrapped_aes_key)?;
    let cipher = match aes_key.len() {
        32 => &AES_256,
        16 => &AES_128,
        _ => return Err(cannot_unwrap()),
    };
    let kek = AesKek::new(cipher, aes_key.expose()).map_err(|_| cannot_unwrap())?;
    let mut out = SecretBytes::new(vec![0; wrapped_material.len()]);
    let len = kek
        .unwrap_with_padding(wrapped_material, out.expose_mut())
        .map_err(|_| cannot_unwrap())?
        .len();
    out.truncate(len);
    Ok(out)
}

fn cannot_unwrap() -> KmsError {
    KmsError::new(
        ErrorKind::InvalidCiphertextException,
        "The encrypted key material could not be decrypted with the wrapping key and algorithm of the import parameters.",
    )
}

/// HMAC-SHA-256 of the key id and the material under a key derived from the
/// root key, as lowercase hex.
fn fingerprint(kms: &Kms, key_id: &str, material: &KeyMaterial) -> String {
    use aws_lc_rs::hmac;
    let root = hmac::Key::new(hmac::HMAC_SHA256, kms.root_key().expose_bytes());
    let derived = hmac::sign(&root, b"kmsgov/imported-material-fingerprint/v1");
    let key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(&(key_id.len() as u64).to_be_bytes());
    ctx.update(key_id.as_bytes());
    ctx.update(material.expose_secret());
    crate::crypto::hex(ctx.sign().as_ref())
}
