//! `kmsgov serve` refuses to start on a root key or world it cannot trust.
//! (The running server is tested end to end in `crates/kmsgov-e2e`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use assert_cmd::Command;

fn serve(data_dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("kmsgov").unwrap();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("KMSGOV_ROOT_KEY")
        .timeout(std::time::Duration::from_secs(30));
    cmd
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_key(path: &Path, bytes: &[u8], mode: u32) {
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_root_key_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_key(&dir.path().join("root.key"), &[7; 32], 0o644);
    let output = serve(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("root.key: has mode 644"), "{text}");
    assert!(text.contains("chmod 600"), "{text}");
}

#[test]
fn a_root_key_of_the_wrong_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_key(&dir.path().join("root.key"), &[7; 31], 0o600);
    let output = serve(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains("holds exactly 32 bytes, this one 31"),
        "{text}"
    );
}

#[test]
fn a_database_without_its_root_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kmsgov.db"), b"").unwrap();
    let output = serve(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("root.key: missing, but"), "{text}");
    assert!(!dir.path().join("root.key").exists());
}

#[test]
fn a_root_key_from_the_environment_must_be_32_bytes_of_base64() {
    let dir = tempfile::tempdir().unwrap();
    let output = serve(dir.path())
        .env("KMSGOV_ROOT_KEY", "not base64!")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("KMSGOV_ROOT_KEY: not base64"));

    let output = serve(dir.path())
        .env("KMSGOV_ROOT_KEY", "c2hvcnQ=")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains("KMSGOV_ROOT_KEY: a root key is 32 bytes, not 5"),
        "{text}"
    );
    // Neither attempt wrote a root key file.
    assert!(!dir.path().join("root.key").exists());
}

#[test]
fn an_invalid_world_file_is_refused_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world.json");
    std::fs::write(
        &world,
        r#"{"accounts": {"111122223333": {}}, "principals": [{"arn": "nope"}]}"#,
    )
    .unwrap();
    let output = serve(&dir.path().join("data"))
        .arg("--world")
        .arg(&world)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("world.json: /principals/0"), "{text}");
}

#[test]
fn the_root_key_file_option_is_checked_like_the_default_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("operator.key");
    write_key(&key, &[9; 32], 0o640);
    let output = serve(&dir.path().join("data"))
        .arg("--root-key-file")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("operator.key: has mode 640"));
}

#[test]
fn a_guardrail_directory_that_does_not_load_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rego = dir.path().join("rego");
    std::fs::create_dir(&rego).unwrap();
    std::fs::write(
        rego.join("half.rego"),
        "package half\nimport rego.v1\ndeny contains \"x\" if {\n",
    )
    .unwrap();
    let output = serve(&dir.path().join("data"))
        .arg("--dev")
        .arg("--guardrails")
        .arg(&rego)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("half.rego: guardrail `half`, line"), "{text}");
}
