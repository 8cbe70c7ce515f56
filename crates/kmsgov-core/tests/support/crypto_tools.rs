//! For the cryptographic operation tests: the `openssl` command line as an
//! independent implementation, a service whose root key the test knows (so
//! it can read a key's material back out of the store and hand it to
//! OpenSSL), and key states set directly in the store.

#![allow(
    dead_code,
    unreachable_pub,
    missing_debug_implementations,
    reason = "each test file uses part of the support code"
)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kmsgov_core::root_key::RootKey;
use kmsgov_core::store::MemoryStore;
use kmsgov_core::Clock;

use crate::harness::Harness;

/// The root key of [`known_root_harness`].
pub const ROOT: [u8; 32] = [0x42; 32];

/// A fresh service whose root key is [`ROOT`].
pub fn known_root_harness() -> Harness {
    Harness::on_store(
        Arc::new(MemoryStore::new()),
        RootKey::from_bytes(&ROOT).unwrap(),
    )
}

/// The secret material of the current version of a key of a
/// [`known_root_harness`], unwrapped from the store: 32 AES bytes, the HMAC
/// key, or the private key as PKCS#8 DER.
pub fn key_material(h: &Harness, key_id: &str) -> Vec<u8> {
    let record = h.store.key(key_id).unwrap().unwrap();
    let version = record.versions.last().unwrap();
    RootKey::from_bytes(&ROOT)
        .unwrap()
        .unwrap(key_id, version.version, &version.wrapped_material)
        .unwrap()
        .to_vec()
}

/// Sets a key's state in the store and reopens the service on it (the
/// lifecycle operations are not what these tests are about). A key put
/// `PendingDeletion` is due for deletion in 30 days.
pub fn with_key_state(h: &Harness, key_id: &str, state: &str) -> Harness {
    let mut record = h.store.key(key_id).unwrap().unwrap();
    state.clone_into(&mut record.key_state);
    if state == "PendingDeletion" {
        record.deletion_date = Some(h.clock.now() + 30 * 86_400);
        record.pending_window_days = Some(30);
    }
    h.store.update_key(&record).unwrap();
    h.reopen()
}

/// A scratch directory removed on drop; `None`, with the reason printed,
/// when the `openssl` command is not installed.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Option<Self> {
        match Command::new("openssl").arg("version").output() {
            Ok(output) if output.status.success() => {}
            Ok(_) | Err(_) => {
                // Written to the stream itself rather than through
                // `eprintln!`, which the test harness captures: a skip is seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping the `{name}` cross-check: the `openssl` command is not available"
                );
                return None;
            }
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kmsgov-core-ops-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        Some(Self { dir })
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path(name);
        fs::write(Path::new(&path), bytes).unwrap();
        path
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path(name)).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Runs `openssl` with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().unwrap()
}

/// Runs `openssl` and returns its standard output, failing the test if it
/// fails.
pub fn openssl(args: &[&str]) -> String {
    let output = run(args);
    assert!(
        output.status.success(),
        "openssl {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The SHA-2 digest name OpenSSL uses for a KMS algorithm name that ends in
/// `_256`, `_384` or `_512` (`sha256`, …).
pub fn digest_name(algorithm: &str) -> &'static str {
    if algorithm.ends_with("_256") {
        "sha256"
    } else if algorithm.ends_with("_384") {
        "sha384"
    } else if algorithm.ends_with("_512") {
        "sha512"
    } else {
        panic!("no digest in {algorithm}")
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
