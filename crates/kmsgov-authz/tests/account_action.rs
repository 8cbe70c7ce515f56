//! Actions on `*` outside KMS's API (kmsgov's governance operations): the
//! identity-based policies, boundaries and SCPs decide.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use kmsgov_authz::{
    decide_account_action, AccountActionCall, Environment, Outcome, Scenario, Trace,
};
use kmsgov_policy::Caller;

const WORLD: &str = r#"{
  "accounts": {"111122223333": {}},
  "principals": [
    {"arn": "arn:aws:iam::111122223333:user/auditor", "policies": [
      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kmsgov:Get*", "Resource": "*"}]}]},
    {"arn": "arn:aws:iam::111122223333:user/kmsadmin", "policies": [
      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}]},
    {"arn": "arn:aws:iam::111122223333:user/bounded",
     "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}],
     "boundary": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}},
    {"arn": "arn:aws:iam::111122223333:user/denied", "policies": [
      {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kmsgov:GetInclusionProof", "Resource": "*"}]}]}
  ]
}"#;

fn decide(who: &str, action: &str) -> (Outcome, String) {
    let world = Scenario::parse(WORLD).unwrap().world;
    let caller = Caller::parse(&format!("arn:aws:iam::111122223333:user/{who}")).unwrap();
    let env = Environment::new();
    let d = decide_account_action(
        &world,
        &AccountActionCall {
            caller: &caller,
            action,
            env: &env,
        },
        Trace::Off,
    );
    (d.outcome, d.message)
}

#[test]
fn identity_policies_boundaries_and_denies_decide() {
    assert_eq!(decide("auditor", "kmsgov:GetCheckpoint").0, Outcome::Allow);
    assert_eq!(
        decide("auditor", "kmsgov:GetConsistencyProof").0,
        Outcome::Allow
    );
    let (outcome, message) = decide("kmsadmin", "kmsgov:GetCheckpoint");
    assert_eq!(outcome, Outcome::Deny);
    assert_eq!(
        message,
        "User: arn:aws:iam::111122223333:user/kmsadmin is not authorized to perform: kmsgov:GetCheckpoint because no identity-based policy allows the kmsgov:GetCheckpoint action"
    );
    let (outcome, message) = decide("bounded", "kmsgov:GetCheckpoint");
    assert_eq!(outcome, Outcome::Deny);
    assert!(message.contains("permissions boundary"), "{message}");
    assert_eq!(decide("denied", "kmsgov:GetCheckpoint").0, Outcome::Allow);
    let (outcome, message) = decide("denied", "kmsgov:GetInclusionProof");
    assert_eq!(outcome, Outcome::Deny);
    assert!(
        message.contains("explicit deny in an identity-based policy"),
        "{message}"
    );
}
