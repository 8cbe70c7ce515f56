//! Parses arbitrary bytes as every kind of policy; whatever parses must print
//! and re-parse to an equal `Policy`, and must evaluate without panicking.

#![no_main]

use std::sync::OnceLock;

use kmsgov_policy::{Caller, MapContext, ParseOptions, Policy, PolicyKind, Request};
use libfuzzer_sys::fuzz_target;

const KINDS: [PolicyKind; 8] = [
    PolicyKind::Identity,
    PolicyKind::Resource,
    PolicyKind::Boundary,
    PolicyKind::Session,
    PolicyKind::Scp,
    PolicyKind::Rcp,
    PolicyKind::VpcEndpoint,
    PolicyKind::Trust,
];

const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

struct Fixture {
    callers: Vec<Caller>,
    context: MapContext,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let callers = [
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:sts::111122223333:assumed-role/App/session-1",
            "arn:aws:iam::111122223333:root",
        ]
        .iter()
        .map(|arn| Caller::parse(arn).expect("fixture caller ARN parses"))
        .collect();

        let mut context = MapContext::new();
        context.insert("aws:PrincipalArn", "arn:aws:iam::111122223333:user/alice");
        context.insert("aws:PrincipalAccount", "111122223333");
        context.insert("aws:PrincipalTag/team", "blue");
        context.insert("aws:SourceIp", "203.0.113.7");
        context.insert("aws:SourceVpce", "vpce-1a2b3c4d");
        context.insert("aws:CurrentTime", "2025-06-01T12:00:00Z");
        context.insert("aws:EpochTime", "1748779200");
        context.insert("aws:SecureTransport", "true");
        context.insert("aws:MultiFactorAuthPresent", "false");
        context.insert("aws:RequestedRegion", "us-east-1");
        context.insert("kms:CallerAccount", "111122223333");
        context.insert("kms:ViaService", "s3.us-east-1.amazonaws.com");
        context.insert("kms:RequestAlias", "alias/finance-key");
        context.insert("kms:EncryptionContext:AppName", "payroll");
        context.insert_many("kms:EncryptionContextKeys", ["AppName"]);
        context.insert_many("kms:GrantOperations", ["Encrypt", "ReEncryptTo"]);
        context.insert("kms:GrantIsForAWSResource", "false");
        context.insert("kms:KeySpec", "SYMMETRIC_DEFAULT");
        Fixture { callers, context }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    for kind in KINDS {
        let options = ParseOptions::new(kind);
        let Ok(policy) = Policy::parse_bytes(data, &options) else {
            continue;
        };

        let printed = policy.to_string();
        let reparsed = Policy::parse(&printed, &options)
            .unwrap_or_else(|e| panic!("printed {kind:?} policy does not parse: {e}\n{printed}"));
        assert_eq!(
            policy, reparsed,
            "round trip changed the {kind:?} policy:\n{printed}"
        );

        for caller in &fixture.callers {
            let request = Request {
                caller,
                action: "kms:Decrypt",
                resource: KEY_ARN,
                context: &fixture.context,
            };
            let evaluation = policy.evaluate(&request);
            let verdict = policy.decide(&request);
            assert_eq!(
                verdict.outcome, evaluation.outcome,
                "decide and evaluate disagree"
            );
            assert!(
                verdict
                    .matched
                    .iter()
                    .map(|m| m.index)
                    .eq(evaluation.matched().map(|s| s.index)),
                "decide and evaluate matched different statements"
            );
        }
    }
});
