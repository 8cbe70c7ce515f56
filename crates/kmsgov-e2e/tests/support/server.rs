//! A `kmsgov serve` process for a test: started on a free loopback port with
//! a data directory and a world file, stopped with SIGTERM.
//!
//! The binary is the one cargo built for this workspace (`target/debug/kmsgov`,
//! found next to the test executable), or `KMSGOV_BIN` when set.
//! `cargo test --workspace` builds it; when running this crate alone, build
//! it first: `cargo build -p kmsgov-cli && cargo test -p kmsgov-e2e`.

#![allow(
    dead_code,
    unreachable_pub,
    missing_debug_implementations,
    reason = "each test file uses part of the support code"
)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};

/// The account of the test world.
pub const ACCOUNT: &str = "111122223333";

/// The test world: four users who sign with their own access keys.
///
/// - `admin` may do anything (`kms:*`).
/// - `alice` may use keys for cryptography and read their metadata.
/// - `bob` has no IAM policy.
/// - `carol` may do anything except decrypt (an explicit deny).
pub const WORLD: &str = r#"{
  "name": "end-to-end",
  "accounts": {"111122223333": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:user/admin",
     "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}],
     "access_keys": [{"id": "AKIAE2EADMIN00000001", "secret": "admin+secret/e2e/000000000000000000000000"}]},
    {"arn": "arn:aws:iam::111122223333:user/alice",
     "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
        "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
        "kms:Sign", "kms:Verify", "kms:GenerateMac", "kms:VerifyMac", "kms:GetPublicKey"]}]}],
     "access_keys": [{"id": "AKIAE2EALICE00000001", "secret": "alice+secret/e2e/000000000000000000000000"}]},
    {"arn": "arn:aws:iam::111122223333:user/bob",
     "access_keys": [{"id": "AKIAE2EBOB0000000001", "secret": "bob+secret/e2e/00000000000000000000000000"}]},
    {"arn": "arn:aws:iam::111122223333:user/carol",
     "policies": [{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}],
     "access_keys": [{"id": "AKIAE2ECAROL00000001", "secret": "carol+secret/e2e/000000000000000000000000"}]}
  ],
  "tests": []
}"#;

/// A user of the test world: (access key id, secret, ARN).
pub fn user(name: &str) -> (&'static str, &'static str, String) {
    let (id, secret) = match name {
        "admin" => (
            "AKIAE2EADMIN00000001",
            "admin+secret/e2e/000000000000000000000000",
        ),
        "alice" => (
            "AKIAE2EALICE00000001",
            "alice+secret/e2e/000000000000000000000000",
        ),
        "bob" => (
            "AKIAE2EBOB0000000001",
            "bob+secret/e2e/00000000000000000000000000",
        ),
        "carol" => (
            "AKIAE2ECAROL00000001",
            "carol+secret/e2e/000000000000000000000000",
        ),
        other => panic!("no user {other} in the test world"),
    };
    (id, secret, format!("arn:aws:iam::{ACCOUNT}:user/{name}"))
}

/// The `kmsgov` binary under test.
pub fn binary() -> PathBuf {
    match std::env::var_os("KMSGOV_BIN") {
        Some(path) => PathBuf::from(path),
        None => assert_cmd::cargo::cargo_bin("kmsgov"),
    }
}

/// A test's directory: the data directory and the world file.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// A fresh directory with the test world written to `world.json`.
    pub fn new() -> Workspace {
        Workspace::with_world(WORLD)
    }

    pub fn with_world(world: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("world.json"), world).unwrap();
        Workspace { dir }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn world(&self) -> PathBuf {
        self.dir.path().join("world.json")
    }

    /// Starts `kmsgov serve` on this workspace.
    pub fn serve(&self) -> Kmsgov {
        self.serve_with(&[])
    }

    /// Starts `kmsgov serve` on this workspace with more arguments.
    pub fn serve_with(&self, extra: &[&str]) -> Kmsgov {
        Kmsgov::start_with(
            &self.data_dir(),
            &self.world(),
            &self.dir.path().join("server.log"),
            extra,
        )
    }
}

/// A running `kmsgov serve`.
pub struct Kmsgov {
    child: Child,
    pub address: SocketAddr,
    log: PathBuf,
}

impl Kmsgov {
    /// Starts the server on a free port and waits until it answers `/health`.
    pub fn start(data_dir: &Path, world: &Path, log: &Path) -> Kmsgov {
        Kmsgov::start_with(data_dir, world, log, &[])
    }

    /// [`Kmsgov::start`] with more arguments for `kmsgov serve`.
    pub fn start_with(data_dir: &Path, world: &Path, log: &Path, extra: &[&str]) -> Kmsgov {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = Command::new(binary())
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--world")
            .arg(world)
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove(ROOT_KEY_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e} (build it with `cargo build -p kmsgov-cli`)",
                    binary().display()
                )
            });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("kmsgov listening on http://") {
                    let address = rest.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = tx.send(address);
                }
            }
        });
        let address = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "kmsgov serve did not start; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
        };
        let server = Kmsgov {
            child,
            address,
            log: log.to_owned(),
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http_get(self.address, "/health").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("kmsgov serve never became healthy; log:\n{}", self.log());
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The server's log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An SDK client signing as `user` of the test world.
    pub fn client(&self, user_name: &str) -> aws_sdk_kms::Client {
        let (id, secret, _) = user(user_name);
        self.client_with(id, secret)
    }

    /// An SDK client with any credentials.
    pub fn client_with(&self, access_key_id: &str, secret: &str) -> aws_sdk_kms::Client {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(access_key_id, secret, None, None, "e2e"))
            .endpoint_url(self.url())
            .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }

    /// Sends a signal by name (`TERM`, `HUP`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Kills the server with SIGKILL (no chance to finish anything) and
    /// waits for it to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub fn stop(mut self) -> ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "kmsgov serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Kmsgov {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

const ROOT_KEY_ENV: &str = "KMSGOV_ROOT_KEY";

/// A plain `GET` over a fresh connection; the whole response as text.
pub fn http_get(address: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}
