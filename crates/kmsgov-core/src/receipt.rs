//! Use receipts: offline-verifiable, attenuable statements of permitted use,
//! returned with the plaintext of an allowed Decrypt or GenerateDataKey
//! (docs/receipts.md; governance design §6.6, "Use receipt").
//!
//! A receipt is a [Biscuit](https://www.biscuitsec.org/) token. Its authority
//! block, signed with the receipt root key, holds the facts of the release
//! (which ciphertext, key, data-use policy, holder, plaintext commitment,
//! audit entry and governance state) and four checks: an expiry, the
//! audiences, the purposes, and a re-share depth.
//! A downstream service verifies it with [`verify`], supplying its own
//! ambient facts ([`UseCheck`]: time, service name, purpose, hop).
//! Any holder can narrow it with [`attenuate`], offline and without a secret:
//! Biscuit blocks only add checks, so a narrowed receipt never allows more.
//!
//! Every value from a caller enters the Datalog as a typed term (the builder
//! API, or a parameter of a fixed template), never as source text, so a
//! string such as `"), purpose("x` stays a literal.
//!
//! ```
//! use kmsgov_core::receipt::{plaintext_commitment, verify, PublicKeyText, ReceiptClaims,
//!     ReceiptIssuer, UseCheck};
//!
//! let issuer = ReceiptIssuer::from_seed(&[7; 32]).unwrap();
//! let salt = [1; 32];
//! let claims = ReceiptClaims {
//!     receipt_id: [2; 16],
//!     kms: "kmsgov/us-east-1".into(),
//!     ciphertext: [3; 32],
//!     key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
//!     key_version: 1,
//!     data_policy: [4; 32],
//!     holder: [5; 32],
//!     plaintext_commit: plaintext_commitment(&salt, b"card 4111"),
//!     audit_origin: "kmsgov/audit/us-east-1".into(),
//!     audit_index: 41,
//!     governance_size: 9,
//!     governance_root: [6; 32],
//!     purposes: vec!["fraud-scoring".into()],
//!     audiences: vec!["svc:scoring".into()],
//!     reshare_depth: 1,
//!     expires_unix: 1_780_000_000,
//! };
//! let token = issuer.issue(&claims).unwrap();
//!
//! let root = PublicKeyText::parse(&issuer.verifier_key()).unwrap();
//! let check = UseCheck {
//!     now_unix: 1_779_999_000,
//!     purpose: "fraud-scoring".into(),
//!     audience: "svc:scoring".into(),
//!     hop: 0,
//!     plaintext: Some((salt, b"card 4111")),
//! };
//! let verified = verify(&token, &root, &check).unwrap();
//! assert_eq!(verified.claims, claims);
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{Context, SHA256};
use biscuit_auth::builder::{bytes, fact, int, string, Algorithm, Check, Op, Term};
use biscuit_auth::error::{FailedCheck, Format, Logic, Token as TokenError};
use biscuit_auth::format::schema::public_key::Algorithm as KeyAlgorithm;
use biscuit_auth::{
    AuthorizerBuilder, AuthorizerLimits, Biscuit, BiscuitBuilder, BlockBuilder, KeyPair, PublicKey,
    UnverifiedBiscuit,
};

use crate::root_key::{RootKey, RootKeyError};

/// The label under which the receipt root key's seed is derived from the
/// root key ([`RootKey::derive`]).
pub const RECEIPT_KEY_LABEL: &str = "kmsgov/receipt/root-key";

/// The longest token (base64 text) that is parsed at all.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// The most blocks a receipt may have: the authority block and up to 15
/// attenuations.
pub const MAX_BLOCKS: usize = 16;

/// Datalog limits of a verification. Biscuit's default time limit (1 ms) is
/// too tight for a loaded machine; the fact and iteration limits are its
/// defaults.
const LIMITS: AuthorizerLimits = AuthorizerLimits {
    max_facts: 1000,
    max_iterations: 100,
    max_time: Duration::from_millis(50),
};

/// The authority block's checks, in this order; verification maps a failed
/// check of the authority block to its reason by its index.
const AUTHORITY_CHECKS: [&str; 4] = [
    "check if time($t), $t <= {expires}",
    "check if service($s), audience($s)",
    "check if use_purpose($p), purpose($p)",
    "check if hop($h), reshare_depth($d), $h <= $d",
];

/// What a receipt says: one release of plaintext, and how it may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptClaims {
    /// A random id of the receipt.
    pub receipt_id: [u8; 16],
    /// The service that released the plaintext (its origin name, e.g.
    /// `kmsgov/us-east-1`).
    pub kms: String,
    /// The hash of the ciphertext header.
    pub ciphertext: [u8; 32],
    /// The KMS key id.
    pub key_id: String,
    /// The version of the key that decrypted.
    pub key_version: u32,
    /// The hash of the data-use policy bound to the ciphertext.
    pub data_policy: [u8; 32],
    /// The keyed commitment to the principal the plaintext went to.
    pub holder: [u8; 32],
    /// [`plaintext_commitment`] of the plaintext under the salt returned
    /// with it.
    pub plaintext_commit: [u8; 32],
    /// The origin of the audit log that holds the decision.
    pub audit_origin: String,
    /// The index of the decision's entry in that log.
    pub audit_index: u64,
    /// The size of the governance log the decision was made at.
    pub governance_size: u64,
    /// The root hash of the governance log at that size.
    pub governance_root: [u8; 32],
    /// The purposes the plaintext may be used for. Read back sorted and
    /// without duplicates.
    pub purposes: Vec<String>,
    /// The services that may use it. Read back sorted and without
    /// duplicates.
    pub audiences: Vec<String>,
    /// How many times the plaintext may be passed on (hop 0 is the holder).
    pub reshare_depth: u32,
    /// When the receipt expires, in seconds since the Unix epoch.
    pub expires_unix: i64,
}

/// Why a receipt was not issued, verified or attenuated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The token is longer than [`MAX_TOKEN_LEN`].
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The token has more than [`MAX_BLOCKS`] blocks, or attenuating it
    /// would make it so.
    TooManyBlocks {
        /// Its number of blocks.
        blocks: usize,
    },
    /// The token is not a Biscuit token (not base64url, truncated, or
    /// undecodable).
    Malformed(String),
    /// A signature of the chain does not verify under the pinned root key.
    BadSignature,
    /// The token is signed by the root key but is not a receipt of this
    /// profile.
    NotAReceipt(&'static str),
    /// The receipt has expired (a time check failed).
    Expired {
        /// The block whose check failed (0 is the authority block).
        block: u32,
    },
    /// The service is not an allowed audience.
    AudienceNotAllowed {
        /// The block whose check failed.
        block: u32,
    },
    /// The purpose is not allowed.
    PurposeNotAllowed {
        /// The block whose check failed.
        block: u32,
    },
    /// The hop is beyond the re-share depth.
    ReshareDepthExceeded {
        /// The block whose check failed.
        block: u32,
    },
    /// Another check failed (one this profile does not name, such as a
    /// third-party attestation the verifier did not supply).
    CheckFailed {
        /// The block whose check failed.
        block: u32,
        /// The check, as Biscuit prints it.
        rule: String,
    },
    /// The plaintext given does not match the receipt's commitment.
    PlaintextMismatch,
    /// Evaluating the token's Datalog went over the limits.
    Limits,
    /// The verifier key is not `ed25519/<64 hex digits>`.
    BadVerifierKey,
    /// A value cannot go in a receipt or a narrowing (out of range, or
    /// nothing to narrow).
    InvalidInput(&'static str),
    /// The receipt is sealed and cannot be attenuated.
    Sealed,
    /// The Biscuit library failed to build a token.
    Internal(String),
}

impl std::fmt::Display for ReceiptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReceiptError::TooLong { len } => {
                write!(
                    f,
                    "the token is {len} bytes, over the limit of {MAX_TOKEN_LEN}"
                )
            }
            ReceiptError::TooManyBlocks { blocks } => {
                write!(
                    f,
                    "the token has {blocks} blocks, over the limit of {MAX_BLOCKS}"
                )
            }
            ReceiptError::Malformed(what) => write!(f, "not a receipt token: {what}"),
            ReceiptError::BadSignature => {
                f.write_str("the signature does not verify under the pinned key")
            }
            ReceiptError::NotAReceipt(what) => write!(f, "not a use receipt: {what}"),
            ReceiptError::Expired { block } => {
                write!(f, "the receipt has expired (check in block {block})")
            }
            ReceiptError::AudienceNotAllowed { block } => write!(
                f,
                "this service is not an allowed audience (check in block {block})"
            ),
            ReceiptError::PurposeNotAllowed { block } => {
                write!(f, "the purpose is not allowed (check in block {block})")
            }
            ReceiptError::ReshareDepthExceeded { block } => write!(
                f,
                "the hop is beyond the re-share depth (check in block {block})"
            ),
            ReceiptError::CheckFailed { block, rule } => {
                write!(f, "a check failed in block {block}: `{rule}`")
            }
            ReceiptError::PlaintextMismatch => {
                f.write_str("the plaintext does not match the receipt's commitment")
            }
            ReceiptError::Limits => f.write_str("the token's Datalog went over the limits"),
            ReceiptError::BadVerifierKey => {
                f.write_str("the verifier key is not `ed25519/<64 hex digits>`")
            }
            ReceiptError::InvalidInput(what) => f.write_str(what),
            ReceiptError::Sealed => f.write_str("the receipt is sealed"),
            ReceiptError::Internal(what) => write!(f, "building the token failed: {what}"),
        }
    }
}

impl std::error::Error for ReceiptError {}

/// The commitment to a plaintext: SHA-256("kmsgov/pt" || salt || plaintext).
/// The salt keeps a logged receipt from revealing a low-entropy plaintext.
#[must_use]
pub fn plaintext_commitment(salt: &[u8; 32], plaintext: &[u8]) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(b"kmsgov/pt");
    context.update(salt);
    context.update(plaintext);
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// A pinned receipt root key, in Biscuit's text form
/// `ed25519/<64 hex digits>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKeyText {
    key: PublicKey,
}

impl PublicKeyText {
    /// Parses `ed25519/<64 hex digits>` (surrounding white space allowed).
    ///
    /// # Errors
    ///
    /// [`ReceiptError::BadVerifierKey`] for anything else, or a point that
    /// is not a valid Ed25519 public key.
    pub fn parse(text: &str) -> Result<PublicKeyText, ReceiptError> {
        let hex = text
            .trim()
            .strip_prefix("ed25519/")
            .ok_or(ReceiptError::BadVerifierKey)?;
        let raw = decode_hex(hex).ok_or(ReceiptError::BadVerifierKey)?;
        if raw.len() != 32 {
            return Err(ReceiptError::BadVerifierKey);
        }
        let key = PublicKey::from_bytes(&raw, Algorithm::Ed25519)
            .map_err(|_| ReceiptError::BadVerifierKey)?;
        Ok(PublicKeyText { key })
    }
}

impl std::str::FromStr for PublicKeyText {
    type Err = ReceiptError;
    fn from_str(text: &str) -> Result<PublicKeyText, ReceiptError> {
        PublicKeyText::parse(text)
    }
}

impl std::fmt::Display for PublicKeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ed25519/{}", hex(&self.key.to_bytes()))
    }
}

/// Issues receipts with the receipt root key.
pub struct ReceiptIssuer {
    key: KeyPair,
    checks: Vec<Check>,
}

impl std::fmt::Debug for ReceiptIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptIssuer")
            .field("verifier_key", &self.verifier_key())
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl ReceiptIssuer {
    /// An issuer whose Ed25519 key has the 32-byte `seed`. The issuer keeps
    /// no copy of the seed; the signing key inside is zeroized on drop.
    ///
    /// # Errors
    ///
    /// The library refuses the seed or the checks (neither happens).
    pub fn from_seed(seed: &[u8; 32]) -> Result<ReceiptIssuer, ReceiptError> {
        let key = KeyPair::from_bytes(seed, KeyAlgorithm::Ed25519)
            .map_err(|e| ReceiptError::Internal(e.to_string()))?;
        let checks = AUTHORITY_CHECKS
            .iter()
            .map(|text| Check::try_from(*text).map_err(|e| ReceiptError::Internal(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ReceiptIssuer { key, checks })
    }

    /// The issuer of a data directory: its seed is derived from the root key
    /// under [`RECEIPT_KEY_LABEL`] and dropped (zeroized) at once.
    ///
    /// # Errors
    ///
    /// Deriving the seed failed.
    pub fn from_root_key(root: &RootKey) -> Result<ReceiptIssuer, RootKeyError> {
        let seed = root.derive(RECEIPT_KEY_LABEL)?;
        ReceiptIssuer::from_seed(&seed).map_err(|_| RootKeyError::Derive)
    }

    /// The root key to pin, `ed25519/<hex>` as Biscuit prints public keys.
    #[must_use]
    pub fn verifier_key(&self) -> String {
        self.public_key().to_string()
    }

    /// The root key to pin, parsed.
    #[must_use]
    pub fn public_key(&self) -> PublicKeyText {
        PublicKeyText {
            key: self.key.public(),
        }
    }

    /// A receipt with `claims`: a base64url Biscuit token whose authority
    /// block holds the facts and checks of the receipt profile.
    ///
    /// # Errors
    ///
    /// [`ReceiptError::InvalidInput`] when a value does not fit the token
    /// (an expiry before 1970, an index beyond `i64::MAX`, a token over
    /// [`MAX_TOKEN_LEN`]); [`ReceiptError::Internal`] if the library fails.
    pub fn issue(&self, claims: &ReceiptClaims) -> Result<String, ReceiptError> {
        let expires = u64::try_from(claims.expires_unix)
            .map_err(|_| ReceiptError::InvalidInput("the expiry is before 1970"))?;
        let audit_index = i64::try_from(claims.audit_index)
            .map_err(|_| ReceiptError::InvalidInput("the audit index is beyond i64::MAX"))?;
        let governance_size = i64::try_from(claims.governance_size)
            .map_err(|_| ReceiptError::InvalidInput("the governance size is beyond i64::MAX"))?;
        let mut facts = vec![
            fact("receipt", &[bytes(&claims.receipt_id)]),
            fact("kms", &[string(&claims.kms)]),
            fact("ciphertext", &[bytes(&claims.ciphertext)]),
            fact(
                "key",
                &[string(&claims.key_id), int(i64::from(claims.key_version))],
            ),
            fact("data_policy", &[bytes(&claims.data_policy)]),
            fact("holder", &[bytes(&claims.holder)]),
            fact("plaintext_commit", &[bytes(&claims.plaintext_commit)]),
            fact("audit", &[string(&claims.audit_origin), int(audit_index)]),
            fact(
                "governance",
                &[int(governance_size), bytes(&claims.governance_root)],
            ),
        ];
        facts.extend(
            claims
                .purposes
                .iter()
                .map(|p| fact("purpose", &[string(p)])),
        );
        facts.extend(
            claims
                .audiences
                .iter()
                .map(|a| fact("audience", &[string(a)])),
        );
        facts.push(fact(
            "reshare_depth",
            &[int(i64::from(claims.reshare_depth))],
        ));

        let mut builder = BiscuitBuilder::new();
        for f in facts {
            builder = builder.fact(f).map_err(internal)?;
        }
        for (i, check) in self.checks.iter().enumerate() {
            let mut check = check.clone();
            if i == 0 {
                check
                    .set("expires", Term::Date(expires))
                    .map_err(internal)?;
            }
            builder = builder.check(check).map_err(internal)?;
        }
        let token = builder
            .build(&self.key)
            .and_then(|t| t.to_base64())
            .map_err(internal)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(ReceiptError::InvalidInput(
                "the receipt would be over the token length limit",
            ));
        }
        Ok(token)
    }
}

/// A downstream service's ambient facts, against which a receipt is checked.
#[derive(Clone)]
pub struct UseCheck<'a> {
    /// The verifier's clock, in seconds since the Unix epoch.
    pub now_unix: i64,
    /// The purpose the plaintext is about to be used for.
    pub purpose: String,
    /// The verifying service's own name.
    pub audience: String,
    /// How many times the plaintext has been passed on (0: the holder
    /// itself).
    pub hop: u32,
    /// The salt and the plaintext received, to compare with the receipt's
    /// commitment; `None` to skip that comparison.
    pub plaintext: Option<([u8; 32], &'a [u8])>,
}

impl std::fmt::Debug for UseCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UseCheck")
            .field("now_unix", &self.now_unix)
            .field("purpose", &self.purpose)
            .field("audience", &self.audience)
            .field("hop", &self.hop)
            .field(
                "plaintext",
                &self
                    .plaintext
                    .map(|(_, p)| format!("<{} bytes, redacted>", p.len())),
            )
            .finish()
    }
}

/// One block of a verified receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInfo {
    /// The block's revocation id (its signature).
    pub revocation_id: Vec<u8>,
    /// The key of the third party that signed the block, if it is a
    /// third-party block (`ed25519/<hex>`).
    pub third_party_key: Option<String>,
}

/// A receipt that passed [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    /// The claims of the authority block. Purposes and audiences are sorted.
    pub claims: ReceiptClaims,
    /// Every block, the authority block first.
    pub blocks: Vec<BlockInfo>,
    /// Whether a plaintext was given and matched the commitment.
    pub plaintext_checked: bool,
}

/// Verifies a receipt for one use: the signature chain back to `root`, then
/// every check of every block against the facts of `check` (time, service,
/// use purpose, hop) with the policy `allow if receipt($r)`, then, if a
/// plaintext is given, its commitment (compared in constant time).
///
/// # Errors
///
/// The first reason the receipt does not allow this use: a token too long or
/// with too many blocks, malformed, with a bad signature, not a receipt,
/// expired, for another audience or purpose, beyond its re-share depth,
/// failing another check, or for another plaintext.
pub fn verify(
    token: &str,
    root: &PublicKeyText,
    check: &UseCheck<'_>,
) -> Result<VerifiedReceipt, ReceiptError> {
    let biscuit = parse(token, root)?;
    let now = u64::try_from(check.now_unix)
        .map_err(|_| ReceiptError::InvalidInput("the time is before 1970"))?;
    let mut authorizer = AuthorizerBuilder::new()
        .fact(fact("time", &[Term::Date(now)]))
        .and_then(|a| a.fact(fact("service", &[string(&check.audience)])))
        .and_then(|a| a.fact(fact("use_purpose", &[string(&check.purpose)])))
        .and_then(|a| a.fact(fact("hop", &[int(i64::from(check.hop))])))
        .and_then(|a| a.policy("allow if receipt($r)"))
        .map_err(internal)?
        .set_limits(LIMITS)
        .build(&biscuit)
        .map_err(refusal)?;
    authorizer.authorize().map_err(refusal)?;

    let claims = read_claims(&mut authorizer)?;
    let plaintext_checked = match check.plaintext {
        Some((salt, plaintext)) => {
            let commitment = plaintext_commitment(&salt, plaintext);
            verify_slices_are_equal(&commitment, &claims.plaintext_commit)
                .map_err(|_| ReceiptError::PlaintextMismatch)?;
            true
        }
        None => false,
    };
    let blocks = biscuit
        .revocation_identifiers()
        .into_iter()
        .zip(biscuit.external_public_keys())
        .map(|(revocation_id, key)| BlockInfo {
            revocation_id,
            third_party_key: key.map(|k| k.to_string()),
        })
        .collect();
    Ok(VerifiedReceipt {
        claims,
        blocks,
        plaintext_checked,
    })
}

/// How to narrow a receipt. Each `Some` adds a check; `None` leaves that
/// aspect as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    /// Only these purposes (an empty list allows none).
    pub purposes: Option<Vec<String>>,
    /// Only these services (an empty list allows none).
    pub audiences: Option<Vec<String>>,
    /// Expire no later than this, in seconds since the Unix epoch.
    pub expires_unix: Option<i64>,
}

/// Narrows a receipt: appends a block with a check per `Some` field of
/// `narrowing`. Offline, no secret needed; the signature chain is verified
/// against `root` first. The checks of the new block add to those before
/// it, so the narrowed receipt allows at most what both allow.
///
/// # Errors
///
/// The token does not verify under `root`, it would have more than
/// [`MAX_BLOCKS`] blocks, it is sealed, or `narrowing` narrows nothing or
/// holds an expiry before 1970.
pub fn attenuate(
    token: &str,
    root: &PublicKeyText,
    narrowing: &Narrowing,
) -> Result<String, ReceiptError> {
    let biscuit = parse(token, root)?;
    if biscuit.block_count() >= MAX_BLOCKS {
        return Err(ReceiptError::TooManyBlocks {
            blocks: biscuit.block_count() + 1,
        });
    }
    let mut checks = Vec::new();
    if let Some(purposes) = &narrowing.purposes {
        checks.push(narrow(
            "check if use_purpose($p), {allowed}.contains($p)",
            string_set(purposes),
        )?);
    }
    if let Some(audiences) = &narrowing.audiences {
        checks.push(narrow(
            "check if service($s), {allowed}.contains($s)",
            string_set(audiences),
        )?);
    }
    if let Some(expires) = narrowing.expires_unix {
        let expires = u64::try_from(expires)
            .map_err(|_| ReceiptError::InvalidInput("the expiry is before 1970"))?;
        checks.push(narrow(
            "check if time($t), $t <= {allowed}",
            Term::Date(expires),
        )?);
    }
    if checks.is_empty() {
        return Err(ReceiptError::InvalidInput(
            "nothing to narrow: give purposes, audiences or an expiry",
        ));
    }
    let mut block = BlockBuilder::new();
    for check in checks {
        block = block.check(check).map_err(internal)?;
    }
    let narrowed = biscuit.append(block).map_err(|e| match e {
        TokenError::AppendOnSealed => ReceiptError::Sealed,
        e => internal(e),
    })?;
    let text = narrowed.to_base64().map_err(internal)?;
    if text.len() > MAX_TOKEN_LEN {
        return Err(ReceiptError::TooLong { len: text.len() });
    }
    Ok(text)
}

/// The Datalog of each block of a token, as Biscuit prints it, **without
/// verifying any signature**: for people reading a token, never for a
/// decision. Strings are printed between quotes as they are, unescaped.
///
/// # Errors
///
/// The token is too long, has too many blocks, or is not a Biscuit token.
pub fn inspect_unverified(token: &str) -> Result<Vec<String>, ReceiptError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(ReceiptError::TooLong { len: token.len() });
    }
    let biscuit = UnverifiedBiscuit::from_base64(token).map_err(refusal)?;
    let blocks = biscuit.block_count();
    if blocks > MAX_BLOCKS {
        return Err(ReceiptError::TooManyBlocks { blocks });
    }
    (0..blocks)
        .map(|i| biscuit.print_block_source(i).map_err(refusal))
        .collect()
}

// ---------------------------------------------------------------------------

/// Decodes and verifies the signature chain, with the length and block caps.
fn parse(token: &str, root: &PublicKeyText) -> Result<Biscuit, ReceiptError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(ReceiptError::TooLong { len: token.len() });
    }
    let biscuit = Biscuit::from_base64(token, root.key).map_err(refusal)?;
    let blocks = biscuit.block_count();
    if blocks > MAX_BLOCKS {
        return Err(ReceiptError::TooManyBlocks { blocks });
    }
    Ok(biscuit)
}

/// A narrowing check from its template, with `{allowed}` set to `value`.
fn narrow(template: &str, value: Term) -> Result<Check, ReceiptError> {
    let mut check = Check::try_from(template).map_err(internal)?;
    check.set("allowed", value).map_err(internal)?;
    Ok(check)
}

fn string_set(values: &[String]) -> Term {
    Term::Set(values.iter().map(|v| string(v)).collect::<BTreeSet<_>>())
}

fn internal(e: TokenError) -> ReceiptError {
    ReceiptError::Internal(e.to_string())
}

/// Maps a Biscuit error met while reading or authorizing a token.
fn refusal(e: TokenError) -> ReceiptError {
    match e {
        TokenError::Format(
            Format::Signature(_) | Format::SealedSignature | Format::UnknownPublicKey,
        ) => ReceiptError::BadSignature,
        TokenError::Format(e) => ReceiptError::Malformed(e.to_string()),
        TokenError::Base64(e) => ReceiptError::Malformed(format!("not base64url: {e}")),
        TokenError::RunLimit(_) => ReceiptError::Limits,
        TokenError::FailedLogic(
            Logic::Unauthorized { checks, .. } | Logic::NoMatchingPolicy { checks },
        ) => match checks.into_iter().next() {
            Some(check) => failed_check(check),
            None => ReceiptError::NotAReceipt("no receipt fact in the authority block"),
        },
        e => ReceiptError::Malformed(e.to_string()),
    }
}

/// Names a failed check. The authority block's checks are known by their
/// index ([`AUTHORITY_CHECKS`]); a check of a later block by the ambient
/// fact it reads first (`time`, `service`, `use_purpose`, `hop`), which is
/// how the narrowing checks of [`attenuate`] are written.
fn failed_check(check: FailedCheck) -> ReceiptError {
    let (block, index, rule) = match check {
        FailedCheck::Block(b) => (b.block_id, Some(b.check_id), b.rule),
        // The verifier adds no checks of its own; name it all the same.
        FailedCheck::Authorizer(a) => (u32::MAX, None, a.rule),
    };
    let kind = if block == 0 {
        match index {
            Some(0) => Some("time"),
            Some(1) => Some("service"),
            Some(2) => Some("use_purpose"),
            Some(3) => Some("hop"),
            _ => None,
        }
    } else {
        ["time", "service", "use_purpose", "hop"]
            .into_iter()
            .find(|name| rule.starts_with(&format!("check if {name}(")))
    };
    match kind {
        Some("time") => ReceiptError::Expired { block },
        Some("service") => ReceiptError::AudienceNotAllowed { block },
        Some("use_purpose") => ReceiptError::PurposeNotAllowed { block },
        Some("hop") => ReceiptError::ReshareDepthExceeded { block },
        _ => ReceiptError::CheckFailed { block, rule },
    }
}

type ClaimsRow = (
    Vec<u8>,
    String,
    Vec<u8>,
    String,
    i64,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    String,
    i64,
    i64,
    Vec<u8>,
    i64,
);

/// Reads the claims back from the authority block (queries see only the
/// authority block and the verifier's facts, never an attenuation block).
fn read_claims(authorizer: &mut biscuit_auth::Authorizer) -> Result<ReceiptClaims, ReceiptError> {
    let not = ReceiptError::NotAReceipt;
    let mut rows: Vec<ClaimsRow> = authorizer
        .query(
            "claims($r, $k, $c, $kid, $kv, $dp, $h, $pc, $ao, $ai, $gs, $gr, $d) <- \
             receipt($r), kms($k), ciphertext($c), key($kid, $kv), data_policy($dp), \
             holder($h), plaintext_commit($pc), audit($ao, $ai), governance($gs, $gr), \
             reshare_depth($d)",
        )
        .map_err(|_| not("the authority block's facts do not have the receipt's types"))?;
    let row = match (rows.pop(), rows.is_empty()) {
        (Some(row), true) => row,
        _ => return Err(not("the authority block does not hold exactly one receipt")),
    };
    let (r, kms, c, key_id, kv, dp, h, pc, audit_origin, ai, gs, gr, d) = row;
    let mut purposes: Vec<String> = authorizer
        .query("purposes($p) <- purpose($p)")
        .map_err(|_| not("a purpose is not a string"))?
        .into_iter()
        .map(|(p,): (String,)| p)
        .collect();
    purposes.sort();
    let mut audiences: Vec<String> = authorizer
        .query("audiences($a) <- audience($a)")
        .map_err(|_| not("an audience is not a string"))?
        .into_iter()
        .map(|(a,): (String,)| a)
        .collect();
    audiences.sort();
    Ok(ReceiptClaims {
        receipt_id: fixed(&r).ok_or(not("the receipt id is not 16 bytes"))?,
        kms,
        ciphertext: fixed(&c).ok_or(not("the ciphertext hash is not 32 bytes"))?,
        key_id,
        key_version: u32::try_from(kv).map_err(|_| not("the key version is out of range"))?,
        data_policy: fixed(&dp).ok_or(not("the data policy hash is not 32 bytes"))?,
        holder: fixed(&h).ok_or(not("the holder is not 32 bytes"))?,
        plaintext_commit: fixed(&pc).ok_or(not("the plaintext commitment is not 32 bytes"))?,
        audit_origin,
        audit_index: u64::try_from(ai).map_err(|_| not("the audit index is negative"))?,
        governance_size: u64::try_from(gs).map_err(|_| not("the governance size is negative"))?,
        governance_root: fixed(&gr).ok_or(not("the governance root is not 32 bytes"))?,
        purposes,
        audiences,
        reshare_depth: u32::try_from(d).map_err(|_| not("the re-share depth is out of range"))?,
        expires_unix: authority_expiry(authorizer)?,
    })
}

/// The expiry of the authority block's first check,
/// `check if time($t), $t <= <date>`.
fn authority_expiry(authorizer: &biscuit_auth::Authorizer) -> Result<i64, ReceiptError> {
    // INVARIANT: the authorizer adds no checks of its own, so the first
    // check of the dump is the authority block's first. `dump` converts the
    // checks the authorizer already translated when it was built.
    let (_, _, checks, _) = authorizer.dump();
    let expiry = checks.first().and_then(|check| {
        let [query] = check.queries.as_slice() else {
            return None;
        };
        let [predicate] = query.body.as_slice() else {
            return None;
        };
        if predicate.name != "time" {
            return None;
        }
        let [expression] = query.expressions.as_slice() else {
            return None;
        };
        expression.ops.iter().find_map(|op| match op {
            Op::Value(Term::Date(date)) => Some(*date),
            _ => None,
        })
    });
    expiry
        .and_then(|date| i64::try_from(date).ok())
        .ok_or(ReceiptError::NotAReceipt(
            "the authority block does not start with its expiry check",
        ))
}

fn fixed<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    bytes.try_into().ok()
}

fn hex(bytes: &[u8]) -> String {
    crate::crypto::hex(bytes)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |byte: u8| char::from(byte).to_digit(16);
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [high, low] => Some(u8::try_from(digit(*high)? * 16 + digit(*low)?).ok()?),
            _ => None,
        })
        .collect()
}
