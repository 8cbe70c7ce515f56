//! Feeds arbitrary bytes to the scenario loader; whatever loads is run, every
//! test of it, with and without the decision path. Nothing may panic.

#![no_main]

use kmsgov_authz::{decide, Call, Scenario, Trace};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(scenario) = Scenario::parse(text) else {
        return;
    };
    for test in &scenario.tests {
        let _ = scenario.run(test);
        let call = Call {
            caller: &test.principal,
            operation: test.operation,
            input: &test.input,
            env: &test.env,
            ciphertext_key: None,
        };
        let fast = decide(&scenario.world, &call, Trace::Off);
        let full = decide(&scenario.world, &call, Trace::Full);
        assert_eq!(
            fast.outcome, full.outcome,
            "the decision path changed the decision"
        );
        assert_eq!(
            fast.message, full.message,
            "the decision path changed the message"
        );
    }
});
