//! `kmsgov governance`: the governance chain, offline (docs/governance.md).
//!
//! - `keygen` makes an administrator's Ed25519 key (PKCS#8) and prints its
//!   public key to put in a signer set;
//! - `sign` signs a record hash with it, for approvals made offline;
//! - `verify` checks a whole chain from its genesis against pinned keys,
//!   and, given a head seen earlier, that the chain still holds it;
//! - `show` lists the records and the pending ones;
//! - `export` writes the records to a file, one after another, for
//!   auditors (`verify --records FILE` reads it);
//! - `verifier-key` prints the server's governance key, derived from the
//!   data directory's root key, to pin.

use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use kmsgov_core::clock::iso8601;
use kmsgov_core::governance::{
    format_public_key, hex, parse_public_key, pending_info, read_all, split_records, verify_chain,
    Chain, GovernanceKey, GovernanceSink, Hash32, PendingInfo, Record, SignerSet, SERVER_KEY_LABEL,
};
use kmsgov_core::store::StoreError;
use kmsgov_store_postgres::PostgresGovernanceSink;
use kmsgov_store_sqlite::{SqliteGovernanceSink, GOVERNANCE_DB};
use serde_json::json;

use super::serve::existing_root_key;
use super::{err, out};

/// `kmsgov governance …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Writes a new Ed25519 private key (PKCS#8) and prints its public key
    /// (`ed25519:<base64>`) and key id.
    Keygen(KeygenArgs),
    /// Signs a record hash (or approves a proposal hash) with a key from
    /// `keygen`: prints the key id and the base64 signature.
    Sign(SignArgs),
    /// Checks the whole chain offline; exit 0 when it verifies, 1 when not.
    Verify(VerifyArgs),
    /// Lists the records and the pending ones.
    Show(ShowArgs),
    /// Writes the records to a file, one after another.
    Export(ExportArgs),
    /// Prints the server's governance public key (derived from the root
    /// key), to pin.
    VerifierKey(VerifierKeyArgs),
}

/// Arguments of `kmsgov governance keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the private key (created with mode 600; never
    /// overwritten).
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `kmsgov governance sign`.
#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {
    /// The private key file from `keygen`.
    #[arg(long)]
    key: PathBuf,
    /// The record hash to sign (64 hex digits): a signature of alg 1,
    /// valid for the record at its position in the chain only.
    #[arg(
        long,
        required_unless_present = "proposal_hash",
        conflicts_with = "proposal_hash"
    )]
    record_hash: Option<String>,
    /// The proposal hash to approve (64 hex digits, the `ProposalHash` of a
    /// pending change): a signature of alg 2, which stays valid when the
    /// pending record is rebased onto a newer head.
    #[arg(long)]
    proposal_hash: Option<String>,
}

/// Where the chain is: exactly one of the three.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct Location {
    /// The data directory of `kmsgov serve` (its `governance.db`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL URL, `postgres://…` (the chain every server on that
    /// database writes). Only read.
    #[arg(long)]
    store: Option<String>,
    /// A file of records, one after another (from `export`).
    #[arg(long)]
    records: Option<PathBuf>,
}

/// Arguments of `kmsgov governance verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    location: Location,
    /// A trusted key, `ed25519:<base64>` (repeat for several): the genesis
    /// signer set must be signed by pinned keys.
    #[arg(long = "pin", required = true)]
    pins: Vec<String>,
    /// A head seen earlier, `SEQ:HASH` (hash in hex): the chain must still
    /// hold that record at that seq (not truncated, not rewritten).
    #[arg(long)]
    head: Option<String>,
}

/// Arguments of `kmsgov governance show`.
#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    location: Location,
    /// `text` or `json` (one object per line).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

/// Arguments of `kmsgov governance export`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    location: Location,
    /// The file to write.
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `kmsgov governance verifier-key`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifierKeyArgs {
    /// The data directory of `kmsgov serve` (its `root.key`).
    #[arg(long, default_value = "./kmsgov-data")]
    data_dir: PathBuf,
    /// The root key file, when not `<data-dir>/root.key` (or set
    /// `KMSGOV_ROOT_KEY`).
    #[arg(long)]
    root_key_file: Option<PathBuf>,
}

/// Exit codes: 0 done (for `verify`: the chain verifies), 1 it does not, 2
/// an error (no chain, bad arguments).
pub(crate) fn run(command: &Command) -> u8 {
    let result = match command {
        Command::Keygen(args) => run_keygen(args),
        Command::Sign(args) => run_sign(args),
        Command::Verify(args) => run_verify(args),
        Command::Show(args) => run_show(args),
        Command::Export(args) => run_export(args),
        Command::VerifierKey(args) => run_verifier_key(args),
    };
    result.unwrap_or_else(|e| {
        err(&format!("kmsgov governance: {e}"));
        2
    })
}

fn describe_key(public_key: &[u8; 32]) -> String {
    format!(
        "{}\nkey-id {:08x}\n",
        format_public_key(public_key),
        kmsgov_core::governance::key_id(public_key)
    )
}

fn run_keygen(args: &KeygenArgs) -> Result<u8, String> {
    let shown = args.out.display();
    let (key, der) = GovernanceKey::generate_pkcs8()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.out)
        .map_err(|e| format!("{shown}: {e}"))?;
    std::io::Write::write_all(&mut file, &der)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{shown}: {e}"))?;
    out(&describe_key(&key.public_key()));
    Ok(0)
}

fn run_sign(args: &SignArgs) -> Result<u8, String> {
    let shown = args.key.display();
    let der =
        zeroize::Zeroizing::new(std::fs::read(&args.key).map_err(|e| format!("{shown}: {e}"))?);
    let key = GovernanceKey::from_pkcs8(&der).map_err(|e| format!("{shown}: {e}"))?;
    let signature = match (&args.record_hash, &args.proposal_hash) {
        (Some(text), None) => {
            key.sign(&parse_hash(text).map_err(|e| format!("--record-hash: {e}"))?)
        }
        (None, Some(text)) => {
            key.approve(&parse_hash(text).map_err(|e| format!("--proposal-hash: {e}"))?)
        }
        _ => return Err("give one of --record-hash and --proposal-hash".into()),
    };
    out(&format!(
        "key-id {:08x}\nsignature {}\n",
        signature.key_id,
        STANDARD.encode(&signature.sig)
    ));
    Ok(0)
}

fn run_verifier_key(args: &VerifierKeyArgs) -> Result<u8, String> {
    let root = existing_root_key(&args.data_dir, args.root_key_file.as_deref())?;
    let seed = root.derive(SERVER_KEY_LABEL).map_err(|e| e.to_string())?;
    let key = GovernanceKey::from_seed(&seed)?;
    out(&describe_key(&key.public_key()));
    Ok(0)
}

/// 64 hex digits.
fn parse_hash(text: &str) -> Result<Hash32, String> {
    let text = text.trim();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{text}`: expected 64 hex digits"));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = text.get(2 * i..2 * i + 2).unwrap_or("00");
        *byte = u8::from_str_radix(pair, 16).map_err(|e| format!("`{text}`: {e}"))?;
    }
    Ok(out)
}

/// The records and pending records `location` names.
/// Records and pending records (hash, bytes).
type Loaded = (Vec<Vec<u8>>, Vec<(Hash32, Vec<u8>)>);

fn load(location: &Location) -> Result<Loaded, String> {
    if let Some(path) = &location.records {
        let shown = path.display();
        let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
        // Split here only to report an unreadable file as a failed check.
        return Ok((vec![bytes], Vec::new()));
    }
    let sink = open(location)?;
    let records = read_all(sink.as_ref()).map_err(|e| e.to_string())?;
    let pending = sink.pending().map_err(|e| e.to_string())?;
    Ok((records, pending))
}

/// The sink of `--data-dir` or `--store`.
fn open(location: &Location) -> Result<Box<dyn GovernanceSink>, String> {
    if let Some(spec) = &location.store {
        if !(spec.starts_with("postgres://") || spec.starts_with("postgresql://")) {
            return Err("--store: expected a postgres:// URL".into());
        }
        return match PostgresGovernanceSink::open_existing(spec) {
            Ok(sink) => Ok(Box::new(sink)),
            Err(StoreError::NotFound) => {
                Err("--store: the database holds no governance chain".into())
            }
            Err(e) => Err(format!("--store: {e}")),
        };
    }
    let dir = location
        .data_dir
        .as_ref()
        .ok_or("give --data-dir, --store or --records")?;
    let path = dir.join(GOVERNANCE_DB);
    if !path.exists() {
        return Err(format!("{}: no governance chain", path.display()));
    }
    let sink = SqliteGovernanceSink::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Box::new(sink))
}

/// The records of `location`, split; a file that does not split is a
/// failed check (exit 1), named by the record where it breaks.
fn records(location: &Location) -> Result<Result<Vec<Vec<u8>>, String>, String> {
    let (records, _) = load(location)?;
    if location.records.is_some() {
        let file = records.concat();
        return Ok(split_records(&file).map_err(|f| f.to_string()));
    }
    Ok(Ok(records))
}

fn run_verify(args: &VerifyArgs) -> Result<u8, String> {
    let pins = args
        .pins
        .iter()
        .map(|p| parse_public_key(p).map_err(|e| format!("--pin: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let head = match &args.head {
        Some(text) => {
            let (seq, hash) = text
                .split_once(':')
                .ok_or_else(|| format!("--head: `{text}`: expected SEQ:HASH"))?;
            let seq = seq
                .parse::<u64>()
                .map_err(|e| format!("--head: `{seq}`: {e}"))?;
            Some((seq, parse_hash(hash).map_err(|e| format!("--head: {e}"))?))
        }
        None => None,
    };
    let records = match records(&args.location)? {
        Ok(records) => records,
        Err(failure) => {
            out(&format!("NOT INTACT: {failure}\n"));
            return Ok(1);
        }
    };
    match verify_chain(&records, &pins, head) {
        Ok(report) => {
            out(&format!(
                "ok: {} records, head {}{}\n",
                report.records,
                hex(&report.head),
                if head.is_some() {
                    ", and the chain holds the pinned head"
                } else {
                    ""
                }
            ));
            Ok(0)
        }
        Err(failure) => {
            out(&format!("NOT INTACT: {failure}\n"));
            Ok(1)
        }
    }
}

fn run_export(args: &ExportArgs) -> Result<u8, String> {
    if args.location.records.is_some() {
        return Err("export reads --data-dir or --store".into());
    }
    let sink = open(&args.location)?;
    let records = read_all(sink.as_ref()).map_err(|e| e.to_string())?;
    let shown = args.out.display();
    std::fs::write(&args.out, records.concat()).map_err(|e| format!("{shown}: {e}"))?;
    out(&format!("{} records written to {shown}\n", records.len()));
    Ok(0)
}

fn run_show(args: &ShowArgs) -> Result<u8, String> {
    let (_, pending) = load(&args.location)?;
    let records = records(&args.location)??;
    let json = args.format == "json";
    let mut text = String::new();
    // Applied without pins: `show` describes, `verify` checks.
    let mut chain = Chain::new(None, &[]);
    for (i, bytes) in records.iter().enumerate() {
        let line = match Record::parse(bytes) {
            Ok(record) => {
                let hash = record.hash().map(|h| hex(&h)).unwrap_or_default();
                let problem = chain.apply(bytes).err().map(|e| e.to_string());
                describe(&record, &hash, json, "record", problem.as_deref())
            }
            Err(e) => {
                if json {
                    json!({"seq": i, "error": e.to_string()}).to_string()
                } else {
                    format!("{i:>6} unreadable: {e}")
                }
            }
        };
        text.push_str(&line);
        text.push('\n');
    }
    for (hash, bytes) in pending {
        let Ok(record) = Record::parse(&bytes) else {
            continue;
        };
        let info = pending_info(&chain, hash, record);
        text.push_str(&describe_pending(&info, json));
        text.push('\n');
    }
    out(&text);
    Ok(0)
}

fn describe(record: &Record, hash: &str, json: bool, what: &str, problem: Option<&str>) -> String {
    let signers: Vec<String> = record
        .signer_ids()
        .iter()
        .map(|id| format!("{id:08x}"))
        .collect();
    let time = iso8601(i64::try_from(record.effective_at).unwrap_or(i64::MAX));
    let set = (record.record_type == kmsgov_core::governance::RecordType::SignerSetChange)
        .then(|| SignerSet::parse(&record.payload).ok())
        .flatten();
    if json {
        let mut value = json!({
            "kind": what,
            "seq": record.seq,
            "type": record.record_type.name(),
            "record_hash": hash,
            "effective_at": time,
            "subject": hex(&record.subject),
            "new_hash": hex(&record.new_hash),
            "expected_old": hex(&record.expected_old),
            "justification": hex(&record.justification),
            "payload_len": record.payload.len(),
            "signed_by": signers,
        });
        if let Some(set) = &set {
            set_member(&mut value, "signer_set", signer_set_json(set));
        }
        if let Some(problem) = problem {
            set_member(&mut value, "problem", json!(problem));
        }
        return value.to_string();
    }
    let mut line = format!(
        "{:>6} {time} {:<20} subject {} -> {} signed by {}",
        record.seq,
        record.record_type.name(),
        short(&record.subject),
        short(&record.new_hash),
        if signers.is_empty() {
            "nobody".to_owned()
        } else {
            signers.join(",")
        }
    );
    if let Some(set) = &set {
        let members: Vec<String> = set.members().map(|(id, _)| format!("{id:08x}")).collect();
        let overrides: Vec<String> = set.overrides().map(|(t, k)| format!("{t}={k}")).collect();
        line.push_str(&format!(
            " [set: {}; threshold {}{}]",
            members.join(","),
            set.default_threshold(),
            if overrides.is_empty() {
                String::new()
            } else {
                format!(", {}", overrides.join(", "))
            }
        ));
    }
    if let Some(problem) = problem {
        line.push_str(&format!(" INVALID: {problem}"));
    }
    line
}

fn describe_pending(info: &PendingInfo, json: bool) -> String {
    let hash = hex(&info.record_hash);
    let mut line = describe(&info.record, &hash, json, "pending", None);
    if json {
        if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&line) {
            set_member(&mut value, "have", json!(info.have));
            set_member(&mut value, "need", json!(info.need));
            set_member(&mut value, "proposal_hash", json!(hex(&info.proposal_hash)));
            if let Some(stale) = &info.stale {
                set_member(&mut value, "stale", json!(stale));
            }
            line = value.to_string();
        }
        return line;
    }
    format!(
        "pending {hash} (proposal {}): {} ({} of {} signatures){}",
        hex(&info.proposal_hash),
        line.trim_start(),
        info.have,
        info.need,
        info.stale
            .as_ref()
            .map(|s| format!(" STALE: {s}"))
            .unwrap_or_default()
    )
}

fn signer_set_json(set: &SignerSet) -> serde_json::Value {
    let members: Vec<serde_json::Value> = set
        .members()
        .map(|(id, pk)| json!({"key_id": format!("{id:08x}"), "public_key": format_public_key(pk)}))
        .collect();
    let overrides: serde_json::Map<String, serde_json::Value> = set
        .overrides()
        .map(|(t, k)| (t.name().to_owned(), json!(k)))
        .collect();
    json!({
        "members": members,
        "default_threshold": set.default_threshold(),
        "thresholds": overrides,
    })
}

/// The first 8 bytes of a hash in hex, or `-` for zero.
fn short(hash: &Hash32) -> String {
    if *hash == [0; 32] {
        "-".to_owned()
    } else {
        hex(hash.get(..8).unwrap_or_default())
    }
}

/// Sets a member of a JSON object (nothing when it is not one).
fn set_member(value: &mut serde_json::Value, name: &str, member: serde_json::Value) {
    if let Some(object) = value.as_object_mut() {
        object.insert(name.to_owned(), member);
    }
}
