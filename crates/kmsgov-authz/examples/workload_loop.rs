//! Decides the benchmark workload in a loop, for profilers that count
//! instructions (`valgrind --tool=callgrind`), where criterion's own work
//! would blur the picture. Usage: `workload_loop [off|full|text] [rounds]`.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "profiling driver: bad data must stop the run"
)]

use kmsgov_authz::Trace;

#[path = "../benches/support/workload.rs"]
#[allow(dead_code, unreachable_pub, reason = "shared with the benchmark")]
mod workload;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "off".into());
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let w = workload::load();
    let mut allowed = 0usize;
    for _ in 0..rounds {
        for r in &w.requests {
            let d = match mode.as_str() {
                "full" => w.decide(r, Trace::Full),
                "text" => w.decide_text(&r.text).expect("decides"),
                _ => w.decide(r, Trace::Off),
            };
            allowed += usize::from(d.outcome == kmsgov_authz::Outcome::Allow);
        }
    }
    println!("{allowed} allowed of {}", rounds * w.requests.len());
}
