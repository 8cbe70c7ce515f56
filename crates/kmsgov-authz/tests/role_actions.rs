//! `decide_role_action`: sts:AssumeRole against a role's trust policy, and
//! iam:PassRole on identity-based policies alone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed expectation should stop the test"
)]

use kmsgov_authz::{decide_role_action, environment, RoleActionCall, Scenario, Trace, World};
use kmsgov_policy::Caller;
use serde_json::json;

fn world() -> World {
    let doc = json!({
        "accounts": {"111122223333": {}, "444455556666": {}},
        "principals": [
            {"arn": "arn:aws:iam::111122223333:role/Named",
             "trust_policy": {"Version": "2012-10-17", "Statement": [
                {"Sid": "TrustAlice", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "Action": "sts:AssumeRole"}]}},
            {"arn": "arn:aws:iam::111122223333:role/Delegated",
             "trust_policy": {"Version": "2012-10-17", "Statement": [
                {"Sid": "TrustAccounts", "Effect": "Allow", "Principal": {"AWS": ["111122223333", "444455556666"]}, "Action": "sts:AssumeRole",
                 "Condition": {"StringEquals": {"sts:ExternalId": "abc"}}}]}},
            {"arn": "arn:aws:iam::111122223333:user/alice"},
            {"arn": "arn:aws:iam::111122223333:user/bob", "policies": [
                {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
                    {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]}]},
            {"arn": "arn:aws:iam::444455556666:user/carol", "policies": [
                {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": ["sts:AssumeRole", "iam:PassRole"], "Resource": "*"}]}]}
        ],
        "tests": []
    });
    Scenario::parse(&doc.to_string()).unwrap().world
}

fn decide(
    world: &World,
    caller: &str,
    action: &str,
    role: &str,
    context: serde_json::Value,
) -> String {
    let caller = Caller::parse(caller).unwrap();
    let env = environment(Some(&context), "").unwrap();
    let call = RoleActionCall {
        caller: &caller,
        action,
        role,
        env: &env,
    };
    let d = decide_role_action(world, &call, Trace::Full);
    // The path and the fast answer agree.
    assert_eq!(
        decide_role_action(world, &call, Trace::Off).outcome,
        d.outcome
    );
    format!("{} {}", d.outcome.name(), d.message)
}

const NAMED: &str = "arn:aws:iam::111122223333:role/Named";
const DELEGATED: &str = "arn:aws:iam::111122223333:role/Delegated";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const CAROL: &str = "arn:aws:iam::444455556666:user/carol";

#[test]
fn a_trust_policy_that_names_the_caller_allows_without_an_identity_policy() {
    let w = world();
    assert!(decide(&w, ALICE, "sts:AssumeRole", NAMED, json!({})).starts_with("Allow"));
    let bob = decide(&w, BOB, "sts:AssumeRole", NAMED, json!({}));
    assert!(bob.starts_with("Deny"), "{bob}");
    assert!(
        bob.contains("because no resource-based policy allows the sts:AssumeRole action"),
        "{bob}"
    );
}

#[test]
fn a_trust_policy_that_names_the_account_needs_an_identity_policy_and_its_conditions() {
    let w = world();
    let ctx = json!({"sts:ExternalId": "abc"});
    assert!(decide(&w, BOB, "sts:AssumeRole", DELEGATED, ctx.clone()).starts_with("Allow"));
    // Without the external id the trust policy does not allow.
    assert!(decide(&w, BOB, "sts:AssumeRole", DELEGATED, json!({})).starts_with("Deny"));
    // alice has no identity-based policy.
    let alice = decide(&w, ALICE, "sts:AssumeRole", DELEGATED, ctx.clone());
    assert!(
        alice.contains("because no identity-based policy allows"),
        "{alice}"
    );
    // Across accounts: trusted account, and the caller's own policy allows.
    assert!(decide(&w, CAROL, "sts:AssumeRole", DELEGATED, ctx).starts_with("Allow"));
    assert!(decide(&w, CAROL, "sts:AssumeRole", NAMED, json!({})).starts_with("Deny"));
}

#[test]
fn pass_role_is_decided_by_identity_policies_in_the_roles_account() {
    let w = world();
    assert!(decide(&w, BOB, "iam:PassRole", NAMED, json!({})).starts_with("Allow"));
    assert!(decide(&w, ALICE, "iam:PassRole", NAMED, json!({})).starts_with("Deny"));
    // A role of another account cannot be passed, whatever the caller's policy says.
    assert!(decide(&w, CAROL, "iam:PassRole", NAMED, json!({})).starts_with("Deny"));
}

#[test]
fn an_unknown_role_cannot_be_assumed() {
    let w = world();
    let d = decide(
        &w,
        BOB,
        "sts:AssumeRole",
        "arn:aws:iam::111122223333:role/Nope",
        json!({}),
    );
    assert!(d.starts_with("Deny"), "{d}");
}
