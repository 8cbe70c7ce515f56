//! boto3 and the AWS CLI against `kmsgov serve`: runs the Python suite in
//! `tests/clients` (see its module documentation) with the `kmsgov` binary
//! of this build. The clients must be installed:
//! `python3 -m pip install -r tests/clients/requirements.txt`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

#[path = "support/server.rs"]
mod server;

use std::path::Path;
use std::process::Command;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

#[test]
fn boto3_and_the_aws_cli_work_unchanged() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let suite = root.join("tests/clients");
    let check = Command::new(python())
        .args(["-c", "import boto3, awscli"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python()));
    assert!(
        check.status.success(),
        "boto3 and the AWS CLI are needed: python3 -m pip install -r {}\n{}",
        suite.join("requirements.txt").display(),
        String::from_utf8_lossy(&check.stderr)
    );
    let output = Command::new(python())
        .args(["-m", "unittest", "discover", "-v", "-s"])
        .arg(&suite)
        .env("KMSGOV_BIN", server::binary())
        .output()
        .unwrap();
    // unittest reports on stderr.
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the client suite failed:\n{report}"
    );
    let ran: usize = report
        .lines()
        .find_map(|l| {
            l.strip_prefix("Ran ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    assert!(ran >= 11, "only {ran} client tests ran:\n{report}");
}
