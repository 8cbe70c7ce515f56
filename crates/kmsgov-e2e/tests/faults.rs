//! A data directory that runs out of space, and one that is read-only.
//!
//! Each test mounts a tmpfs of its own as the data directory (root may mount
//! even where file permissions do not stop it from writing): a small one
//! that fills up, or one remounted read-only, which refuses writes even to
//! root (`EROFS`). The server must answer AWS-shaped errors (never a panic,
//! a hang, a dropped connection or a success that is not stored), keep
//! serving, and lose nothing it acknowledged.
//!
//! Mounting needs root with `CAP_SYS_ADMIN`. Without it these tests fail and
//! say so, unless `KMSGOV_SKIP_MOUNT_TESTS=1` is set, in which case they say
//! that they skip.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use server::{binary, Kmsgov, WORLD};

const SKIP_ENV: &str = "KMSGOV_SKIP_MOUNT_TESTS";

/// How long one request may take before it counts as a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A tmpfs mounted on a fresh directory under the system temp dir,
/// unmounted (and the directory removed) on drop, even on panic.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`2m`, `16m`); `None` (after printing why)
    /// when mounting is not possible here and the tests are skipped.
    fn mount(test: &str, size: &str) -> Option<Tmpfs> {
        let dir = tempfile::Builder::new()
            .prefix("kmsgov-faults-")
            .tempdir()
            .unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("tmpfs")
            .arg(dir.path())
            .output();
        let why = match output {
            Ok(o) if o.status.success() => return Some(Tmpfs { dir }),
            Ok(o) => format!(
                "`mount -t tmpfs` failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => format!("cannot run `mount`: {e}"),
        };
        if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
            eprintln!("SKIPPED {test}: {why} ({SKIP_ENV}=1)");
            return None;
        }
        panic!(
            "{test} mounts a tmpfs and needs root with CAP_SYS_ADMIN: {why}; \
             set {SKIP_ENV}=1 to skip these tests"
        );
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `mount -o remount,<options>`.
    fn remount(&self, options: &str) {
        let output = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "remount,{options}: {output:?}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a server left running by a failed assertion):
            // detach it now, the kernel frees it when the last user goes.
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

/// The world file and the server log, outside the mounted data directory.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("world.json"), WORLD).unwrap();
        Files { dir }
    }

    fn world(&self) -> PathBuf {
        self.dir.path().join("world.json")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn serve(&self, data_dir: &Path, extra: &[&str]) -> Kmsgov {
        Kmsgov::start_with(data_dir, &self.world(), &self.log(), extra)
    }
}

/// What the clients were told happened.
#[derive(Debug, Default)]
struct Acknowledged {
    keys: Vec<String>,
    /// (key, ciphertext, plaintext)
    ciphertexts: Vec<(String, Blob, Vec<u8>)>,
    /// (alias, key)
    aliases: Vec<(String, String)>,
    /// (key, tag value)
    tags: Vec<(String, String)>,
    /// The request ids of the operations answered 200.
    request_ids: Vec<String>,
    /// Operations answered 200.
    calls: usize,
    /// Operations answered with an error.
    refused: usize,
    /// How many were refused with each error.
    refusals: BTreeMap<String, usize>,
}

impl Acknowledged {
    /// Records an operation answered 200.
    fn ok(&mut self, output: &impl RequestId) {
        self.calls += 1;
        self.request_ids
            .extend(output.request_id().map(str::to_owned));
    }

    /// Records an operation refused with `code`.
    fn refuse(&mut self, code: String) {
        self.refused += 1;
        *self.refusals.entry(code).or_default() += 1;
    }
}

/// The errors a request may answer when the disk is full, with their
/// status: the service's internal error (the audit log or the governance
/// chain cannot be written), or the store's "unavailable, retry" (the key
/// store cannot be written).
const FULL_DISK_CODES: &[(&str, u16)] = &[
    ("KMSInternalException", 500),
    ("DependencyTimeoutException", 503),
];

/// Runs one request with a time limit. `Ok` on success; `Err(code)` for an
/// AWS-shaped error answered with one of `codes` and its status; anything
/// else (a hang, a dropped connection, another error) fails the test.
async fn call<T, E, F>(what: &str, codes: &[(&str, u16)], request: F) -> Result<T, String>
where
    F: Future<Output = Result<T, SdkError<E>>>,
    E: ProvideErrorMetadata + Debug,
{
    let Ok(answer) = tokio::time::timeout(REQUEST_TIMEOUT, request).await else {
        panic!("{what}: no answer within {REQUEST_TIMEOUT:?}");
    };
    match answer {
        Ok(output) => Ok(output),
        Err(SdkError::ServiceError(e)) => {
            let status = e.raw().status().as_u16();
            let code = e.err().code().unwrap_or("").to_owned();
            assert!(
                codes.contains(&(code.as_str(), status)),
                "{what}: answered {status} {code}, expected one of {codes:?}: {:?}",
                e.err()
            );
            let message = e.err().message().unwrap_or("");
            assert!(!message.is_empty(), "{what}: {code} without a message");
            Err(code)
        }
        Err(other) => panic!("{what}: not an AWS error answer (a dropped connection?): {other:?}"),
    }
}

/// The server answers `/health`.
fn healthy(kms: &Kmsgov) {
    let health = server::http_get(kms.address, "/health").unwrap_or_default();
    assert!(
        health.starts_with("HTTP/1.1 200"),
        "the server does not answer /health: {health}\nlog:\n{}",
        kms.log()
    );
}

/// Creates a key, encrypts under it, names it and tags it, recording what
/// is acknowledged; returns how many of the four were refused.
async fn writes(client: &aws_sdk_kms::Client, n: usize, acked: &mut Acknowledged) -> usize {
    let before = acked.refused;
    let created = call(
        "CreateKey",
        FULL_DISK_CODES,
        client
            .create_key()
            .description(format!("key {n} {}", "d".repeat(2000)))
            .send(),
    )
    .await;
    let key = match created {
        Ok(created) => {
            acked.ok(&created);
            let key = created.key_metadata().unwrap().key_id().to_owned();
            acked.keys.push(key.clone());
            key
        }
        Err(code) => {
            acked.refuse(code);
            // Keep writing under a key acknowledged earlier.
            match acked.keys.last() {
                Some(key) => key.clone(),
                None => return acked.refused - before,
            }
        }
    };
    let plaintext = format!("plaintext {n} {}", "p".repeat(1000)).into_bytes();
    match call(
        "Encrypt",
        FULL_DISK_CODES,
        client
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(plaintext.clone()))
            .send(),
    )
    .await
    {
        Ok(encrypted) => {
            acked.ok(&encrypted);
            let blob = encrypted.ciphertext_blob().unwrap().clone();
            acked.ciphertexts.push((key.clone(), blob, plaintext));
        }
        Err(code) => acked.refuse(code),
    }
    let alias = format!("alias/fault-{n}");
    match call(
        "CreateAlias",
        FULL_DISK_CODES,
        client
            .create_alias()
            .alias_name(&alias)
            .target_key_id(&key)
            .send(),
    )
    .await
    {
        Ok(created) => {
            acked.ok(&created);
            acked.aliases.push((alias, key.clone()));
        }
        Err(code) => acked.refuse(code),
    }
    let value = format!("tag {n}");
    match call(
        "TagResource",
        FULL_DISK_CODES,
        client
            .tag_resource()
            .key_id(&key)
            .tags(
                aws_sdk_kms::types::Tag::builder()
                    .tag_key(format!("t{n}"))
                    .tag_value(&value)
                    .build()
                    .unwrap(),
            )
            .send(),
    )
    .await
    {
        Ok(tagged) => {
            acked.ok(&tagged);
            acked.tags.push((key, value));
        }
        Err(code) => acked.refuse(code),
    }
    acked.refused - before
}

/// Everything acknowledged is there: every key, alias and tag, and every
/// ciphertext decrypts to its plaintext. Returns the number of checks.
async fn check_acknowledged(kms: &Kmsgov, acked: &Acknowledged) -> usize {
    let admin = kms.client("admin");
    let mut checked = 0;
    for key in &acked.keys {
        admin
            .describe_key()
            .key_id(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("key {key} acknowledged and lost: {e:?}"));
        checked += 1;
    }
    for (key, blob, plaintext) in &acked.ciphertexts {
        let opened = admin
            .decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("a ciphertext of {key} no longer opens: {e:?}"));
        assert_eq!(opened.plaintext().unwrap().as_ref(), plaintext.as_slice());
        assert_eq!(
            opened.key_id().unwrap().rsplit('/').next().unwrap(),
            key.as_str()
        );
        checked += 1;
    }
    for (alias, key) in &acked.aliases {
        let described = admin
            .describe_key()
            .key_id(alias)
            .send()
            .await
            .unwrap_or_else(|e| panic!("alias {alias} acknowledged and lost: {e:?}"));
        assert_eq!(described.key_metadata().unwrap().key_id(), key.as_str());
        checked += 1;
    }
    for (key, value) in &acked.tags {
        let tags = admin.list_resource_tags().key_id(key).send().await.unwrap();
        assert!(
            tags.tags().iter().any(|t| t.tag_value() == value.as_str()),
            "tag {value} on {key} acknowledged and lost: {tags:?}"
        );
        checked += 1;
    }
    checked
}

/// `kmsgov governance verify` (pinned to the server's own governance key)
/// passes on `data_dir`, and so does `kmsgov audit verify` when the audit
/// log is on; then the audit log holds every acknowledged request.
fn verify_logs(data_dir: &Path, audit: Option<&[String]>) {
    if let Some(request_ids) = audit {
        let verified = Command::new(binary())
            .args(["audit", "verify", "--data-dir"])
            .arg(data_dir)
            .output()
            .unwrap();
        assert_eq!(
            verified.status.code(),
            Some(0),
            "audit verify: {verified:?}"
        );
        let shown = Command::new(binary())
            .args(["audit", "show", "--format", "json", "--data-dir"])
            .arg(data_dir)
            .output()
            .unwrap();
        assert_eq!(shown.status.code(), Some(0), "audit show: {shown:?}");
        let logged: BTreeSet<String> = String::from_utf8(shown.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["request_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let missing: Vec<&String> = request_ids
            .iter()
            .filter(|id| !logged.contains(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "acknowledged requests not in the audit log: {missing:?}"
        );
    }
    let key = Command::new(binary())
        .args(["governance", "verifier-key", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert_eq!(key.status.code(), Some(0), "verifier-key: {key:?}");
    let stdout = String::from_utf8(key.stdout).unwrap();
    let pin = stdout.lines().next().unwrap().to_owned();
    let governance = Command::new(binary())
        .args(["governance", "verify", "--data-dir"])
        .arg(data_dir)
        .args(["--pin", &pin])
        .output()
        .unwrap();
    assert_eq!(
        governance.status.code(),
        Some(0),
        "governance verify: {governance:?}"
    );
    let said = String::from_utf8_lossy(&governance.stdout);
    assert!(said.starts_with("ok: "), "{said}");
}

/// Fills a 2 MiB data directory through a server started with `extra`
/// arguments, checks what it answers while full, frees space, and checks
/// that everything acknowledged survives a restart.
async fn full_disk(test: &str, extra: &[&str]) {
    let Some(disk) = Tmpfs::mount(test, "2m") else {
        return;
    };
    let audited = !extra.contains(&"--no-audit");
    let files = Files::new();
    let data = disk.path();
    let kms = files.serve(data, extra);
    let admin = kms.client("admin");
    let mut acked = Acknowledged::default();

    // Write until the disk is full: three rounds in a row whose writes are
    // all refused (without the audit log, Encrypt writes nothing, and is
    // still answered).
    let writing = if audited { 4 } else { 3 };
    let mut n = 0;
    let mut full_rounds = 0;
    while full_rounds < 3 {
        n += 1;
        assert!(n < 2_000, "the disk never filled\nlog:\n{}", kms.log());
        if writes(&admin, n, &mut acked).await >= writing {
            full_rounds += 1;
        } else {
            full_rounds = 0;
        }
    }
    let acked_before_full = acked.calls;
    assert!(!acked.keys.is_empty(), "nothing was written: {acked:?}");
    let log = kms.log();
    assert!(
        log.contains("database or disk is full"),
        "the log does not say why: {log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    healthy(&kms);

    // Reads of what is stored: the right answer, or refused as an internal
    // error (with the audit log on, every request writes its entry first
    // and fails closed); never a wrong answer or a plaintext without a
    // record.
    let mut reads_answered = 0;
    let mut reads_refused = 0;
    for key in acked.keys.iter().take(5) {
        match call(
            "DescribeKey",
            FULL_DISK_CODES,
            admin.describe_key().key_id(key).send(),
        )
        .await
        {
            Ok(described) => {
                assert_eq!(described.key_metadata().unwrap().key_id(), key.as_str());
                reads_answered += 1;
            }
            Err(_) => reads_refused += 1,
        }
    }
    for (key, blob, plaintext) in acked.ciphertexts.iter().take(5) {
        match call(
            "Decrypt",
            FULL_DISK_CODES,
            admin.decrypt().ciphertext_blob(blob.clone()).send(),
        )
        .await
        {
            Ok(opened) => {
                assert_eq!(opened.plaintext().unwrap().as_ref(), plaintext.as_slice());
                assert!(opened.key_id().unwrap().ends_with(key.as_str()));
                reads_answered += 1;
            }
            Err(_) => reads_refused += 1,
        }
    }
    if !audited {
        // Nothing to write for a read: every read is answered.
        assert_eq!(reads_refused, 0, "log:\n{}", kms.log());
    }
    healthy(&kms);

    // Free space: writes work again.
    disk.remount("size=64m");
    for _ in 0..3 {
        n += 1;
        let refused = writes(&admin, n, &mut acked).await;
        assert_eq!(
            refused,
            0,
            "writes still refused after space was freed\nlog:\n{}",
            kms.log()
        );
    }
    let checked_live = check_acknowledged(&kms, &acked).await;
    assert!(kms.stop().success());

    // A fresh server on the same directory has everything acknowledged.
    let kms = files.serve(data, extra);
    let checked = check_acknowledged(&kms, &acked).await;
    assert!(kms.stop().success());
    verify_logs(data, audited.then_some(acked.request_ids.as_slice()));
    eprintln!(
        "{test}: {} operations acknowledged ({acked_before_full} before the disk was full, {} after space was freed: {} keys, {} ciphertexts, {} aliases, {} tags), {} refused ({:?}); while full {reads_answered} reads answered and {reads_refused} refused; {checked_live} checks before and {checked} after the restart passed{}",
        acked.calls,
        acked.calls - acked_before_full,
        acked.keys.len(),
        acked.ciphertexts.len(),
        acked.aliases.len(),
        acked.tags.len(),
        acked.refused,
        acked.refusals,
        if audited {
            format!(", {} audit entries found", acked.request_ids.len())
        } else {
            String::new()
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_is_refused_and_loses_nothing() {
    full_disk("a_full_disk_is_refused_and_loses_nothing", &[]).await;
}

/// Without the audit log, the key store and the governance chain are what
/// run out of space.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_without_the_audit_log_is_refused_and_loses_nothing() {
    full_disk(
        "a_full_disk_without_the_audit_log_is_refused_and_loses_nothing",
        &["--no-audit"],
    )
    .await;
}

/// How a start of `kmsgov serve` ended: it exited (code, stderr), or it
/// serves (the running server).
enum Started {
    Exited(Option<i32>, String),
    Serving(std::process::Child, String),
}

/// Starts `kmsgov serve` on `data_dir` and waits until it exits or says it
/// listens.
fn start(files: &Files, data_dir: &Path) -> Started {
    let stdout_path = files.dir.path().join("start.out");
    let stderr_path = files.dir.path().join("start.err");
    let mut child = Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--world")
        .arg(files.world())
        .env_remove("KMSGOV_ROOT_KEY")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Started::Exited(
                status.code(),
                std::fs::read_to_string(&stderr_path).unwrap_or_default(),
            );
        }
        let out = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        if out.contains("kmsgov listening on http://") {
            return Started::Serving(child, out);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "kmsgov serve on a read-only directory neither started nor exited: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_data_directory_is_refused_and_loses_nothing() {
    let Some(disk) = Tmpfs::mount(
        "a_read_only_data_directory_is_refused_and_loses_nothing",
        "16m",
    ) else {
        return;
    };
    let files = Files::new();
    let data = disk.path();
    let kms = files.serve(data, &[]);
    let admin = kms.client("admin");
    let mut acked = Acknowledged::default();
    for n in 0..10 {
        assert_eq!(writes(&admin, n, &mut acked).await, 0);
    }
    assert!(kms.stop().success());
    let files_before = listing(data);

    disk.remount("ro");
    // The server refuses to start, naming the file and the reason.
    let stderr = match start(&files, data) {
        Started::Exited(code, stderr) => {
            assert_eq!(code, Some(2), "{stderr}");
            stderr
        }
        Started::Serving(mut child, out) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kmsgov serve started on a read-only data directory: {out}");
        }
    };
    let db = data.join("kmsgov.db");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "kmsgov serve: {}: cannot be written: Read-only file system (os error 30)",
            db.display()
        ),
    );
    assert_eq!(
        listing(data),
        files_before,
        "the read-only start changed files"
    );

    disk.remount("rw");
    let kms = files.serve(data, &[]);
    let checked = check_acknowledged(&kms, &acked).await;
    assert!(kms.stop().success());
    verify_logs(data, Some(&acked.request_ids));
    eprintln!(
        "read-only: refused at start with exit 2; {} operations acknowledged before, {checked} checks after the remount read-write passed",
        acked.calls
    );
}

/// The files of `dir` with their contents.
fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}
