//! `kmsgov governance`: keygen and sign make keys and signatures that the
//! chain accepts, verify checks a data directory's or a file's chain
//! against pinned keys (exit 1 naming the first bad record), and show
//! lists records and pending ones.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;

use assert_cmd::Command;
use base64::Engine as _;
use kmsgov_core::governance::{
    format_public_key, hex, Change, Governance, GovernanceKey, RecordType, SignerSet, Submitted,
    SERVER_KEY_LABEL,
};
use kmsgov_core::root_key::RootKey;
use kmsgov_store_sqlite::{SqliteGovernanceSink, GOVERNANCE_DB};

fn kmsgov() -> Command {
    Command::cargo_bin("kmsgov").unwrap()
}

fn stdout(cmd: &mut Command) -> (i32, String) {
    let output = cmd.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
    )
}

/// A data directory with a root key and a chain of five records (genesis,
/// a hand-over to the admin `admin`, three bindings), plus one pending
/// record: the server's governance key.
fn data_dir(dir: &Path, admin: &GovernanceKey) -> GovernanceKey {
    let root = [7u8; 32];
    let path = dir.join("root.key");
    std::fs::write(&path, root).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let seed = RootKey::from_bytes(&root)
        .unwrap()
        .derive(SERVER_KEY_LABEL)
        .unwrap();
    let sink = Arc::new(SqliteGovernanceSink::open(dir.join(GOVERNANCE_DB)).unwrap());
    let gov = Governance::open(sink, &seed, "scope", 1_760_000_000).unwrap();
    let bind = |n: u8| Change {
        kind: RecordType::BindKeyPolicy,
        subject: [n; 32],
        new_hash: [n; 32],
        payload: vec![],
        justification: [0; 32],
    };
    gov.submit(bind(1), 1_760_000_001).unwrap();
    // Server and admin; bindings need both.
    let server = GovernanceKey::from_seed(&seed).unwrap();
    let set = SignerSet::new(
        &[server.public_key(), admin.public_key()],
        1,
        &[(RecordType::BindKeyPolicy, 2)],
    )
    .unwrap();
    gov.submit(
        Change {
            kind: RecordType::SignerSetChange,
            subject: [0; 32],
            new_hash: set.id(),
            payload: set.encode(),
            justification: [0; 32],
        },
        1_760_000_002,
    )
    .unwrap();
    for n in [2, 3] {
        let Submitted::Pending { record_hash, .. } = gov.submit(bind(n), 1_760_000_003).unwrap()
        else {
            panic!("expected pending");
        };
        if n == 2 {
            let s = admin.sign(&record_hash);
            gov.approve(&record_hash, s.key_id, &s.sig).unwrap();
        }
    }
    assert_eq!(gov.head().0, 4);
    server
}

#[test]
fn keygen_and_sign() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("admin.key");
    let (code, text) = stdout(
        kmsgov()
            .args(["governance", "keygen", "--out"])
            .arg(&key_file),
    );
    assert_eq!(code, 0, "{text}");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = GovernanceKey::from_pkcs8(&std::fs::read(&key_file).unwrap()).unwrap();
    assert_eq!(
        text,
        format!(
            "{}\nkey-id {:08x}\n",
            format_public_key(&key.public_key()),
            key.key_id()
        )
    );
    // Never overwritten.
    let again = kmsgov()
        .args(["governance", "keygen", "--out"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));

    let hash = [0xab; 32];
    let (code, text) = stdout(
        kmsgov()
            .args(["governance", "sign", "--key"])
            .arg(&key_file)
            .args(["--record-hash", &hex(&hash)]),
    );
    assert_eq!(code, 0, "{text}");
    let expected = key.sign(&hash);
    assert_eq!(
        text,
        format!(
            "key-id {:08x}\nsignature {}\n",
            expected.key_id,
            base64::engine::general_purpose::STANDARD.encode(&expected.sig)
        )
    );
    // An approval over a proposal hash (alg 2).
    let (code, text) = stdout(
        kmsgov()
            .args(["governance", "sign", "--key"])
            .arg(&key_file)
            .args(["--proposal-hash", &hex(&hash)]),
    );
    assert_eq!(code, 0, "{text}");
    let expected = key.approve(&hash);
    assert_eq!(
        text,
        format!(
            "key-id {:08x}\nsignature {}\n",
            expected.key_id,
            base64::engine::general_purpose::STANDARD.encode(&expected.sig)
        )
    );
    // One of the two, not both.
    let both = kmsgov()
        .args(["governance", "sign", "--key"])
        .arg(&key_file)
        .args(["--record-hash", &hex(&hash), "--proposal-hash", &hex(&hash)])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
    let bad = kmsgov()
        .args(["governance", "sign", "--key"])
        .arg(&key_file)
        .args(["--record-hash", "abc"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn verify_show_and_a_tampered_file() {
    let dir = tempfile::tempdir().unwrap();
    let admin = GovernanceKey::from_seed(&[1; 32]).unwrap();
    let server = data_dir(dir.path(), &admin);
    let pin = format_public_key(&server.public_key());

    let (code, text) = stdout(
        kmsgov()
            .args(["governance", "verifier-key", "--data-dir"])
            .arg(dir.path()),
    );
    assert_eq!(code, 0);
    assert_eq!(text, format!("{pin}\nkey-id {:08x}\n", server.key_id()));

    let (code, text) = stdout(
        kmsgov()
            .args(["governance", "verify", "--data-dir"])
            .arg(dir.path())
            .args(["--pin", &pin]),
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("ok: 4 records, head "), "{text}");
    let head_hex = text.trim().rsplit(' ').next().unwrap().to_owned();
    assert_eq!(head_hex.len(), 64);

    // A pin that did not sign the genesis: record 0 is named.
    let (code, text) = stdout(
        kmsgov()
            .args(["governance", "verify", "--data-dir"])
            .arg(dir.path())
            .args(["--pin", &format_public_key(&admin.public_key())]),
    );
    assert_eq!(code, 1);
    assert!(text.starts_with("NOT INTACT: record 0: "), "{text}");

    let file = dir.path().join("chain.ggov");
    let (code, text) = stdout(
        kmsgov()
            .args(["governance", "export", "--data-dir"])
            .arg(dir.path())
            .arg("--out")
            .arg(&file),
    );
    assert_eq!(
        (code, text.as_str()),
        (
            0,
            format!("4 records written to {}\n", file.display()).as_str()
        )
    );
    let (code, text) = stdout(
        kmsgov()
            .args(["governance", "verify", "--records"])
            .arg(&file)
            .args(["--pin", &pin, "--head", &format!("3:{head_hex}")]),
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        text,
        format!("ok: 4 records, head {head_hex}, and the chain holds the pinned head\n")
    );

    // A flipped byte in the third record (its effective_at).
    let bytes = std::fs::read(&file).unwrap();
    let genesis_len = 218 + 2 + 33 + 2 + 1 + 71;
    let first_len = 218 + 1 + 71;
    let mut tampered = bytes.clone();
    tampered[genesis_len + first_len + 80] ^= 1;
    let bad = dir.path().join("tampered.ggov");
    std::fs::write(&bad, &tampered).unwrap();
    let (code, text) = stdout(
        kmsgov()
            .args(["governance", "verify", "--records"])
            .arg(&bad)
            .args(["--pin", &pin]),
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("NOT INTACT: record 2: "), "{text}");

    // Truncated after the pinned head.
    let short = dir.path().join("short.ggov");
    std::fs::write(&short, &bytes[..genesis_len + first_len]).unwrap();
    let (code, text) = stdout(
        kmsgov()
            .args(["governance", "verify", "--records"])
            .arg(&short)
            .args(["--pin", &pin, "--head", &format!("3:{head_hex}")]),
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("NOT INTACT: record 3: missing"), "{text}");

    let (code, text) = stdout(
        kmsgov()
            .args(["governance", "show", "--data-dir"])
            .arg(dir.path()),
    );
    assert_eq!(code, 0, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].contains("SignerSetChange"), "{text}");
    assert!(lines[3].contains("BindKeyPolicy"), "{text}");
    assert!(lines[4].starts_with("pending "), "{text}");
    assert!(lines[4].ends_with("(1 of 2 signatures)"), "{text}");

    let (code, text) = stdout(
        kmsgov()
            .args(["governance", "show", "--format", "json", "--data-dir"])
            .arg(dir.path()),
    );
    assert_eq!(code, 0, "{text}");
    let values: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(values.len(), 5);
    assert_eq!(values[2]["type"], "SignerSetChange");
    assert_eq!(values[2]["signer_set"]["thresholds"]["BindKeyPolicy"], 2);
    assert_eq!(values[4]["kind"], "pending");
    assert_eq!(
        (values[4]["have"].as_u64(), values[4]["need"].as_u64()),
        (Some(1), Some(2))
    );
}
