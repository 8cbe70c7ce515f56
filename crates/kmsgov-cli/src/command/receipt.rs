//! `kmsgov receipt`: use receipts (docs/receipts.md), offline.
//!
//! - `verify` checks a receipt for one use, as a downstream service would.
//! - `attenuate` narrows a receipt (no secret needed).
//! - `inspect` prints a receipt's blocks without verifying them.
//! - `verifier-key` prints the receipt root key of a data directory, to pin.

use std::path::PathBuf;

use base64::Engine as _;
use kmsgov_core::clock::iso8601;
use kmsgov_core::receipt::{
    attenuate, inspect_unverified, verify, Narrowing, PublicKeyText, ReceiptIssuer, UseCheck,
    VerifiedReceipt,
};
use serde_json::json;

use super::serve::existing_root_key;
use super::{err, out};

/// `kmsgov receipt …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Checks a receipt for one use; exit 0 when it allows it, 1 when not.
    Verify(VerifyArgs),
    /// Prints the receipt narrowed by a new block (offline, no secret).
    Attenuate(AttenuateArgs),
    /// Prints the Datalog of each block WITHOUT verifying any signature.
    Inspect(InspectArgs),
    /// Prints the receipt root key of a data directory (derived from its
    /// root key), to pin.
    VerifierKey(KeyArgs),
}

/// Arguments of `kmsgov receipt verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The receipt, or `@FILE` to read it from a file (`@-`: standard input).
    #[arg(long)]
    receipt: String,
    /// The pinned receipt root key (`ed25519/<hex>`).
    #[arg(long)]
    verifier_key: String,
    /// The purpose the plaintext is about to be used for.
    #[arg(long)]
    purpose: String,
    /// This service's name.
    #[arg(long)]
    audience: String,
    /// A file holding the plaintext received, to check against the
    /// receipt's commitment (needs `--salt`).
    #[arg(long, requires = "salt")]
    plaintext: Option<PathBuf>,
    /// The salt returned with the plaintext (base64, 32 bytes).
    #[arg(long, requires = "plaintext")]
    salt: Option<String>,
    /// How many times the plaintext has been passed on (0: the holder).
    #[arg(long, default_value_t = 0)]
    hop: u32,
    /// The time to check at (RFC 3339), instead of now.
    #[arg(long)]
    now: Option<String>,
    /// `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

/// Arguments of `kmsgov receipt attenuate`.
#[derive(Debug, clap::Args)]
pub(crate) struct AttenuateArgs {
    /// The receipt, or `@FILE`.
    #[arg(long)]
    receipt: String,
    /// The pinned receipt root key (`ed25519/<hex>`).
    #[arg(long)]
    verifier_key: String,
    /// Allow only these purposes (repeat the option for several).
    #[arg(long)]
    purpose: Vec<String>,
    /// Allow only these services (repeat the option for several).
    #[arg(long)]
    audience: Vec<String>,
    /// Expire no later than this (RFC 3339).
    #[arg(long)]
    expires: Option<String>,
}

/// Arguments of `kmsgov receipt inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// The receipt, or `@FILE`.
    #[arg(long)]
    receipt: String,
}

/// Arguments of `kmsgov receipt verifier-key`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeyArgs {
    /// The data directory of `kmsgov serve` (its `root.key`).
    #[arg(long, default_value = "./kmsgov-data")]
    data_dir: PathBuf,
    /// The root key file, when not `<data-dir>/root.key` (or set
    /// `KMSGOV_ROOT_KEY`).
    #[arg(long)]
    root_key_file: Option<PathBuf>,
}

/// Exit codes: 0 done (for `verify`: the receipt allows the use), 1 the
/// receipt does not allow it, 2 an error (bad arguments, unreadable files,
/// a token that cannot be attenuated).
pub(crate) fn run(command: &Command) -> u8 {
    let result = match command {
        Command::Verify(args) => run_verify(args),
        Command::Attenuate(args) => run_attenuate(args),
        Command::Inspect(args) => run_inspect(args),
        Command::VerifierKey(args) => {
            existing_root_key(&args.data_dir, args.root_key_file.as_deref())
                .and_then(|root| ReceiptIssuer::from_root_key(&root).map_err(|e| e.to_string()))
                .map(|issuer| {
                    out(&format!("{}\n", issuer.verifier_key()));
                    0
                })
        }
    };
    result.unwrap_or_else(|e| {
        err(&format!("kmsgov receipt: {e}"));
        2
    })
}

fn run_verify(args: &VerifyArgs) -> Result<u8, String> {
    let token = read_receipt(&args.receipt)?;
    let root =
        PublicKeyText::parse(&args.verifier_key).map_err(|e| format!("--verifier-key: {e}"))?;
    let now_unix = match &args.now {
        Some(text) => parse_time(text).map_err(|e| format!("--now: {e}"))?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())
            .and_then(|d| i64::try_from(d.as_secs()).map_err(|e| e.to_string()))?,
    };
    let plaintext = match &args.plaintext {
        Some(path) => Some(zeroize::Zeroizing::new(
            std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => None,
    };
    let salt = match &args.salt {
        Some(text) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| "--salt: not base64".to_owned())?;
            Some(
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map_err(|_| format!("--salt: a salt is 32 bytes, this one {}", bytes.len()))?,
            )
        }
        None => None,
    };
    let check = UseCheck {
        now_unix,
        purpose: args.purpose.clone(),
        audience: args.audience.clone(),
        hop: args.hop,
        plaintext: salt.zip(plaintext.as_deref().map(Vec::as_slice)),
    };
    let json = args.format == "json";
    match verify(&token, &root, &check) {
        Ok(verified) => {
            if json {
                out(&format!("{}\n", verified_json(&verified)));
            } else {
                out(&verified_text(&verified));
            }
            Ok(0)
        }
        Err(e) => {
            if json {
                out(&format!(
                    "{}\n",
                    json!({"ok": false, "reason": format!("{e:?}"), "message": e.to_string()})
                ));
            } else {
                out(&format!("refused: {e}\n"));
            }
            Ok(1)
        }
    }
}

fn run_attenuate(args: &AttenuateArgs) -> Result<u8, String> {
    let token = read_receipt(&args.receipt)?;
    let root =
        PublicKeyText::parse(&args.verifier_key).map_err(|e| format!("--verifier-key: {e}"))?;
    let narrowing = Narrowing {
        purposes: (!args.purpose.is_empty()).then(|| args.purpose.clone()),
        audiences: (!args.audience.is_empty()).then(|| args.audience.clone()),
        expires_unix: match &args.expires {
            Some(text) => Some(parse_time(text).map_err(|e| format!("--expires: {e}"))?),
            None => None,
        },
    };
    let narrowed = attenuate(&token, &root, &narrowing).map_err(|e| e.to_string())?;
    out(&format!("{narrowed}\n"));
    Ok(0)
}

fn run_inspect(args: &InspectArgs) -> Result<u8, String> {
    let token = read_receipt(&args.receipt)?;
    let blocks = inspect_unverified(&token).map_err(|e| e.to_string())?;
    let mut text = String::from(
        "// NOT VERIFIED: no signature was checked; use `kmsgov receipt verify` before trusting any of this.\n",
    );
    for (i, block) in blocks.iter().enumerate() {
        let name = if i == 0 { "authority" } else { "attenuation" };
        text.push_str(&format!("// block {i} ({name})\n{}\n", block.trim_end()));
    }
    out(&text);
    Ok(0)
}

/// The receipt argument: the token itself, or `@FILE` (`@-`: standard input).
fn read_receipt(arg: &str) -> Result<String, String> {
    let text = match arg.strip_prefix('@') {
        Some("-") => {
            std::io::read_to_string(std::io::stdin()).map_err(|e| format!("standard input: {e}"))?
        }
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
        None => arg.to_owned(),
    };
    Ok(text.trim().to_owned())
}

fn parse_time(text: &str) -> Result<i64, String> {
    kmsgov_policy::parse_date_millis(text.trim())
        .map(|ms| ms.div_euclid(1000))
        .ok_or_else(|| format!("not an RFC 3339 time: `{text}`"))
}

fn hex(bytes: &[u8]) -> String {
    kmsgov_core::crypto::hex(bytes)
}

fn verified_text(verified: &VerifiedReceipt) -> String {
    let c = &verified.claims;
    let mut text = format!(
        "ok: receipt {} from {} allows this use until {}\n",
        hex(&c.receipt_id),
        c.kms,
        iso8601(c.expires_unix)
    );
    for (name, value) in [
        ("key", format!("{} version {}", c.key_id, c.key_version)),
        ("ciphertext", hex(&c.ciphertext)),
        ("data policy", hex(&c.data_policy)),
        ("holder", hex(&c.holder)),
        ("plaintext commit", hex(&c.plaintext_commit)),
        (
            "plaintext",
            if verified.plaintext_checked {
                "matches the commitment".to_owned()
            } else {
                "not checked".to_owned()
            },
        ),
        (
            "audit",
            format!("{} entry {}", c.audit_origin, c.audit_index),
        ),
        (
            "governance",
            format!(
                "size {} root {}",
                c.governance_size,
                hex(&c.governance_root)
            ),
        ),
        ("purposes", c.purposes.join(", ")),
        ("audiences", c.audiences.join(", ")),
        ("reshare depth", c.reshare_depth.to_string()),
        ("blocks", verified.blocks.len().to_string()),
    ] {
        text.push_str(&format!("  {name:<17} {value}\n"));
    }
    text
}

fn verified_json(verified: &VerifiedReceipt) -> serde_json::Value {
    let c = &verified.claims;
    json!({
        "ok": true,
        "receipt_id": hex(&c.receipt_id),
        "kms": c.kms,
        "ciphertext": hex(&c.ciphertext),
        "key_id": c.key_id,
        "key_version": c.key_version,
        "data_policy": hex(&c.data_policy),
        "holder": hex(&c.holder),
        "plaintext_commit": hex(&c.plaintext_commit),
        "plaintext_checked": verified.plaintext_checked,
        "audit_origin": c.audit_origin,
        "audit_index": c.audit_index,
        "governance_size": c.governance_size,
        "governance_root": hex(&c.governance_root),
        "purposes": c.purposes,
        "audiences": c.audiences,
        "reshare_depth": c.reshare_depth,
        "expires": iso8601(c.expires_unix),
        "blocks": verified.blocks.iter().map(|b| json!({
            "revocation_id": hex(&b.revocation_id),
            "third_party_key": b.third_party_key,
        })).collect::<Vec<_>>(),
    })
}
