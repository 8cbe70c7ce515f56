//! `kmsgov serve`: the KMS-compatible server on an embedded SQLite store, or
//! on PostgreSQL with `--store postgres://…` (or `KMSGOV_STORE`).
//!
//! The data directory holds `kmsgov.db` (keys, aliases, grants) and the audit
//! log `audit.db` (with PostgreSQL both are in the database, the audit log
//! shared by every server on it) and, unless the operator supplies the
//! root key with `--root-key-file` or the `KMSGOV_ROOT_KEY` environment
//! variable (base64), `root.key`: 32 random bytes created on first start with
//! mode 0600. Key material is stored wrapped under the root key, so the
//! database alone reveals no key.

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use kmsgov_authz::{Scenario, World};
use kmsgov_core::audit::{AuditLog, AuditSink};
use kmsgov_core::governance::{Governance, GovernanceSink};
use kmsgov_core::receipt::ReceiptIssuer;
use kmsgov_core::root_key::{RootKey, ROOT_KEY_LEN};
use kmsgov_core::service::governed::Governed;
use kmsgov_core::store::Store;
use kmsgov_core::{Config, Kms, SystemClock};
use kmsgov_policy::Caller;
use kmsgov_server::{Authentication, Server};
use kmsgov_store_postgres::{PostgresAuditSink, PostgresGovernanceSink, PostgresStore};
use kmsgov_store_sqlite::{SqliteGovernanceSink, SqliteStore};

use super::{add_guardrail_dir, err, out};

/// Arguments of `kmsgov serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The address to listen on (port 0 picks a free port; the address
    /// chosen is printed).
    #[arg(long, default_value = "127.0.0.1:4599")]
    listen: SocketAddr,
    /// Where the database (`kmsgov.db`), the audit log (`audit.db`) and the
    /// root key (`root.key`) live.
    #[arg(long, default_value = "./kmsgov-data")]
    data_dir: PathBuf,
    /// Where keys, aliases and grants are stored: `sqlite` (`kmsgov.db` in the
    /// data directory) or a PostgreSQL URL, `postgres://user@host:port/db`
    /// (no TLS yet: loopback or a unix socket). With PostgreSQL the audit
    /// log is kept in the same database, one log for every server on it.
    /// The root key stays in the data directory either way.
    #[arg(
        long,
        env = "KMSGOV_STORE",
        default_value = "sqlite",
        hide_env_values = true
    )]
    store: String,
    /// A scenario file whose accounts, principals (with their `access_keys`)
    /// and VPC endpoints make the directory; its keys and tests are ignored.
    /// Reloaded on SIGHUP.
    #[arg(long)]
    world: Option<PathBuf>,
    /// A directory of guardrails (`*.rego`, docs/guardrails.md), added to
    /// the world's own; read again with the world file on SIGHUP.
    #[arg(long)]
    guardrails: Option<PathBuf>,
    /// The Region the server answers for [default: the world file's, else
    /// us-east-1].
    #[arg(long)]
    region: Option<String>,
    /// A file holding the 32-byte root key (readable by its owner only),
    /// instead of `<data-dir>/root.key`.
    #[arg(long)]
    root_key_file: Option<PathBuf>,
    /// Development mode: signatures are not checked, every request is made
    /// by the root user of the default account, and `POST /kmsgov/reset`
    /// wipes all state. Never for real keys.
    #[arg(long)]
    dev: bool,
    /// Do not write the audit log (`<data-dir>/audit.db`, or the PostgreSQL
    /// database's). For measuring its cost only: without it, requests leave
    /// no tamper-evident record.
    #[arg(long)]
    no_audit: bool,
    /// Do not keep governance records (data-use policies, signed records of
    /// every change, use receipts). For measuring their cost only.
    #[arg(long)]
    no_governance: bool,
    /// A file holding a bearer token (its first line) that the decision API
    /// (`POST /v1/data/kmsgov/decision`) accepts instead of a signature, as
    /// calls by `--decision-token-principal`; for OPA-style clients.
    #[arg(long, requires = "decision_token_principal")]
    decision_token_file: Option<PathBuf>,
    /// The principal the bearer token acts as (its policies must allow
    /// `kmsgov:Evaluate`).
    #[arg(long, requires = "decision_token_file")]
    decision_token_principal: Option<String>,
    /// Log format on stderr: `text` or `json` (filter with RUST_LOG).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The account of the default world (without `--world`).
const DEFAULT_ACCOUNT: &str = "000000000000";
/// The administrator of the default world.
const DEFAULT_ADMIN: &str = "arn:aws:iam::000000000000:user/admin";
/// Development mode's documented credentials for the default world (any
/// well-formed credentials are accepted in development mode).
const DEV_ACCESS_KEY_ID: &str = "AKIAKMSGOVDEVEXAMPLE";
const DEV_SECRET: &str = "kmsgov-development-mode-secret-access-key";
/// The environment variable that may carry the root key, in base64.
const ROOT_KEY_ENV: &str = "KMSGOV_ROOT_KEY";
/// How often due deletions and rotations are carried out without traffic.
const TICK_PERIOD: Duration = Duration::from_secs(5);

/// Exit codes: 0 after a clean shutdown, 2 when the server cannot start.
pub(crate) fn run(args: &Args) -> u8 {
    init_logging(&args.log_format);
    match start(args) {
        Ok(()) => 0,
        Err(e) => {
            err(&format!("kmsgov serve: {e}"));
            2
        }
    }
}

fn start(args: &Args) -> Result<(), String> {
    let (mut world, credentials) = match &args.world {
        Some(path) => (load_world(path, None)?, None),
        None => {
            let (id, secret) = if args.dev {
                (DEV_ACCESS_KEY_ID.to_owned(), DEV_SECRET.to_owned())
            } else {
                generate_credentials()?
            };
            (default_world(&id, &secret)?, Some((id, secret)))
        }
    };
    if let Some(dir) = &args.guardrails {
        add_guardrail_dir(&mut world, dir)?;
    }
    let region = args
        .region
        .clone()
        .or_else(|| args.world.as_ref().map(|_| world.region.clone()))
        .unwrap_or_else(|| "us-east-1".to_owned());
    let authentication = if args.dev {
        let account = world
            .accounts
            .keys()
            .next()
            .map_or(DEFAULT_ACCOUNT, String::as_str);
        let administrator = Caller::parse(&format!("arn:aws:iam::{account}:root"))
            .map_err(|e| format!("development administrator: {e}"))?;
        Authentication::Development { administrator }
    } else {
        Authentication::SigV4
    };
    let decision_token = match (&args.decision_token_file, &args.decision_token_principal) {
        (Some(file), Some(arn)) => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(file)
                    .map_err(|e| format!("{}: cannot read: {e}", file.display()))?,
            );
            let token = text.lines().next().unwrap_or("").trim().to_owned();
            if token.len() < 16 {
                return Err(format!(
                    "{}: the decision token must be at least 16 characters",
                    file.display()
                ));
            }
            let principal =
                Caller::parse(arn).map_err(|e| format!("--decision-token-principal: {e}"))?;
            Some((zeroize::Zeroizing::new(token), principal))
        }
        _ => None,
    };
    let decision_note = match &decision_token {
        Some((_, p)) => format!(
            "\ndecision API: POST /v1/data/kmsgov/decision, bearer token as {}",
            p.arn()
        ),
        None => String::new(),
    };
    let principals: Vec<(String, Vec<String>)> = {
        let mut p: Vec<_> = world
            .principals
            .values()
            .filter(|p| !p.access_keys.is_empty())
            .map(|p| {
                (
                    p.arn.clone(),
                    p.access_keys.iter().map(|k| k.id.clone()).collect(),
                )
            })
            .collect();
        p.sort();
        p
    };

    let data_dir = &args.data_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| {
            format!(
                "{}: cannot create the data directory: {e}",
                data_dir.display()
            )
        })?;
    check_writable(data_dir)?;
    let (store, store_note) = open_store(&args.store, data_dir)?;
    let root_key = root_key(args, &store_note)?;
    let governance_seed = root_key
        .derive(kmsgov_core::governance::SERVER_KEY_LABEL)
        .map_err(|e| format!("the governance key: {e}"))?;
    let receipt_seed = root_key
        .derive(kmsgov_core::receipt::RECEIPT_KEY_LABEL)
        .map_err(|e| format!("the receipt key: {e}"))?;
    let signer = kmsgov_core::audit::checkpoint_signer(&root_key, &region)
        .map_err(|e| format!("the audit log: {e}"))?;
    // With PostgreSQL, one audit log in the database for every server on it.
    let shared_audit = match &store {
        StoreChoice::Postgres(store) => Some(PostgresAuditSink::beside(store)),
        StoreChoice::Sqlite(_) => None,
    };
    let governance_sink: Option<(Arc<dyn GovernanceSink>, String)> = if args.no_governance {
        None
    } else {
        Some(match &store {
            StoreChoice::Postgres(store) => {
                let sink = PostgresGovernanceSink::beside(store);
                (Arc::new(sink), "the PostgreSQL database".to_owned())
            }
            StoreChoice::Sqlite(_) => {
                let path = data_dir.join(kmsgov_store_sqlite::GOVERNANCE_DB);
                let sink = SqliteGovernanceSink::open(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                (Arc::new(sink), path.display().to_string())
            }
        })
    };
    let store = store.open()?;
    let kms = Kms::open(Config {
        region: region.clone(),
        store,
        root_key,
        clock: Arc::new(SystemClock),
        directory: world,
    })
    .map_err(|e| match &e.detail {
        // Material that does not unwrap: most likely another root key.
        Some(detail) if detail.contains("does not unwrap") => {
            format!("cannot open the service: {detail} (is this the right root key?)")
        }
        Some(detail) => format!("cannot open the service: {detail}"),
        None => format!("cannot open the service: {e}"),
    })?;
    let (kms, audit_note) = if args.no_audit {
        tracing::warn!("the audit log is off (--no-audit): requests leave no record");
        (kms, "audit log off (--no-audit)".to_owned())
    } else {
        let (sink, shown): (Arc<dyn AuditSink>, String) = if let Some(sink) = shared_audit {
            let shown = sink.describe();
            (Arc::new(sink), shown)
        } else {
            let (sink, path) = kmsgov_store_sqlite::open_audit_log(data_dir)
                .map_err(|e| format!("the audit log: {e}"))?;
            (Arc::from(sink), path.display().to_string())
        };
        let note = format!(
            "audit log in {shown}, checkpoint key {}",
            signer.verifier_key()
        );
        let log = AuditLog::open(sink, signer).map_err(|e| format!("{shown}: {e}"))?;
        let kms = kms
            .with_audit(log)
            .map_err(|e| format!("the audit log: {e}"))?;
        (kms, note)
    };
    let (kms, audit_note) = match governance_sink {
        None => {
            tracing::warn!(
                "governance is off (--no-governance): no records, data-use policies or receipts"
            );
            (
                kms,
                format!("{audit_note}\ngovernance off (--no-governance)"),
            )
        }
        Some((sink, shown)) => {
            let records = Governance::open(sink, &governance_seed, &region, now_unix())
                .map_err(|e| format!("{shown}: {e}"))?;
            let issuer = ReceiptIssuer::from_seed(&receipt_seed)
                .map_err(|e| format!("the receipt key: {e}"))?;
            let note = format!(
                "{audit_note}\ngovernance records in {shown}, server key {}, receipt key {}",
                kmsgov_core::service::governed::server_key_text(&records.server_public_key()),
                issuer.verifier_key()
            );
            (
                kms.with_governance(Governed::new(Arc::new(records), issuer)),
                note,
            )
        }
    };
    serve_kms(
        args,
        kms,
        &region,
        Access {
            authentication,
            decision_token,
        },
        &principals,
        credentials.as_ref(),
        &format!("keys in {}\n{audit_note}{decision_note}", store_note.shown),
    )
}

/// How callers authenticate: SigV4 (or development mode), and the decision
/// API's bearer token with the principal it acts as.
struct Access {
    authentication: Authentication,
    decision_token: Option<(zeroize::Zeroizing<String>, Caller)>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("authentication", &self.authentication)
            .field(
                "decision_token",
                &self
                    .decision_token
                    .as_ref()
                    .map(|(_, p)| ("<redacted>", p.arn())),
            )
            .finish()
    }
}

/// The store `--store` names, not opened yet.
#[derive(Debug)]
enum StoreChoice {
    Sqlite(PathBuf),
    Postgres(Box<PostgresStore>),
}

/// What the banner and the root key check say about the store.
#[derive(Debug)]
struct StoreNote {
    /// Where keys are, for people.
    shown: String,
    /// The store may already hold keys (which a new root key cannot unwrap).
    may_hold_keys: bool,
}

impl StoreChoice {
    fn open(self) -> Result<Arc<dyn Store>, String> {
        match self {
            StoreChoice::Sqlite(db) => Ok(Arc::new(
                SqliteStore::open(&db).map_err(|e| format!("{}: {e}", db.display()))?,
            )),
            StoreChoice::Postgres(store) => Ok(Arc::new(*store)),
        }
    }
}

/// Refuses a data directory whose databases cannot be written (a read-only
/// file system, say), naming the file and the reason, instead of SQLite's
/// "unable to open database file". Opening for writing changes nothing.
fn check_writable(data_dir: &Path) -> Result<(), String> {
    for name in [
        "kmsgov.db",
        kmsgov_store_sqlite::AUDIT_DB,
        kmsgov_store_sqlite::AUDIT_LOG,
        kmsgov_store_sqlite::GOVERNANCE_DB,
    ] {
        let path = data_dir.join(name);
        if !path.exists() {
            continue;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: cannot be written: {e}", path.display()))?;
    }
    Ok(())
}

/// Parses `--store`; a PostgreSQL store is connected (and migrated) here, so
/// the root key check can ask whether it holds keys.
fn open_store(spec: &str, data_dir: &Path) -> Result<(StoreChoice, StoreNote), String> {
    if spec == "sqlite" {
        let db = data_dir.join("kmsgov.db");
        let note = StoreNote {
            shown: db.display().to_string(),
            may_hold_keys: db.exists(),
        };
        return Ok((StoreChoice::Sqlite(db), note));
    }
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        let store = PostgresStore::open(spec).map_err(|e| format!("--store: {e}"))?;
        let shown = store.describe();
        let holds_keys = store
            .holds_keys()
            .map_err(|e| format!("--store: {shown}: {e}"))?;
        let note = StoreNote {
            shown,
            may_hold_keys: holds_keys,
        };
        return Ok((StoreChoice::Postgres(Box::new(store)), note));
    }
    Err(format!(
        "--store: expected `sqlite` or a postgres:// URL, not {:?}",
        spec.split('@').next_back().unwrap_or(spec)
    ))
}

/// Serves `kms` until a shutdown signal.
fn serve_kms(
    args: &Args,
    kms: Kms,
    region: &str,
    access: Access,
    principals: &[(String, Vec<String>)],
    credentials: Option<&(String, String)>,
    audit_note: &str,
) -> Result<(), String> {
    let data_dir = &args.data_dir;
    let kms = Arc::new(kms);
    // On a shared store (PostgreSQL), follow the other servers' changes.
    let _follower = Kms::follow(&kms);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        out(&banner(
            address,
            region,
            data_dir,
            args.dev,
            credentials,
            principals,
            audit_note,
        ));
        if args.dev {
            tracing::warn!(
                "DEVELOPMENT MODE: signatures are not checked and anyone who can reach {address} \
                 is the administrator; never use it for real keys"
            );
        }
        tracing::info!(%address, region, data_dir = %data_dir.display(), "kmsgov serving");

        let ticker = kmsgov_server::spawn_ticker(Arc::clone(&kms), TICK_PERIOD);
        let reloader = args.world.clone().map(|path| {
            tokio::spawn(reload_on_hangup(
                Arc::clone(&kms),
                path,
                args.guardrails.clone(),
            ))
        });
        let mut server = Server::new(Arc::clone(&kms), access.authentication);
        if let Some((token, principal)) = &access.decision_token {
            server = server.with_bearer_token(token, principal.clone());
        }
        let served = server.serve(listener, shutdown_signal()).await;
        ticker.abort();
        if let Some(r) = reloader {
            r.abort();
        }
        served.map_err(|e| format!("the server failed: {e}"))?;
        tracing::info!("kmsgov stopped");
        Ok::<(), String>(())
    })
}

fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already set.
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The world file, with the guardrails of `guardrails` (a directory) after
/// its own.
fn load_world(path: &Path, guardrails: Option<&Path>) -> Result<World, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let mut world = Scenario::parse(&text)
        .map(|s| s.world)
        .map_err(|e| format!("{shown}: {e}"))?;
    if let Some(dir) = guardrails {
        add_guardrail_dir(&mut world, dir)?;
    }
    Ok(world)
}

/// One account with an administrator allowed `kms:*` and kmsgov's own
/// operations (`kmsgov:*`: the audit log, the governance records), who
/// signs with the given access key.
fn default_world(access_key_id: &str, secret: &str) -> Result<World, String> {
    let text = serde_json::json!({
        "name": "kmsgov serve default world",
        "accounts": {DEFAULT_ACCOUNT: {}},
        "principals": [{
            "arn": DEFAULT_ADMIN,
            "policies": [{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["kms:*", "kmsgov:*"], "Resource": "*"}]}],
            "access_keys": [{"id": access_key_id, "secret": secret}]
        }],
        "tests": []
    })
    .to_string();
    Scenario::parse(&text)
        .map(|s| s.world)
        .map_err(|e| format!("default world: {e}"))
}

/// A fresh access key pair: `AKIA` and 16 base-32 characters, and a
/// 40-character secret.
fn generate_credentials() -> Result<(String, String), String> {
    const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let random =
        |n| kmsgov_core::crypto::random_bytes(n).map_err(|e| format!("random generator: {e}"));
    let id_bytes = random(16)?;
    let id: String = id_bytes
        .expose()
        .iter()
        .map(|b| char::from(BASE32.get(usize::from(b % 32)).copied().unwrap_or(b'A')))
        .collect();
    let secret = base64::engine::general_purpose::STANDARD.encode(random(30)?.expose());
    Ok((format!("AKIA{id}"), secret))
}

/// The root key: `--root-key-file`, else `KMSGOV_ROOT_KEY`, else
/// `<data-dir>/root.key`, created on first start (while the store holds no
/// keys).
fn root_key(args: &Args, store: &StoreNote) -> Result<RootKey, String> {
    if let Some(key) = supplied_root_key(args.root_key_file.as_deref())? {
        return Ok(key);
    }
    let path = args.data_dir.join("root.key");
    match std::fs::symlink_metadata(&path) {
        Ok(_) => read_root_key_file(&path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if store.may_hold_keys {
                return Err(format!(
                    "{}: missing, but {} exists: without its root key the stored keys cannot be \
                     used (supply it with --root-key-file or {ROOT_KEY_ENV})",
                    path.display(),
                    store.shown
                ));
            }
            create_root_key_file(&path)
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The root key the operator supplied: `--root-key-file`, else
/// `KMSGOV_ROOT_KEY`; `None` when neither is given.
fn supplied_root_key(file: Option<&Path>) -> Result<Option<RootKey>, String> {
    if let Some(path) = file {
        return read_root_key_file(path).map(Some);
    }
    if let Ok(text) = std::env::var(ROOT_KEY_ENV) {
        let bytes = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| format!("{ROOT_KEY_ENV}: not base64"))?,
        );
        return RootKey::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| format!("{ROOT_KEY_ENV}: {e}"));
    }
    Ok(None)
}

/// The root key of an existing data directory, as `kmsgov serve` finds it
/// (never created).
pub(crate) fn existing_root_key(data_dir: &Path, file: Option<&Path>) -> Result<RootKey, String> {
    match supplied_root_key(file)? {
        Some(key) => Ok(key),
        None => read_root_key_file(&data_dir.join("root.key")),
    }
}

fn read_root_key_file(path: &Path) -> Result<RootKey, String> {
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{shown}: has mode {mode:03o}; a root key must be readable by its owner only \
             (chmod 600 {shown})"
        ));
    }
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?);
    if bytes.len() != ROOT_KEY_LEN {
        return Err(format!(
            "{shown}: a root key file holds exactly {ROOT_KEY_LEN} bytes, this one {}",
            bytes.len()
        ));
    }
    RootKey::from_bytes(&bytes).map_err(|e| format!("{shown}: {e}"))
}

fn create_root_key_file(path: &Path) -> Result<RootKey, String> {
    let shown = path.display();
    let key = RootKey::generate().map_err(|e| format!("{shown}: {e}"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{shown}: cannot create: {e}"))?;
    file.write_all(key.expose_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{shown}: cannot write: {e}"))?;
    tracing::info!(path = %shown, "created a new root key");
    Ok(key)
}

fn banner(
    address: SocketAddr,
    region: &str,
    data_dir: &Path,
    dev: bool,
    credentials: Option<&(String, String)>,
    principals: &[(String, Vec<String>)],
    audit_note: &str,
) -> String {
    let mut s = String::new();
    let url = format!("http://{address}");
    s.push_str(&format!(
        "kmsgov listening on {url} (region {region}, data in {})\n{audit_note}\n",
        data_dir.display()
    ));
    if dev {
        s.push_str(
            "WARNING: development mode: signatures are not checked and every request is made by \
             the account's root user; never use it for real keys\n",
        );
    }
    match credentials {
        Some((id, secret)) => {
            s.push_str(&format!(
                "\nCredentials of {DEFAULT_ADMIN} (kms:* on every key):\n\
                 \x20 export AWS_ACCESS_KEY_ID={id}\n\
                 \x20 export AWS_SECRET_ACCESS_KEY={secret}\n"
            ));
        }
        None => {
            s.push_str("\nPrincipals that can sign requests (secrets in the world file):\n");
            for (arn, ids) in principals {
                s.push_str(&format!("  {arn}: {}\n", ids.join(", ")));
            }
        }
    }
    s.push_str(&format!(
        "\nTry:\n  aws kms create-key --endpoint-url {url} --region {region}\n\n"
    ));
    s
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; stop with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down: finishing the requests in flight");
}

/// On SIGHUP, reloads the world file and the guardrail directory; a file
/// that does not load is logged and the world in use is kept.
async fn reload_on_hangup(kms: Arc<Kms>, path: PathBuf, guardrails: Option<PathBuf>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; the world file will not be reloaded");
            return;
        }
    };
    while hangup.recv().await.is_some() {
        let path = path.clone();
        let guardrails = guardrails.clone();
        let kms = Arc::clone(&kms);
        let done = tokio::task::spawn_blocking(move || {
            load_world(&path, guardrails.as_deref()).map(|world| {
                let principals = world.principals.len();
                kms.set_directory(world);
                principals
            })
        })
        .await;
        match done {
            Ok(Ok(principals)) => tracing::info!(principals, "world file reloaded"),
            Ok(Err(e)) => {
                tracing::error!(error = e, "world file not reloaded; keeping the old world")
            }
            Err(e) => tracing::error!(error = %e, "world reload task failed"),
        }
    }
}
