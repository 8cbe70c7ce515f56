//! The `kmsgov receipt` commands: exit codes and output of `verify`,
//! `attenuate`, `inspect` and `verifier-key`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use std::os::unix::fs::PermissionsExt as _;

use assert_cmd::Command;
use base64::Engine as _;
use kmsgov_core::receipt::{plaintext_commitment, ReceiptClaims, ReceiptIssuer};
use kmsgov_core::root_key::RootKey;

const SALT: [u8; 32] = [0x11; 32];
const PLAINTEXT: &[u8] = b"4111 1111 1111 1111";
const NOW: &str = "2026-06-01T11:50:00Z";

fn kmsgov() -> Command {
    Command::cargo_bin("kmsgov").unwrap()
}

fn issuer() -> ReceiptIssuer {
    ReceiptIssuer::from_seed(&[0x5a; 32]).unwrap()
}

fn token() -> String {
    issuer()
        .issue(&ReceiptClaims {
            receipt_id: [0x01; 16],
            kms: "kmsgov/us-east-1".into(),
            ciphertext: [0x02; 32],
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            key_version: 3,
            data_policy: [0x03; 32],
            holder: [0x04; 32],
            plaintext_commit: plaintext_commitment(&SALT, PLAINTEXT),
            audit_origin: "kmsgov/audit/us-east-1/0".into(),
            audit_index: 7,
            governance_size: 42,
            governance_root: [0x05; 32],
            purposes: vec!["chargeback-review".into(), "fraud-scoring".into()],
            audiences: vec!["svc:scoring".into()],
            reshare_depth: 1,
            expires_unix: 1_780_315_200, // 2026-06-01T12:00:00Z
        })
        .unwrap()
}

/// `kmsgov receipt verify` of `token` with the usual use, changed or
/// extended by `extra`.
fn verify(token: &str, extra: &[&str]) -> std::process::Output {
    let key = issuer().verifier_key();
    let mut args = vec![
        "--receipt",
        token,
        "--verifier-key",
        &key,
        "--purpose",
        "fraud-scoring",
        "--audience",
        "svc:scoring",
        "--now",
        NOW,
    ];
    for pair in extra.chunks(2) {
        match args.iter().position(|a| *a == pair[0]) {
            Some(i) if pair.len() == 2 => args[i + 1] = pair[1],
            _ => args.extend_from_slice(pair),
        }
    }
    kmsgov()
        .args(["receipt", "verify"])
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn verify_ok_prints_the_claims_and_exits_0() {
    let output = verify(&token(), &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.starts_with(
            "ok: receipt 01010101010101010101010101010101 from kmsgov/us-east-1 \
             allows this use until 2026-06-01T12:00:00Z\n"
        ),
        "{text}"
    );
    assert!(text.contains("kmsgov/audit/us-east-1/0 entry 7"), "{text}");
    assert!(text.contains("chargeback-review, fraud-scoring"), "{text}");
    assert!(text.contains("not checked"), "{text}");
}

#[test]
fn verify_reads_the_receipt_from_a_file_and_checks_the_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let receipt = dir.path().join("receipt");
    std::fs::write(&receipt, format!("{}\n", token())).unwrap();
    let plaintext = dir.path().join("plaintext");
    std::fs::write(&plaintext, PLAINTEXT).unwrap();
    let salt = base64::engine::general_purpose::STANDARD.encode(SALT);
    let at_file = format!("@{}", receipt.display());

    let output = verify(
        &at_file,
        &["--plaintext", plaintext.to_str().unwrap(), "--salt", &salt],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(stdout(&output).contains("matches the commitment"));

    std::fs::write(&plaintext, b"something else").unwrap();
    let output = verify(
        &at_file,
        &["--plaintext", plaintext.to_str().unwrap(), "--salt", &salt],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stdout(&output),
        "refused: the plaintext does not match the receipt's commitment\n"
    );
}

#[test]
fn verify_refusals_exit_1_with_the_reason() {
    let token = token();
    for (extra, reason) in [
        (
            &["--now", "2026-06-01T12:00:01Z"][..],
            "refused: the receipt has expired (check in block 0)\n",
        ),
        (
            &["--purpose", "marketing"][..],
            "refused: the purpose is not allowed (check in block 0)\n",
        ),
        (
            &["--audience", "svc:ads"][..],
            "refused: this service is not an allowed audience (check in block 0)\n",
        ),
        (
            &["--hop", "2"][..],
            "refused: the hop is beyond the re-share depth (check in block 0)\n",
        ),
    ] {
        let output = verify(&token, extra);
        assert_eq!(output.status.code(), Some(1), "{extra:?}: {output:?}");
        assert_eq!(stdout(&output), reason, "{extra:?}");
    }

    let other = ReceiptIssuer::from_seed(&[0x77; 32])
        .unwrap()
        .verifier_key();
    let output = kmsgov()
        .args([
            "receipt",
            "verify",
            "--receipt",
            &token,
            "--verifier-key",
            &other,
        ])
        .args([
            "--purpose",
            "fraud-scoring",
            "--audience",
            "svc:scoring",
            "--now",
            NOW,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        "refused: the signature does not verify under the pinned key\n"
    );

    let output = verify("garbage!", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("refused: not a receipt token"));
}

#[test]
fn verify_json() {
    let output = verify(&token(), &["--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["ok"], true);
    assert_eq!(value["audit_index"], 7);
    assert_eq!(value["expires"], "2026-06-01T12:00:00Z");
    assert_eq!(value["purposes"][1], "fraud-scoring");
    assert_eq!(value["blocks"].as_array().unwrap().len(), 1);

    let output = verify(&token(), &["--format", "json", "--purpose", "marketing"]);
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["ok"], false);
    assert_eq!(value["reason"], "PurposeNotAllowed { block: 0 }");
}

#[test]
fn attenuate_then_verify() {
    let output = kmsgov()
        .args([
            "receipt",
            "attenuate",
            "--receipt",
            &token(),
            "--verifier-key",
        ])
        .arg(issuer().verifier_key())
        .args([
            "--purpose",
            "chargeback-review",
            "--expires",
            "2026-06-01T11:55:00Z",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let narrowed = stdout(&output).trim().to_owned();

    let output = verify(&narrowed, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        "refused: the purpose is not allowed (check in block 1)\n"
    );
    let output = verify(&narrowed, &["--purpose", "chargeback-review"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(stdout(&output).contains("blocks            2"));
    let output = verify(
        &narrowed,
        &[
            "--purpose",
            "chargeback-review",
            "--now",
            "2026-06-01T11:56:00Z",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        "refused: the receipt has expired (check in block 1)\n"
    );

    // Nothing to narrow is an error.
    let output = kmsgov()
        .args([
            "receipt",
            "attenuate",
            "--receipt",
            &token(),
            "--verifier-key",
        ])
        .arg(issuer().verifier_key())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn inspect_prints_the_blocks_and_says_it_did_not_verify() {
    let output = kmsgov()
        .args(["receipt", "inspect", "--receipt", &token()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(text.starts_with("// NOT VERIFIED"), "{text}");
    assert!(text.contains("// block 0 (authority)\n"), "{text}");
    assert!(
        text.contains("check if use_purpose($p), purpose($p);"),
        "{text}"
    );
}

#[test]
fn verifier_key_of_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.key");
    std::fs::write(&path, [9u8; 32]).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = kmsgov()
        .args(["receipt", "verifier-key", "--data-dir"])
        .arg(dir.path())
        .env_remove("KMSGOV_ROOT_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let root = RootKey::from_bytes(&[9u8; 32]).unwrap();
    let seed = root.derive("kmsgov/receipt/root-key").unwrap();
    assert_eq!(
        stdout(&output),
        format!(
            "{}\n",
            ReceiptIssuer::from_seed(&seed).unwrap().verifier_key()
        )
    );
}
