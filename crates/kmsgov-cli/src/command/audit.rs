//! `kmsgov audit`: the audit log of a data directory (`audit.db`), or of a
//! PostgreSQL database shared by several servers (`--store postgres://…`),
//! offline.
//!
//! - `verify` recomputes the tree from every entry, checks every stored
//!   checkpoint's signature and root, each leaf against its detail record,
//!   and, given a checkpoint saved earlier, that the log still extends it.
//! - `checkpoint` prints the latest signed checkpoint, to save.
//! - `verifier-key` prints the key that signs checkpoints, to pin.
//! - `show` lists the decisions for people.
//! - `prove` gives evidence that one request is in the log, and `check`
//!   verifies such evidence offline with only the pinned verifier key.

use std::path::PathBuf;

use base64::Engine as _;
use kmsgov_core::audit::leaf::op_name;
use kmsgov_core::audit::verify::{check_evidence, prove, verify, Evidence};
use kmsgov_core::audit::{checkpoint_signer, AuditSink, Leaf, Verifier};
use kmsgov_core::clock::iso8601;
use kmsgov_core::store::StoreError;
use kmsgov_store_postgres::PostgresAuditSink;
use serde_json::{json, Value};

use super::serve::existing_root_key;
use super::{err, out};

/// `kmsgov audit …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Checks the whole log; exit 0 when it is intact, 1 when not.
    Verify(VerifyArgs),
    /// Prints the latest signed checkpoint (save it to check the log later).
    Checkpoint(Location),
    /// Prints the verifier key of the checkpoints (derived from the root key).
    VerifierKey(KeyArgs),
    /// Lists the decisions in the log.
    Show(ShowArgs),
    /// Prints evidence (JSON) that the request with a given id is in the
    /// log: the entry, its detail record, an inclusion proof and the signed
    /// checkpoint it leads to.
    Prove(ProveArgs),
    /// Checks evidence from `prove` offline against a pinned verifier key;
    /// exit 0 when it holds, 1 when not.
    Check(CheckArgs),
}

/// Arguments of `kmsgov audit prove`.
#[derive(Debug, clap::Args)]
pub(crate) struct ProveArgs {
    #[command(flatten)]
    location: Location,
    /// The request id (`x-amzn-RequestId`) of the call.
    #[arg(long)]
    request_id: String,
}

/// Arguments of `kmsgov audit check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The evidence file (`-` for standard input).
    #[arg(long)]
    evidence: PathBuf,
    /// The verifier key of the log's checkpoints (`name+id+key`).
    #[arg(long)]
    verifier_key: String,
}

/// Where the log is.
#[derive(Debug, clap::Args)]
pub(crate) struct Location {
    /// The data directory of `kmsgov serve` (its `audit.db`, and its
    /// `root.key`).
    #[arg(long, default_value = "./kmsgov-data")]
    data_dir: PathBuf,
    /// The store `kmsgov serve` ran with: `sqlite` (the log is the data
    /// directory's `audit.db`) or a PostgreSQL URL, `postgres://…` (the log
    /// that every server on that database writes). Only read.
    #[arg(
        long,
        env = "KMSGOV_STORE",
        default_value = "sqlite",
        hide_env_values = true
    )]
    store: String,
}

/// How to find the checkpoint key.
#[derive(Debug, clap::Args)]
pub(crate) struct KeyArgs {
    #[command(flatten)]
    location: Location,
    /// The Region the server answered for (it names the log).
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// The root key file, when not `<data-dir>/root.key` (or set
    /// `KMSGOV_ROOT_KEY`).
    #[arg(long)]
    root_key_file: Option<PathBuf>,
}

/// Arguments of `kmsgov audit verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// A checkpoint saved earlier: the log must still extend it.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// The pinned verifier key (`name+id+key`); without it the key is
    /// derived from the root key.
    #[arg(long)]
    verifier_key: Option<String>,
}

/// Arguments of `kmsgov audit show`.
#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    location: Location,
    /// Only the last N entries.
    #[arg(long)]
    last: Option<u64>,
    /// `text` or `json` (one object per line).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

/// Exit codes: 0 done (for `verify`: intact), 1 the log is not intact, 2 an
/// error (no log, no key, bad arguments).
pub(crate) fn run(command: &Command) -> u8 {
    let result = match command {
        Command::Verify(args) => run_verify(args),
        Command::Checkpoint(location) => open(location).and_then(|sink| {
            let (_, note) = sink
                .latest_checkpoint()
                .map_err(|e| e.to_string())?
                .ok_or("the audit log is empty")?;
            out(&note);
            Ok(0)
        }),
        Command::VerifierKey(args) => signer_key(args).map(|key| {
            out(&format!("{key}\n"));
            0
        }),
        Command::Show(args) => run_show(args),
        Command::Prove(args) => run_prove(args),
        Command::Check(args) => run_check(args),
    };
    result.unwrap_or_else(|e| {
        err(&format!("kmsgov audit: {e}"));
        2
    })
}

/// The log `location` names: the data directory's (read-only), or the
/// PostgreSQL database's log (opened without changing the database).
fn open(location: &Location) -> Result<Box<dyn AuditSink>, String> {
    let spec = location.store.as_str();
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return match PostgresAuditSink::open_existing(spec) {
            Ok(sink) => Ok(Box::new(sink)),
            Err(StoreError::NotFound) => Err(format!(
                "--store: {}: no audit log (no server with this release has run on it)",
                describe(spec)
            )),
            Err(e) => Err(format!("--store: {}: {e}", describe(spec))),
        };
    }
    if spec != "sqlite" {
        return Err(format!(
            "--store: expected `sqlite` or a postgres:// URL, not {:?}",
            spec.split('@').next_back().unwrap_or(spec)
        ));
    }
    let dir = &location.data_dir;
    match kmsgov_store_sqlite::read_audit_log(dir) {
        Ok(Some((sink, _))) => Ok(sink),
        Ok(None) => Err(format!("{}: no audit log", dir.display())),
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

/// A PostgreSQL URL without its user and password.
fn describe(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!(
            "{scheme}://{}",
            rest.rsplit_once('@').map_or(rest, |(_, host)| host)
        ),
        None => String::new(),
    }
}

fn signer_key(args: &KeyArgs) -> Result<String, String> {
    let root = existing_root_key(&args.location.data_dir, args.root_key_file.as_deref())?;
    let signer = checkpoint_signer(&root, &args.region).map_err(|e| e.to_string())?;
    Ok(signer.verifier_key())
}

fn run_verify(args: &VerifyArgs) -> Result<u8, String> {
    let key = match &args.verifier_key {
        Some(k) => k.clone(),
        None => signer_key(&args.key)?,
    };
    let verifier = Verifier::parse(&key).map_err(|e| format!("--verifier-key: {e}"))?;
    let saved = match &args.checkpoint {
        Some(path) => {
            Some(std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let sink = open(&args.key.location)?;
    let report = verify(sink.as_ref(), &verifier, saved.as_deref()).map_err(|e| e.to_string())?;
    let root = base64::engine::general_purpose::STANDARD.encode(report.root);
    if report.ok() {
        out(&format!(
            "ok: {} entries, root {root}, {} signed checkpoints checked{}\n",
            report.size,
            report.checkpoints,
            if saved.is_some() {
                ", and the log extends the saved checkpoint"
            } else {
                ""
            }
        ));
        Ok(0)
    } else {
        let mut text = format!(
            "NOT INTACT: {} entries, {} problems; the first:\n",
            report.size,
            report.problems.len()
        );
        for p in &report.problems {
            text.push_str(&format!("  {p}\n"));
        }
        out(&text);
        Ok(1)
    }
}

fn run_prove(args: &ProveArgs) -> Result<u8, String> {
    let sink = open(&args.location)?;
    let size = sink.size().map_err(|e| e.to_string())?;
    let wanted = args.request_id.trim().to_ascii_lowercase();
    let mut from = 0;
    while from < size {
        let to = (from + 65_536).min(size);
        let entries = sink.read(from, to).map_err(|e| e.to_string())?;
        for (i, entry) in entries.iter().enumerate() {
            let Ok(leaf) = Leaf::decode(&entry.leaf) else {
                continue;
            };
            if uuid(&leaf.request_id) == wanted {
                let evidence = prove(sink.as_ref(), from + i as u64)?;
                let text = serde_json::to_string_pretty(&evidence).map_err(|e| e.to_string())?;
                out(&format!("{text}\n"));
                return Ok(0);
            }
        }
        from = to;
    }
    Err(format!("no request {wanted} in the audit log"))
}

fn run_check(args: &CheckArgs) -> Result<u8, String> {
    let shown = args.evidence.display();
    let text = if args.evidence.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("standard input: {e}"))?
    } else {
        std::fs::read_to_string(&args.evidence).map_err(|e| format!("{shown}: {e}"))?
    };
    let evidence: Evidence =
        serde_json::from_str(&text).map_err(|e| format!("{shown}: not evidence: {e}"))?;
    let verifier =
        Verifier::parse(&args.verifier_key).map_err(|e| format!("--verifier-key: {e}"))?;
    match check_evidence(&evidence, &verifier) {
        Ok((leaf, detail)) => {
            let detail: Value = serde_json::from_slice(&detail).unwrap_or(Value::Null);
            let member = |name: &str| detail.get(name).and_then(Value::as_str).unwrap_or("");
            out(&format!(
                "ok: entry {} of {} is in the signed log: {} {} by {} at {} ({:?}, {:?}){}\n",
                evidence.seq,
                evidence.tree_size,
                uuid(&leaf.request_id),
                op_name(leaf.op).unwrap_or("?"),
                member("principal"),
                iso8601(i64::try_from(leaf.time_ms / 1000).unwrap_or(0)),
                leaf.verdict,
                leaf.reason,
                match member("error") {
                    "" => String::new(),
                    e => format!(": {e}"),
                },
            ));
            Ok(0)
        }
        Err(e) => {
            out(&format!("NOT PROVEN: {e}\n"));
            Ok(1)
        }
    }
}

/// 16 bytes in the UUID form of the request ids the server sends.
fn uuid(bytes: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        kmsgov_core::crypto::push_hex(&mut s, std::slice::from_ref(byte));
    }
    s
}

fn run_show(args: &ShowArgs) -> Result<u8, String> {
    let sink = open(&args.location)?;
    let size = sink.size().map_err(|e| e.to_string())?;
    let from = args.last.map_or(0, |n| size.saturating_sub(n));
    let entries = sink.read(from, size).map_err(|e| e.to_string())?;
    let mut text = String::new();
    for (i, entry) in entries.iter().enumerate() {
        let seq = from + i as u64;
        let detail: Value = serde_json::from_slice(&entry.detail).unwrap_or(Value::Null);
        let line = match Leaf::decode(&entry.leaf) {
            Ok(leaf) => {
                let op = op_name(leaf.op).unwrap_or("?");
                let time = iso8601(i64::try_from(leaf.time_ms / 1000).unwrap_or(0));
                let member = |name: &str| detail.get(name).and_then(Value::as_str).unwrap_or("");
                let principal = member("principal");
                let error = member("error");
                if args.format == "json" {
                    json!({
                        "seq": seq, "time": time, "operation": op,
                        "request_id": uuid(&leaf.request_id),
                        "decision": format!("{:?}", leaf.verdict),
                        "reason": format!("{:?}", leaf.reason),
                        "principal": principal, "error": error,
                        "message": member("message"),
                    })
                    .to_string()
                } else {
                    format!(
                        "{seq:>8} {time} {op:<24} {:<5} {:<16} {principal} {error}",
                        format!("{:?}", leaf.verdict),
                        format!("{:?}", leaf.reason)
                    )
                }
            }
            Err(e) => format!("{seq:>8} unreadable leaf: {e}"),
        };
        text.push_str(line.trim_end());
        text.push('\n');
    }
    out(&text);
    Ok(0)
}
