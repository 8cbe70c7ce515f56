//! The benchmark workload's 1,000 expected decisions, as a test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

#[path = "../benches/support/workload.rs"]
#[allow(dead_code, unreachable_pub, reason = "shared with the benchmark")]
mod workload;

#[test]
fn key_policy_workload_agrees_with_every_expected_decision() {
    let w = workload::load();
    assert_eq!(w.cases.len(), 1000);
    let bad = w.check();
    assert!(
        bad.is_empty(),
        "{} disagreements:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
