//! The symmetric ciphertext blob: what `Encrypt` returns for a
//! `SYMMETRIC_DEFAULT` key and `Decrypt` takes without a `KeyId`.
//!
//! The byte layout is documented in `docs/ciphertext-format.md`; in short:
//!
//! ```text
//! "GKMS" | version 0x01 | suite 0x01 | flags u16
//! | key id length u8 | key id | key version u32 | salt (32)
//! | [policy id (32) | governance size u64]        if flags bit 3
//! | commitment (32) | iv (12) | ciphertext | tag (16)
//! ```
//!
//! Everything up to the commitment is the *header core*.
//! Each message gets its own AES-256-GCM key and a 256-bit commitment: the
//! two halves of one 64-byte HKDF-SHA-512 output (HKDF-Expand with the key
//! version's material as the PRK), with the digests of the header core
//! (which holds the random salt) and of the canonical encryption context in
//! the HKDF info (suite 0x01 of `governance.md` §6.4).
//! The AES-GCM AAD is the header core, the commitment and the canonical
//! encryption context; the IV is authenticated by GCM itself.
//!
//! Decrypt parses the header (no key needed: the key id and version name the
//! material), derives the keys, compares the commitment in constant time, and
//! only then opens the AEAD.
//! So a ciphertext opens under one key only (key commitment), and changing
//! any header byte, the governance fields or the encryption context fails at
//! the commitment, before any AEAD work.
//!
//! The encryption context is encoded canonically: entries sorted by key
//! bytes, each key and value length-prefixed, so `{"a":"bc"}` and
//! `{"ab":"c"}` are different contexts (see [`canonical_encryption_context`]).
//!
//! ```
//! use std::collections::BTreeMap;
//! use kmsgov_core::ciphertext;
//! use kmsgov_core::crypto::{KeyMaterial, KeySpec};
//!
//! let material = KeyMaterial::generate(KeySpec::SymmetricDefault)?;
//! let context = BTreeMap::from([("purpose".to_owned(), "example".to_owned())]);
//! let blob = ciphertext::encrypt(&material, "1234abcd-12ab-34cd-56ef-1234567890ab", 1, b"secret", &context, None)?;
//!
//! let header = ciphertext::parse(&blob)?;
//! assert_eq!(header.key_id(), "1234abcd-12ab-34cd-56ef-1234567890ab");
//! let plaintext = ciphertext::decrypt(&material, &header, &blob, &context)?;
//! assert_eq!(plaintext.expose(), b"secret");
//! assert!(ciphertext::decrypt(&material, &header, &blob, &BTreeMap::new()).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use zeroize::Zeroize;

use crate::crypto::{fill_random, CryptoError, KeyMaterial, KeySpec, SecretBytes};

/// The first four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"GKMS";
/// The format version this module writes and reads.
pub const FORMAT_VERSION: u8 = 0x01;
/// Suite 0x01: HKDF-SHA-512 → AES-256-GCM with a 256-bit key commitment.
pub const SUITE_HKDF_SHA512_AES_256_GCM_COMMIT: u8 = 0x01;
/// The largest plaintext `Encrypt` takes, as in KMS.
pub const MAX_PLAINTEXT_LEN: usize = 4096;
/// The largest blob `parse` accepts: KMS's `CiphertextBlob` limit.
pub const MAX_CIPHERTEXT_LEN: usize = 6144;
/// The longest key id a blob can name.
pub const MAX_KEY_ID_LEN: usize = 255;

/// Flag bit 0, `ec_stored` in `governance.md` §6.4: reserved, must be zero.
const FLAG_EC_STORED: u16 = 1 << 0;
/// Flag bit 1, `receipt_required`: reserved, must be zero.
const FLAG_RECEIPT_REQUIRED: u16 = 1 << 1;
/// Flag bit 2, `plaintext_is_data_key`: reserved, must be zero.
const FLAG_PLAINTEXT_IS_DATA_KEY: u16 = 1 << 2;
/// Flag bit 3: the governance fields are present.
const FLAG_GOVERNANCE: u16 = 1 << 3;
/// The flags this version understands.
const KNOWN_FLAGS: u16 = FLAG_GOVERNANCE;
const _: () = assert!(
    KNOWN_FLAGS & (FLAG_EC_STORED | FLAG_RECEIPT_REQUIRED | FLAG_PLAINTEXT_IS_DATA_KEY) == 0
);

const SALT_LEN: usize = 32;
const POLICY_ID_LEN: usize = 32;
const COMMITMENT_LEN: usize = 32;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
const DATA_KEY_LEN: usize = 32;

const LABEL_HEADER: &[u8] = b"kmsgov/ct/v1/header";
const LABEL_CONTEXT: &[u8] = b"kmsgov/ct/v1/ec";
const LABEL_DERIVED_KEYS: &[u8] = b"kmsgov/ct/v1/dk";

/// The governance fields a blob may carry (`governance.md` §6.4): the data-use
/// policy it is bound to and the governance-log position that allowed the
/// encryption.
/// Both are covered by the key derivation, so they cannot be stripped or
/// swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Governance {
    /// The policy id (SHA-256) of the data-use policy.
    pub policy_id: [u8; POLICY_ID_LEN],
    /// The governance-log size whose checkpoint authorized the encryption.
    pub governance_size: u64,
}

/// The parsed header of a blob: which key version decrypts it, and its
/// governance fields.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    key_id: String,
    key_version: u32,
    governance: Option<Governance>,
    salt: [u8; SALT_LEN],
    commitment: [u8; COMMITMENT_LEN],
    iv: [u8; IV_LEN],
    core_len: usize,
}

impl Header {
    /// The key id (never an ARN or alias).
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The key version, from 1.
    #[must_use]
    pub fn key_version(&self) -> u32 {
        self.key_version
    }

    /// The governance fields, if the blob has them.
    #[must_use]
    pub fn governance(&self) -> Option<&Governance> {
        self.governance.as_ref()
    }

    /// The hash that names this ciphertext in audit leaves and use
    /// receipts: SHA-256(`kmsgov/cth` || header core || commitment), where
    /// `blob` is the blob this header was parsed from.
    #[must_use]
    pub fn hash(&self, blob: &[u8]) -> [u8; 32] {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        context.update(b"kmsgov/cth");
        context.update(blob.get(..self.core_len).unwrap_or_default());
        context.update(&self.commitment);
        let mut out = [0u8; 32];
        out.copy_from_slice(context.finish().as_ref());
        out
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("key_id", &self.key_id)
            .field("key_version", &self.key_version)
            .field("governance", &self.governance)
            .finish_non_exhaustive()
    }
}

/// Why a blob was rejected.
///
/// Every variant becomes `InvalidCiphertextException`; the variants exist for
/// audit records and tests, and the client sees one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CiphertextError {
    /// The blob ends inside a field.
    Truncated,
    /// The blob is longer than [`MAX_CIPHERTEXT_LEN`], or its ciphertext
    /// longer than [`MAX_PLAINTEXT_LEN`] allows.
    TooLarge,
    /// The blob does not start with [`MAGIC`].
    BadMagic,
    /// A format version this build does not read.
    UnsupportedVersion(u8),
    /// A suite this build does not implement.
    UnsupportedSuite(u8),
    /// Flag bits this version does not define.
    UnsupportedFlags(u16),
    /// An empty key id, or one that is not printable ASCII.
    InvalidKeyId,
    /// Key version 0.
    InvalidKeyVersion,
    /// The header given to `decrypt` is not the blob's.
    HeaderMismatch,
    /// The key commitment does not match: wrong key, wrong version, changed
    /// header or governance fields, or wrong encryption context.
    CommitmentMismatch,
    /// AES-GCM authentication failed (or, for RSA, OAEP decoding failed).
    AuthenticationFailed,
}

impl fmt::Display for CiphertextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("ciphertext is truncated"),
            Self::TooLarge => f.write_str("ciphertext is too large"),
            Self::BadMagic => f.write_str("ciphertext is not a kmsgov ciphertext"),
            Self::UnsupportedVersion(version) => {
                write!(f, "ciphertext format version {version} is not supported")
            }
            Self::UnsupportedSuite(suite) => {
                write!(f, "ciphertext suite {suite} is not supported")
            }
            Self::UnsupportedFlags(flags) => {
                write!(f, "ciphertext flags {flags:#06x} are not supported")
            }
            Self::InvalidKeyId => f.write_str("ciphertext key id is invalid"),
            Self::InvalidKeyVersion => f.write_str("ciphertext key version is invalid"),
            Self::HeaderMismatch => f.write_str("header does not belong to the ciphertext"),
            Self::CommitmentMismatch => f.write_str("key commitment does not match"),
            Self::AuthenticationFailed => f.write_str("ciphertext authentication failed"),
        }
    }
}

impl std::error::Error for CiphertextError {}

/// Encrypts `plaintext` under `material` (a `SYMMETRIC_DEFAULT` key version
/// named by `key_id` and `key_version`), bound to `encryption_context` and,
/// if given, to the governance fields.
///
/// The context is a `BTreeMap` so that its keys are unique; they are sorted
/// by their UTF-8 bytes in the canonical encoding whatever the map type.
///
/// # Errors
///
/// [`CryptoError::WrongKeyUsage`] for other key specs,
/// [`CryptoError::InvalidLength`] for plaintexts over [`MAX_PLAINTEXT_LEN`],
/// [`CryptoError::InvalidKeyReference`] for an empty, long or non-printable
/// key id or version 0, [`CryptoError::InvalidEncryptionContext`] for a
/// context that cannot be encoded.
pub fn encrypt(
    material: &KeyMaterial,
    key_id: &str,
    key_version: u32,
    plaintext: &[u8],
    encryption_context: &BTreeMap<String, String>,
    governance: Option<&Governance>,
) -> Result<Vec<u8>, CryptoError> {
    if material.spec() != KeySpec::SymmetricDefault {
        return Err(material.wrong_usage("Encrypt"));
    }
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(CryptoError::InvalidLength {
            what: "plaintext",
            min: 0,
            max: MAX_PLAINTEXT_LEN,
            actual: plaintext.len(),
        });
    }
    let key_id_len = u8::try_from(key_id.len()).map_err(|_| CryptoError::InvalidKeyReference)?;
    if !valid_key_id(key_id.as_bytes()) || key_version == 0 {
        return Err(CryptoError::InvalidKeyReference);
    }
    let context = canonical_encryption_context(encryption_context)?;
    let mut salt = [0; SALT_LEN];
    fill_random(&mut salt)?;

    let flags = if governance.is_some() {
        FLAG_GOVERNANCE
    } else {
        0
    };
    let mut blob = Vec::with_capacity(
        128 + key_id.len() + POLICY_ID_LEN + COMMITMENT_LEN + IV_LEN + plaintext.len() + TAG_LEN,
    );
    blob.extend_from_slice(&MAGIC);
    blob.push(FORMAT_VERSION);
    blob.push(SUITE_HKDF_SHA512_AES_256_GCM_COMMIT);
    blob.extend_from_slice(&flags.to_be_bytes());
    blob.push(key_id_len);
    blob.extend_from_slice(key_id.as_bytes());
    blob.extend_from_slice(&key_version.to_be_bytes());
    blob.extend_from_slice(&salt);
    if let Some(governance) = governance {
        blob.extend_from_slice(&governance.policy_id);
        blob.extend_from_slice(&governance.governance_size.to_be_bytes());
    }

    let keys = derive_keys(material, &blob, &context)?;
    let aad = aad(&blob, &keys.commitment, &context);
    blob.extend_from_slice(&keys.commitment);

    let aead = RandomizedNonceKey::new(&AES_256_GCM, keys.encryption_key.expose())
        .map_err(|_| CryptoError::Internal("aes-gcm key setup failed"))?;
    let mut in_out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    in_out.extend_from_slice(plaintext);
    let nonce = match aead.seal_in_place_append_tag(Aad::from(aad), &mut in_out) {
        Ok(nonce) => nonce,
        Err(_) => {
            in_out.zeroize();
            return Err(CryptoError::Internal("aes-gcm encryption failed"));
        }
    };
    blob.extend_from_slice(nonce.as_ref());
    blob.extend_from_slice(&in_out);
    Ok(blob)
}

/// Parses the header of a blob, without any key.
///
/// It rejects blobs that are truncated, longer than [`MAX_CIPHERTEXT_LEN`],
/// of another magic, version or suite, with undefined flags, or naming an
/// invalid key id or version 0.
/// It never panics, whatever the input.
///
/// # Errors
///
/// The [`CiphertextError`] saying why.
pub fn parse(blob: &[u8]) -> Result<Header, CiphertextError> {
    if blob.len() > MAX_CIPHERTEXT_LEN {
        return Err(CiphertextError::TooLarge);
    }
    let mut reader = Reader { rest: blob };
    if reader.array::<4>()? != MAGIC {
        return Err(CiphertextError::BadMagic);
    }
    let version = reader.u8()?;
    if version != FORMAT_VERSION {
        return Err(CiphertextError::UnsupportedVersion(version));
    }
    let suite = reader.u8()?;
    if suite != SUITE_HKDF_SHA512_AES_256_GCM_COMMIT {
        return Err(CiphertextError::UnsupportedSuite(suite));
    }
    let flags = u16::from_be_bytes(reader.array()?);
    if flags & !KNOWN_FLAGS != 0 {
        return Err(CiphertextError::UnsupportedFlags(flags));
    }
    let key_id_len = reader.u8()?;
    let key_id = reader.take(usize::from(key_id_len))?;
    if !valid_key_id(key_id) {
        return Err(CiphertextError::InvalidKeyId);
    }
    let key_id = String::from_utf8(key_id.to_vec()).map_err(|_| CiphertextError::InvalidKeyId)?;
    let key_version = u32::from_be_bytes(reader.array()?);
    if key_version == 0 {
        return Err(CiphertextError::InvalidKeyVersion);
    }
    let salt = reader.array()?;
    let governance = if flags & FLAG_GOVERNANCE != 0 {
        Some(Governance {
            policy_id: reader.array()?,
            governance_size: u64::from_be_bytes(reader.array()?),
        })
    } else {
        None
    };
    let core_len = blob.len() - reader.rest.len();
    let commitment = reader.array()?;
    let iv = reader.array()?;
    if reader.rest.len() < TAG_LEN {
        return Err(CiphertextError::Truncated);
    }
    if reader.rest.len() > MAX_PLAINTEXT_LEN + TAG_LEN {
        return Err(CiphertextError::TooLarge);
    }
    Ok(Header {
        key_id,
        key_version,
        governance,
        salt,
        commitment,
        iv,
        core_len,
    })
}

/// Decrypts `blob`, whose parsed header is `header`, under `material` (the
/// key version the header names) and `encryption_context`.
///
/// The key commitment is checked, in constant time, before any AEAD work.
///
/// # Errors
///
/// [`CryptoError::WrongKeyUsage`] for key specs other than
/// `SYMMETRIC_DEFAULT`; [`CryptoError::InvalidCiphertext`] with
/// [`CiphertextError::HeaderMismatch`] if `header` is not `blob`'s,
/// [`CiphertextError::CommitmentMismatch`] for the wrong key, version,
/// header, governance fields or encryption context, and
/// [`CiphertextError::AuthenticationFailed`] if the AEAD does not open.
pub fn decrypt(
    material: &KeyMaterial,
    header: &Header,
    blob: &[u8],
    encryption_context: &BTreeMap<String, String>,
) -> Result<SecretBytes, CryptoError> {
    if material.spec() != KeySpec::SymmetricDefault {
        return Err(material.wrong_usage("Decrypt"));
    }
    if parse(blob)? != *header {
        return Err(CiphertextError::HeaderMismatch.into());
    }
    let context = canonical_encryption_context(encryption_context)?;
    let (core, rest) = blob
        .split_at_checked(header.core_len)
        .ok_or(CiphertextError::Truncated)?;
    let body = rest
        .get(COMMITMENT_LEN + IV_LEN..)
        .ok_or(CiphertextError::Truncated)?;

    let keys = derive_keys(material, core, &context)?;
    verify_slices_are_equal(&keys.commitment, &header.commitment)
        .map_err(|_| CiphertextError::CommitmentMismatch)?;

    let aead = RandomizedNonceKey::new(&AES_256_GCM, keys.encryption_key.expose())
        .map_err(|_| CryptoError::Internal("aes-gcm key setup failed"))?;
    let mut plaintext = SecretBytes::copy_from(body);
    let len = aead
        .open_in_place(
            Nonce::assume_unique_for_key(header.iv),
            Aad::from(aad(core, &header.commitment, &context)),
            plaintext.expose_mut(),
        )
        .map_err(|_| CiphertextError::AuthenticationFailed)?
        .len();
    plaintext.truncate(len);
    Ok(plaintext)
}

/// The canonical encoding of an encryption context, as bound into every
/// blob: the number of entries (u16, big-endian), then for each entry in
/// order of key bytes the key and the value, each as a u16 big-endian byte
/// length followed by its UTF-8 bytes.
///
/// Every string is length-prefixed, so no two different contexts share an
/// encoding: `{"a":"bc"}` is `00 01 | 00 01 61 | 00 02 62 63` and
/// `{"ab":"c"}` is `00 01 | 00 02 61 62 | 00 01 63`.
///
/// # Errors
///
/// [`CryptoError::InvalidEncryptionContext`] for more than 65,535 entries or
/// a key or value longer than 65,535 bytes.
pub fn canonical_encryption_context(
    encryption_context: &BTreeMap<String, String>,
) -> Result<Vec<u8>, CryptoError> {
    let count = u16::try_from(encryption_context.len())
        .map_err(|_| CryptoError::InvalidEncryptionContext)?;
    let len = 2 + encryption_context
        .iter()
        .map(|(key, value)| 4 + key.len() + value.len())
        .sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&count.to_be_bytes());
    for (key, value) in encryption_context {
        for part in [key, value] {
            let part_len =
                u16::try_from(part.len()).map_err(|_| CryptoError::InvalidEncryptionContext)?;
            out.extend_from_slice(&part_len.to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    Ok(out)
}

/// The per-message keys.
struct MessageKeys {
    encryption_key: SecretBytes,
    commitment: [u8; COMMITMENT_LEN],
}

/// HKDF-SHA-512 with the salt, over the key material; the info names the
/// output and carries the digests of the header core and of the context.
fn derive_keys(
    material: &KeyMaterial,
    core: &[u8],
    context: &[u8],
) -> Result<MessageKeys, CryptoError> {
    let header_digest = labelled_digest(LABEL_HEADER, core);
    let context_digest = labelled_digest(LABEL_CONTEXT, context);
    // HKDF-Expand(PRK = K, info, L = 64) is the single block
    // T(1) = HMAC-SHA-512(K, info || 0x01); the HMAC key is keyed once per
    // key version. The salt is in the header core, hence in `info`.
    let mut hmac = aws_lc_rs::hmac::Context::with_key(material.kdf_key());
    hmac.update(LABEL_DERIVED_KEYS);
    hmac.update(header_digest.as_ref());
    hmac.update(context_digest.as_ref());
    hmac.update(&[1]);
    let tag = hmac.sign();
    let (key_half, commitment_half) = tag
        .as_ref()
        .split_at_checked(DATA_KEY_LEN)
        .ok_or(CryptoError::Internal("key derivation failed"))?;
    let mut commitment = [0; COMMITMENT_LEN];
    commitment.copy_from_slice(commitment_half.get(..COMMITMENT_LEN).unwrap_or_default());
    Ok(MessageKeys {
        encryption_key: SecretBytes::copy_from(key_half),
        commitment,
    })
}

fn labelled_digest(label: &[u8], data: &[u8]) -> digest::Digest {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(label);
    context.update(data);
    context.finish()
}

/// The AES-GCM AAD: the header core, the commitment and the canonical
/// encryption context.
fn aad(core: &[u8], commitment: &[u8; COMMITMENT_LEN], context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(core.len() + COMMITMENT_LEN + context.len());
    aad.extend_from_slice(core);
    aad.extend_from_slice(commitment);
    aad.extend_from_slice(context);
    aad
}

/// Key ids are 1 to 255 bytes of printable ASCII (KMS ids are UUIDs or
/// `mrk-` ids).
fn valid_key_id(key_id: &[u8]) -> bool {
    !key_id.is_empty() && key_id.len() <= MAX_KEY_ID_LEN && key_id.iter().all(u8::is_ascii_graphic)
}

/// Reads fields off the front of a byte string.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], CiphertextError> {
        let (field, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or(CiphertextError::Truncated)?;
        self.rest = rest;
        Ok(field)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CiphertextError> {
        self.take(N)?
            .try_into()
            .map_err(|_| CiphertextError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, CiphertextError> {
        Ok(u8::from_be_bytes(self.array()?))
    }
}
