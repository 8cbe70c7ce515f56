//! `kmsgov migrate`: moves a data directory's SQLite store and audit log
//! into a PostgreSQL database, then checks that both arrived whole.
//!
//! The source is checked first (its audit log must verify), the target must
//! be empty (no key, no audit entry), and the copy is checked afterwards:
//! the target's keys, aliases and grants equal the source's record for
//! record, and the target's audit log verifies with the same checkpoint key
//! to the same size and root. The audit log is copied with its original
//! signed checkpoints, so a checkpoint an auditor saved before the move
//! still verifies against the database. Key material moves as it is stored,
//! wrapped under the root key: the root key is read only to derive the
//! checkpoint key, and never reaches the database.

use std::path::PathBuf;

use base64::Engine as _;
use kmsgov_core::audit::verify::{verify, Report};
use kmsgov_core::audit::{checkpoint_signer, AuditSink, Verifier};
use kmsgov_core::store::{Snapshot, Store};
use kmsgov_store_postgres::{PostgresAuditSink, PostgresStore};
use kmsgov_store_sqlite::SqliteStore;

use super::serve::existing_root_key;
use super::{err, out};

/// Arguments of `kmsgov migrate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The data directory of a server that ran on SQLite (its `kmsgov.db`
    /// and `audit.db`). Stop that server first.
    #[arg(long)]
    from: PathBuf,
    /// The PostgreSQL database to move into, `postgres://…` (or set
    /// `KMSGOV_STORE`); it must hold no keys and no audit entries.
    #[arg(long, env = "KMSGOV_STORE", hide_env_values = true)]
    to: String,
    /// The Region the server answered for (it names the audit log).
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// The root key file, when not `<from>/root.key` (or set `KMSGOV_ROOT_KEY`).
    #[arg(long)]
    root_key_file: Option<PathBuf>,
}

/// Exit codes: 0 moved and checked, 1 the check after the copy failed, 2
/// nothing was moved (bad arguments, a source that does not verify, a
/// target that is not empty).
pub(crate) fn run(args: &Args) -> u8 {
    match migrate(args) {
        Ok(code) => code,
        Err(e) => {
            err(&format!("kmsgov migrate: {e}"));
            2
        }
    }
}

fn migrate(args: &Args) -> Result<u8, String> {
    if !(args.to.starts_with("postgres://") || args.to.starts_with("postgresql://")) {
        return Err("--to: expected a postgres:// URL".into());
    }
    let db = args.from.join("kmsgov.db");
    if !db.is_file() {
        return Err(format!("{}: no such store", db.display()));
    }
    let root = existing_root_key(&args.from, args.root_key_file.as_deref())?;
    let verifier_key = checkpoint_signer(&root, &args.region)
        .map_err(|e| e.to_string())?
        .verifier_key();
    let verifier = Verifier::parse(&verifier_key).map_err(|e| e.to_string())?;

    // The source: its records, and its audit log, which must verify.
    let source = SqliteStore::open(&db).map_err(|e| format!("{}: {e}", db.display()))?;
    let records = source
        .load_all()
        .map_err(|e| format!("{}: {e}", db.display()))?;
    let opened = kmsgov_store_sqlite::read_audit_log(&args.from)
        .map_err(|e| format!("{}: the audit log: {e}", args.from.display()))?;
    let source_log = match opened {
        Some((sink, audit_path)) => {
            let report = check(sink.as_ref(), &verifier)?;
            if !report.ok() {
                return Err(format!(
                    "{}: the audit log does not verify ({}); nothing was moved",
                    audit_path.display(),
                    report
                        .problems
                        .first()
                        .map_or_else(String::new, ToString::to_string)
                ));
            }
            Some((sink, report))
        }
        None => None,
    };

    // The target: empty.
    let target = PostgresStore::open(&args.to).map_err(|e| format!("--to: {e}"))?;
    let target_log = PostgresAuditSink::beside(&target);
    if target.holds_keys().map_err(|e| format!("--to: {e}"))? {
        return Err("--to: the database already holds keys; nothing was moved".into());
    }
    if target_log.size().map_err(|e| format!("--to: {e}"))? > 0 {
        return Err("--to: the database already holds an audit log; nothing was moved".into());
    }

    // Copy.
    copy_records(&records, &target)?;
    if let Some((sink, _)) = &source_log {
        copy_log(sink.as_ref(), &target_log)?;
    }

    // Check.
    let mut moved = target.load_all().map_err(|e| format!("--to: {e}"))?;
    moved.position = 0;
    let mut expected = records.clone();
    expected.position = 0;
    if moved != expected {
        out("NOT MOVED WHOLE: the database's keys, aliases and grants differ from the source\n");
        return Ok(1);
    }
    let mut summary = format!(
        "moved {} keys, {} aliases, {} grants",
        records.keys.len(),
        records.aliases.len(),
        records.grants.len()
    );
    if let Some((_, before)) = &source_log {
        let after = check(&target_log, &verifier)?;
        if !after.ok() || after.size != before.size || after.root != before.root {
            out(&format!(
                "NOT MOVED WHOLE: the database's audit log has {} entries (source {}), {} problems\n",
                after.size,
                before.size,
                after.problems.len()
            ));
            return Ok(1);
        }
        summary.push_str(&format!(
            " and {} audit entries (root {}, {} signed checkpoints verified)",
            after.size,
            base64::engine::general_purpose::STANDARD.encode(after.root),
            after.checkpoints
        ));
    }
    out(&format!("{summary} to {}\n", target.describe()));
    Ok(0)
}

fn check(sink: &dyn AuditSink, verifier: &Verifier) -> Result<Report, String> {
    verify(sink, verifier, None).map_err(|e| e.to_string())
}

fn copy_records(records: &Snapshot, target: &PostgresStore) -> Result<(), String> {
    for key in &records.keys {
        target
            .create_key(key)
            .map_err(|e| format!("copying key {}: {e}", key.key_id))?;
    }
    for alias in &records.aliases {
        target
            .create_alias(alias)
            .map_err(|e| format!("copying {}: {e}", alias.name))?;
    }
    for grant in &records.grants {
        target
            .create_grant(grant)
            .map_err(|e| format!("copying grant {}: {e}", grant.grant_id))?;
    }
    Ok(())
}

/// Appends the source's entries batch by batch, as they were committed:
/// each batch ends at one of the source's checkpoints and is stored with it
/// (a commit holds at most a few thousand entries).
fn copy_log(source: &dyn AuditSink, target: &dyn AuditSink) -> Result<(), String> {
    let checkpoints = source
        .checkpoints()
        .map_err(|e| format!("reading the audit log: {e}"))?;
    let mut at = 0;
    for (size, note) in checkpoints {
        if size <= at {
            continue;
        }
        let entries = source
            .read(at, size)
            .map_err(|e| format!("reading the audit log: {e}"))?;
        if entries.len() as u64 != size - at {
            return Err(format!("the audit log ends before entry {size}"));
        }
        target
            .append(at, &entries, &note)
            .map_err(|e| format!("writing the audit log at {at}: {e}"))?;
        at = size;
    }
    Ok(())
}
