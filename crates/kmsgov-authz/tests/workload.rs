//! Full KMS decisions (every layer) for the benchmark workload agree with its
//! 1,000 expected outcomes, with and without the decision path, and from JSON text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use kmsgov_authz::Trace;

#[path = "../benches/support/workload.rs"]
#[allow(dead_code, unreachable_pub, reason = "shared with the benchmark")]
mod workload;

#[test]
fn full_decisions_agree_with_every_expected_outcome() {
    let w = workload::load();
    assert_eq!(w.requests.len(), 1000);
    let mut bad = Vec::new();
    for (i, r) in w.requests.iter().enumerate() {
        let fast = w.decide(r, Trace::Off);
        let full = w.decide(r, Trace::Full);
        let text = w.decide_text(&r.text).expect("request text decides");
        let got = workload::classify(&fast);
        if got != r.expected {
            bad.push(format!(
                "request {i} {} {}: got {got} ({}), expected {}",
                r.caller.arn(),
                r.action,
                fast.message,
                r.expected
            ));
        }
        assert_eq!(
            (fast.outcome, &fast.message),
            (full.outcome, &full.message),
            "request {i}: trace changes the decision"
        );
        assert_eq!(
            (fast.outcome, &fast.message),
            (text.outcome, &text.message),
            "request {i}: text input changes the decision"
        );
        assert!(
            !full.path.is_empty(),
            "request {i}: no decision path recorded"
        );
    }
    assert!(
        bad.is_empty(),
        "{} disagreements:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
