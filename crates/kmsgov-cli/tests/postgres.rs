//! `kmsgov serve --store postgres://…` serves CreateKey, Encrypt and Decrypt
//! from PostgreSQL, and a second server on the same database uses the keys.
//!
//! Needs a server: `export KMSGOV_TEST_POSTGRES=$(scripts/postgres-test-server.sh)`
//! (or `KMSGOV_SKIP_POSTGRES_TESTS=1` to skip).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use kmsgov_core::store::Store as _;
use kmsgov_store_postgres::testing::TestDatabase;
use kmsgov_store_postgres::PostgresStore;

/// Development mode's documented credentials (`kmsgov serve --dev`).
const DEV_ACCESS_KEY_ID: &str = "AKIAKMSGOVDEVEXAMPLE";
const DEV_SECRET: &str = "kmsgov-development-mode-secret-access-key";

fn root_key() -> String {
    base64::engine::general_purpose::STANDARD.encode([0x5c; 32])
}

/// A running `kmsgov serve`, stopped on drop.
struct Server {
    child: Child,
    endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kmsgov serve --dev` on a free port with the store given by
/// `--store` (or, when `from_env`, by `KMSGOV_STORE`).
fn serve(data_dir: &Path, store: &str, from_env: bool) -> Server {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("kmsgov"));
    cmd.args(["serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("KMSGOV_ROOT_KEY", root_key())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if from_env {
        cmd.env("KMSGOV_STORE", store);
    } else {
        cmd.env_remove("KMSGOV_STORE").args(["--store", store]);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut banner = String::new();
    let endpoint = loop {
        match lines.next() {
            Some(Ok(line)) => {
                banner.push_str(&line);
                banner.push('\n');
                if let Some(rest) = line.strip_prefix("kmsgov listening on ") {
                    break rest.split_whitespace().next().unwrap().to_owned();
                }
            }
            _ => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                let _ = child.wait();
                panic!("kmsgov serve did not start:\n{banner}\n{err}");
            }
        }
    };
    // The line after the address names the store.
    if let Some(Ok(line)) = lines.next() {
        banner.push_str(&line);
    }
    if store.starts_with("postgres") {
        assert!(
            banner.contains("keys in PostgreSQL database"),
            "the banner names the store: {banner}"
        );
    }
    // Keep reading stdout and stderr so the server never blocks on a full
    // pipe.
    std::thread::spawn(move || lines.for_each(drop));
    if let Some(mut stderr) = child.stderr.take() {
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    }
    Server { child, endpoint }
}

/// Runs `kmsgov bench --op Decrypt` (CreateKey unless `key_id`, one Encrypt,
/// then Decrypt for half a second) and returns its report.
fn bench(endpoint: &str, key_id: Option<&str>) -> serde_json::Value {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("kmsgov"));
    cmd.args([
        "bench",
        "--endpoint",
        endpoint,
        "--op",
        "Decrypt",
        "--clients",
        "1",
        "--duration",
        "0.5",
        "--warmup",
        "0.1",
        "--access-key-id",
        DEV_ACCESS_KEY_ID,
        "--secret-access-key",
        DEV_SECRET,
    ]);
    if let Some(id) = key_id {
        cmd.args(["--key-id", id]);
    }
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kmsgov bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// A development-mode request (well-formed credentials, any signature):
/// the status line and the body of the answer.
fn call(endpoint: &str, operation: &str, body: &str) -> (String, String) {
    use std::io::Write as _;
    let address = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: TrentService.{operation}\r\nX-Amz-Date: 20260101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={DEV_ACCESS_KEY_ID}/20260101/us-east-1/kms/aws4_request, \
         SignedHeaders=host;x-amz-date;x-amz-target, Signature={}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        "0".repeat(64),
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.lines().next().unwrap_or("").to_owned();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn assert_clean(report: &serde_json::Value) {
    assert!(report["requests"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["errors"].as_u64(), Some(0), "{report}");
}

#[test]
fn serve_on_postgres_serves_keys_and_a_second_server_uses_them() {
    let Some(db) = TestDatabase::create("serve_on_postgres").unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    let first_dir = tempfile::tempdir().unwrap();
    let first = serve(first_dir.path(), &db.url(), false);
    assert_clean(&bench(&first.endpoint, None));

    // The key is in PostgreSQL, not in a SQLite file of the data directory.
    let store = PostgresStore::open_config(db.config().clone()).unwrap();
    let keys = store.load_all().unwrap().keys;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(!first_dir.path().join("kmsgov.db").exists());
    let key_id = keys[0].key_id.clone();

    // The listings read the store (on the server's worker threads).
    let (status, body) = call(&first.endpoint, "ListKeys", "{}");
    assert!(status.contains("200"), "{status} {body}");
    assert!(body.contains(&key_id), "{body}");
    let alias = format!(r#"{{"AliasName":"alias/pg","TargetKeyId":"{key_id}"}}"#);
    let (status, body) = call(&first.endpoint, "CreateAlias", &alias);
    assert!(status.contains("200"), "{status} {body}");
    let (status, body) = call(&first.endpoint, "ListAliases", "{}");
    assert!(status.contains("200"), "{status} {body}");
    assert!(body.contains("alias/pg"), "{body}");
    let grants = format!(r#"{{"KeyId":"{key_id}"}}"#);
    let (status, body) = call(&first.endpoint, "ListGrants", &grants);
    assert!(status.contains("200"), "{status} {body}");

    // Another server (its own data directory, the same root key and
    // database, the store from KMSGOV_STORE) decrypts with that key.
    let second_dir = tempfile::tempdir().unwrap();
    let second = serve(second_dir.path(), &db.url(), true);
    assert_clean(&bench(&second.endpoint, Some(&key_id)));
    assert_eq!(store.load_all().unwrap().keys.len(), 1);
    drop(first);
    drop(second);
}

#[test]
fn a_new_root_key_is_not_made_for_a_database_with_keys() {
    let Some(db) = TestDatabase::create("a_new_root_key_is_not_made_for_a_database_with_keys")
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    let store = PostgresStore::open_config(db.config().clone()).unwrap();
    store
        .create_key(&kmsgov_core::store::conformance::sample_key(
            "k-1",
            "000000000000",
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(assert_cmd::cargo::cargo_bin("kmsgov"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            &db.url(),
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("KMSGOV_ROOT_KEY")
        .env_remove("KMSGOV_STORE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("root.key: missing, but PostgreSQL database"),
        "{text}"
    );
    assert!(!dir.path().join("root.key").exists());
}

#[test]
fn an_unknown_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(assert_cmd::cargo::cargo_bin("kmsgov"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("KMSGOV_STORE", "mysql://user:hunter2@db/kms")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("expected `sqlite` or a postgres:// URL"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn an_unreachable_postgres_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(assert_cmd::cargo::cargo_bin("kmsgov"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args([
            "--store",
            "postgres://kmsgov:hunter2@127.0.0.1:1/kms?connect_timeout=5",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("cannot connect to PostgreSQL"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// The body of a successful call, parsed; panics with the answer otherwise.
fn ok(endpoint: &str, operation: &str, body: &str) -> serde_json::Value {
    let (status, answer) = call(endpoint, operation, body);
    assert!(
        status.contains("200"),
        "{operation} on {endpoint}: {status} {answer}"
    );
    serde_json::from_str(&answer).unwrap()
}

/// The AWS error name of a failed call; panics when it succeeded.
fn error(endpoint: &str, operation: &str, body: &str) -> String {
    let (status, answer) = call(endpoint, operation, body);
    assert!(
        !status.contains("200"),
        "{operation} on {endpoint} succeeded: {answer}"
    );
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    v["__type"].as_str().unwrap_or_default().to_owned()
}

fn encrypt_body(key: &str) -> String {
    format!(r#"{{"KeyId":"{key}","Plaintext":"c2hhcmVk"}}"#)
}

/// Two running servers on one database behave as one: each change made on
/// one is in force on the other for the very next request, with no waiting
/// in the test.
#[test]
fn two_running_servers_on_one_database_behave_as_one() {
    let Some(db) = TestDatabase::create("two_running_servers").unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = serve(dir_a.path(), &db.url(), false);
    let b = serve(dir_b.path(), &db.url(), false);
    let (a, b) = (a.endpoint.clone(), b.endpoint.clone());

    // Both servers are up and have answered before the key exists.
    assert_eq!(
        error(&b, "DescribeKey", r#"{"KeyId":"alias/none"}"#),
        "NotFoundException"
    );
    let key = ok(&a, "CreateKey", "{}")["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Created on a, used on b at once; and the other way round.
    let ct = ok(&b, "Encrypt", &encrypt_body(&key))["CiphertextBlob"].clone();
    let plain = ok(&a, "Decrypt", &format!(r#"{{"CiphertextBlob":{ct}}}"#));
    assert_eq!(plain["Plaintext"], "c2hhcmVk");

    // An alias made on b resolves on a.
    ok(
        &b,
        "CreateAlias",
        &format!(r#"{{"AliasName":"alias/both","TargetKeyId":"{key}"}}"#),
    );
    ok(&a, "Encrypt", &encrypt_body("alias/both"));

    // Disabled on a: refused on b at once; enabled again: allowed at once.
    let key_body = format!(r#"{{"KeyId":"{key}"}}"#);
    ok(&a, "DisableKey", &key_body);
    assert_eq!(
        error(&b, "Encrypt", &encrypt_body(&key)),
        "DisabledException"
    );
    ok(&a, "EnableKey", &key_body);
    ok(&b, "Encrypt", &encrypt_body(&key));

    // A key policy that denies Encrypt, put on b, is enforced by a at once.
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoEncrypt", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*"}]});
    let put =
        serde_json::json!({"KeyId": key, "PolicyName": "default", "Policy": policy.to_string()});
    ok(&b, "PutKeyPolicy", &put.to_string());
    assert_eq!(
        error(&a, "Encrypt", &encrypt_body(&key)),
        "AccessDeniedException"
    );

    // The same alias name created on both at once: exactly one wins.
    for round in 0..10 {
        let body = format!(r#"{{"AliasName":"alias/race-{round}","TargetKeyId":"{key}"}}"#);
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| call(&a, "CreateAlias", &body));
            let tb = s.spawn(|| call(&b, "CreateAlias", &body));
            (ta.join().unwrap(), tb.join().unwrap())
        });
        let wins = [&ra, &rb].iter().filter(|r| r.0.contains("200")).count();
        assert_eq!(wins, 1, "round {round}: {ra:?} {rb:?}");
        let loser = if ra.0.contains("200") { &rb } else { &ra };
        assert!(loser.1.contains("AlreadyExistsException"), "{loser:?}");
    }

    // Concurrent changes of one key on both servers all succeed (a
    // conflicting write is decided again on the latest state).
    std::thread::scope(|s| {
        for (name, endpoint) in [("a", &a), ("b", &b)] {
            let key = key.clone();
            s.spawn(move || {
                for i in 0..15 {
                    let body = format!(r#"{{"KeyId":"{key}","Description":"{name}{i}"}}"#);
                    ok(endpoint, "UpdateKeyDescription", &body);
                }
            });
        }
    });
    // Reads that nothing refuses may trail a change for at most the
    // documented bound (one second); here they agree well within it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let da = ok(&a, "DescribeKey", &key_body)["KeyMetadata"]["Description"].clone();
        let db_ = ok(&b, "DescribeKey", &key_body)["KeyMetadata"]["Description"].clone();
        if da == db_ {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a says {da}, b says {db_}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }

    // Scheduled for deletion on a: pending deletion on b.
    ok(
        &a,
        "ScheduleKeyDeletion",
        &format!(r#"{{"KeyId":"{key}","PendingWindowInDays":7}}"#),
    );
    assert_eq!(
        ok(&b, "DescribeKey", &key_body)["KeyMetadata"]["KeyState"],
        "PendingDeletion"
    );
}

/// Runs `kmsgov audit …` against the database's log; exit code and stdout.
fn audit(db: &TestDatabase, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(assert_cmd::cargo::cargo_bin("kmsgov"))
        .arg("audit")
        .args(args)
        .args(["--store", &db.url(), "--data-dir"])
        .arg(dir.path())
        .env("KMSGOV_ROOT_KEY", root_key())
        .env_remove("KMSGOV_STORE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.code() != Some(2),
        "kmsgov audit {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), stdout)
}

#[test]
fn servers_on_one_database_write_one_audit_log_that_verifies() {
    let Some(db) = TestDatabase::create("servers_on_one_database_write_one_audit_log")
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let servers = [
        serve(dirs[0].path(), &db.url(), false),
        serve(dirs[1].path(), &db.url(), true),
    ];
    // Each server makes a key of its own, then both serve mixed traffic at
    // once: Encrypt and Decrypt with it, a Decrypt that fails, and a key
    // that does not exist.
    const THREADS: usize = 3;
    const ROUNDS: usize = 8;
    let requests: usize = std::thread::scope(|s| {
        let handles: Vec<_> = servers
            .iter()
            .map(|server| {
                let endpoint = server.endpoint.as_str();
                s.spawn(move || {
                    let key = ok(endpoint, "CreateKey", "{}")["KeyMetadata"]["KeyId"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    let per_thread: usize = std::thread::scope(|s| {
                        let handles: Vec<_> = (0..THREADS)
                            .map(|_| {
                                let key = key.as_str();
                                s.spawn(move || {
                                    for _ in 0..ROUNDS {
                                        let encrypt = format!(
                                            r#"{{"KeyId":"{key}","Plaintext":"aGVsbG8="}}"#
                                        );
                                        let blob = ok(endpoint, "Encrypt", &encrypt)
                                            ["CiphertextBlob"]
                                            .as_str()
                                            .unwrap()
                                            .to_owned();
                                        let decrypt = format!(r#"{{"CiphertextBlob":"{blob}"}}"#);
                                        assert_eq!(
                                            ok(endpoint, "Decrypt", &decrypt)["Plaintext"],
                                            "aGVsbG8="
                                        );
                                    }
                                    let (status, _) = call(
                                        endpoint,
                                        "Decrypt",
                                        r#"{"CiphertextBlob":"bm90IGEgY2lwaGVydGV4dA=="}"#,
                                    );
                                    assert!(!status.contains("200"), "{status}");
                                    let (status, _) = call(
                                        endpoint,
                                        "DescribeKey",
                                        r#"{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}"#,
                                    );
                                    assert!(status.contains("400"), "{status}");
                                    2 * ROUNDS + 2
                                })
                            })
                            .collect();
                        handles.into_iter().map(|h| h.join().unwrap()).sum()
                    });
                    1 + per_thread
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(requests, 2 * (1 + THREADS * (2 * ROUNDS + 2)));

    // One log in the database, none in the data directories; it verifies
    // while the servers run, and holds every request once.
    for dir in &dirs {
        assert!(!dir.path().join("audit.db").exists());
        assert!(!dir.path().join("audit.log").exists());
    }
    let (code, text) = audit(&db, &["verify"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with(&format!("ok: {requests} entries, root ")),
        "{text}"
    );
    let (code, text) = audit(&db, &["show", "--format", "json"]);
    assert_eq!(code, Some(0), "{text}");
    let shown: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(shown.len(), requests);
    for (i, entry) in shown.iter().enumerate() {
        assert_eq!(entry["seq"].as_u64(), Some(i as u64));
    }
    let count = |op: &str| shown.iter().filter(|e| e["operation"] == op).count();
    assert_eq!(count("CreateKey"), 2);
    assert_eq!(count("Encrypt"), 2 * THREADS * ROUNDS);
    assert_eq!(count("Decrypt"), 2 * THREADS * (ROUNDS + 1));
    assert_eq!(count("DescribeKey"), 2 * THREADS);

    // A server restarted on the database goes on with the same log.
    drop(servers);
    let again = serve(dirs[0].path(), &db.url(), false);
    ok(&again.endpoint, "ListKeys", "{}");
    let (code, text) = audit(&db, &["verify"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with(&format!("ok: {} entries", requests + 1)),
        "{text}"
    );
    let (code, checkpoint) = audit(&db, &["checkpoint"]);
    assert_eq!(code, Some(0));
    assert!(
        checkpoint.contains(&format!("\n{}\n", requests + 1)),
        "{checkpoint}"
    );
}

/// Runs `kmsgov migrate --from DIR --to URL`: exit code, stdout and stderr.
fn migrate(from: &Path, to: &str) -> (Option<i32>, String, String) {
    let output = Command::new(assert_cmd::cargo::cargo_bin("kmsgov"))
        .args(["migrate", "--to", to, "--from"])
        .arg(from)
        .env("KMSGOV_ROOT_KEY", root_key())
        .env_remove("KMSGOV_STORE")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A server's SQLite data directory moves into PostgreSQL whole: its keys
/// (a ciphertext made before decrypts after), aliases, grants and its
/// audit log, which goes on growing and verifying on PostgreSQL.
#[test]
fn migrate_moves_a_sqlite_data_directory_into_postgres() {
    let Some(db) = TestDatabase::create("migrate_from_sqlite").unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), "sqlite", false);
    let endpoint = server.endpoint.clone();
    let key = ok(&endpoint, "CreateKey", "{}")["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &endpoint,
        "CreateAlias",
        &format!(r#"{{"AliasName":"alias/moved","TargetKeyId":"{key}"}}"#),
    );
    ok(
        &endpoint,
        "CreateGrant",
        &format!(
            r#"{{"KeyId":"{key}","GranteePrincipal":"arn:aws:iam::000000000000:role/app","Operations":["Decrypt"]}}"#
        ),
    );
    let ct = ok(&endpoint, "Encrypt", &encrypt_body("alias/moved"))["CiphertextBlob"].clone();
    drop(server);
    assert!(dir.path().join("kmsgov.db").exists());

    let (code, stdout, stderr) = migrate(dir.path(), &db.url());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    // The four requests above, each with its audit entry.
    assert!(
        stdout.starts_with("moved 1 keys, 1 aliases, 1 grants and 4 audit entries"),
        "{stdout}"
    );
    // A second run finds the target in use and moves nothing.
    let (code, _, stderr) = migrate(dir.path(), &db.url());
    assert_eq!(code, Some(2));
    assert!(stderr.contains("already holds keys"), "{stderr}");

    // A server on PostgreSQL serves the moved key, and the log goes on.
    let pg_dir = tempfile::tempdir().unwrap();
    let server = serve(pg_dir.path(), &db.url(), false);
    let plain = ok(
        &server.endpoint,
        "Decrypt",
        &format!(r#"{{"CiphertextBlob":{ct}}}"#),
    );
    assert_eq!(plain["Plaintext"], "c2hhcmVk");
    let grants = ok(
        &server.endpoint,
        "ListGrants",
        &format!(r#"{{"KeyId":"{key}"}}"#),
    );
    assert_eq!(grants["Grants"].as_array().unwrap().len(), 1, "{grants}");
    drop(server);
    let (code, report) = audit(&db, &["verify"]);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.starts_with("ok: 6 entries"), "{report}");
}
