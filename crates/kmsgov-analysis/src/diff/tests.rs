use kmsgov_authz::{Environment, Operation, Scenario, World};
use kmsgov_policy::Policy;
use serde_json::{json, Value};

use super::{candidates, choose_key, diff, Change, KeyDiff, KEY_ACTIONS};

const ROOT: &str = "arn:aws:iam::111122223333:root";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const ADMIN: &str = "arn:aws:iam::111122223333:role/admin";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k1";

/// Alice may Decrypt through her identity policy (so only through the root
/// delegation); the admin role is named in the key policies themselves.
fn world() -> World {
    let text = json!({
        "accounts": {"111122223333": {}},
        "principals": [
            {"arn": ALICE, "policies": [{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY}]}]},
            {"arn": ADMIN}
        ],
        "keys": [{"arn": KEY}],
        "tests": []
    });
    match Scenario::parse(&text.to_string()) {
        Ok(s) => s.world,
        Err(e) => panic!("world: {e}"),
    }
}

fn policy(doc: &Value) -> Policy {
    match Policy::from_json(doc, &kmsgov_authz::key_policy_options()) {
        Ok(p) => p,
        Err(e) => panic!("policy: {e}"),
    }
}

fn run(old: &Value, new: &Value) -> KeyDiff {
    let (o, n) = (policy(old), policy(new));
    match diff(&world(), KEY, (&o, old), (&n, new), &Environment::new()) {
        Ok(d) => d,
        Err(e) => panic!("diff: {e}"),
    }
}

fn root_delegation() -> Value {
    json!({"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"})
}

fn admin() -> Value {
    json!({"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ADMIN}, "Action": "kms:*", "Resource": "*"})
}

fn short(d: &KeyDiff) -> Vec<(&str, &str, &str, &str)> {
    d.changes
        .iter()
        .map(|c| {
            (
                c.principal.as_str(),
                c.action.as_str(),
                c.before.as_str(),
                c.after.as_str(),
            )
        })
        .collect()
}

#[test]
fn key_actions_are_engine_operations() {
    for action in KEY_ACTIONS {
        let name = action.strip_prefix("kms:").unwrap_or(action);
        let known = Operation::from_name(name).is_some()
            || name == "ReEncryptFrom"
            || name == "ReEncryptTo";
        assert!(known, "{action}");
    }
    let mut sorted = KEY_ACTIONS.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, KEY_ACTIONS.to_vec());
}

#[test]
fn the_same_policy_changes_nothing() {
    let doc = json!({"Version": "2012-10-17", "Statement": [root_delegation(), admin()]});
    let d = run(&doc, &doc);
    assert_eq!(d.changes, Vec::<Change>::new());
    assert_eq!(d.render_text(), format!("key: {KEY}\nno access changes\n"));
}

#[test]
fn removing_the_root_delegation_affects_principals_reached_through_it() {
    let old = json!({"Version": "2012-10-17", "Statement": [root_delegation(), admin()]});
    let new = json!({"Version": "2012-10-17", "Statement": [admin()]});
    let d = run(&old, &new);
    // Alice loses Decrypt (her identity policy no longer counts); the admin,
    // named in the key policy, loses nothing.
    let alice: Vec<_> = short(&d).into_iter().filter(|c| c.0 == ALICE).collect();
    assert_eq!(alice, vec![(ALICE, "kms:Decrypt", "Allow", "Deny")]);
    assert!(short(&d).iter().all(|c| c.0 != ADMIN));
    // The root user loses every key action.
    let root: Vec<&str> = short(&d)
        .into_iter()
        .filter(|c| c.0 == ROOT)
        .map(|c| c.1)
        .collect();
    assert_eq!(root, KEY_ACTIONS.to_vec());
    assert_eq!(d.changes.len(), KEY_ACTIONS.len() + 1);
}

#[test]
fn a_narrowed_root_delegation_only_changes_delegated_access() {
    // Old: root delegation. New: root delegation without Decrypt for anyone
    // but the root user itself; alice only reaches the key through it.
    let narrowed = json!({"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": [ROOT, ADMIN]}}});
    let old = json!({"Version": "2012-10-17", "Statement": [root_delegation(), admin()]});
    let new = json!({"Version": "2012-10-17", "Statement": [narrowed, admin()]});
    let d = run(&old, &new);
    assert_eq!(short(&d), vec![(ALICE, "kms:Decrypt", "Allow", "Deny")]);
    let reason = d
        .changes
        .first()
        .map(|c| c.reason_after.as_str())
        .unwrap_or("");
    assert!(reason.contains("kms:Decrypt"), "{reason}");
}

#[test]
fn an_explicit_deny_added() {
    let deny = json!({"Sid": "NoDeletion", "Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"});
    let old = json!({"Version": "2012-10-17", "Statement": [root_delegation(), admin()]});
    let new = json!({"Version": "2012-10-17", "Statement": [root_delegation(), admin(), deny]});
    let d = run(&old, &new);
    assert_eq!(
        short(&d),
        vec![
            (ADMIN, "kms:ScheduleKeyDeletion", "Allow", "Deny"),
            (ROOT, "kms:ScheduleKeyDeletion", "Allow", "Deny"),
        ]
    );
    assert!(d
        .changes
        .iter()
        .all(|c| c.reason_after.contains("explicit deny")));
    let text = d.render_text();
    let expected = format!(
        "key: {KEY}\n\
         PRINCIPAL                             ACTION                   BEFORE -> AFTER\n\
         {ADMIN}  kms:ScheduleKeyDeletion  Allow -> Deny\n\
         {ROOT}        kms:ScheduleKeyDeletion  Allow -> Deny\n\
         2 changes for 2 principals: 0 newly allowed, 2 no longer allowed, 0 other\n"
    );
    assert_eq!(text, expected);
    let j = d.to_json();
    assert_eq!(j["key"], KEY);
    assert_eq!(j["changes"][0]["principal"], ADMIN);
    assert_eq!(j["changes"][0]["action"], "kms:ScheduleKeyDeletion");
    assert_eq!(j["changes"][0]["before"], "Allow");
    assert_eq!(j["changes"][0]["after"], "Deny");
}

#[test]
fn principals_named_only_in_a_policy_are_candidates() {
    let other = "arn:aws:iam::444455556666:root";
    let old = json!({"Version": "2012-10-17", "Statement": [root_delegation()]});
    let new = json!({"Version": "2012-10-17", "Statement": [root_delegation(),
        {"Effect": "Allow", "Principal": {"AWS": ["444455556666", "arn:aws:iam::777788889999:user/carol"]}, "Action": "kms:Decrypt", "Resource": "*"}]});
    let w = world();
    assert_eq!(
        candidates(&w, "111122223333", &[&old, &new]),
        vec![
            ADMIN.to_owned(),
            ROOT.to_owned(),
            ALICE.to_owned(),
            other.to_owned(),
            "arn:aws:iam::777788889999:root".to_owned(),
            "arn:aws:iam::777788889999:user/carol".to_owned(),
        ]
    );
    let d = run(&old, &new);
    // The other account's root needs no identity policy; carol has none.
    assert_eq!(short(&d), vec![(other, "kms:Decrypt", "Deny", "Allow"),]);
}

#[test]
fn context_reaches_the_engine() {
    let old = json!({"Version": "2012-10-17", "Statement": [root_delegation()]});
    let new = json!({"Version": "2012-10-17", "Statement": [root_delegation(),
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}]});
    let (o, n) = (policy(&old), policy(&new));
    let w = world();
    let none = diff(&w, KEY, (&o, &old), (&n, &new), &Environment::new());
    assert_eq!(none.map(|d| d.changes.len()), Ok(0));
    let mut env = Environment::new();
    env.insert("kms:ViaService", "s3.us-east-1.amazonaws.com");
    let d = diff(&w, KEY, (&o, &old), (&n, &new), &env);
    let pairs: Vec<(String, String)> = d
        .map(|d| {
            d.changes
                .into_iter()
                .map(|c| (c.principal, c.action))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        pairs,
        vec![
            (ROOT.to_owned(), "kms:Decrypt".to_owned()),
            (ALICE.to_owned(), "kms:Decrypt".to_owned()),
        ]
    );
}

#[test]
fn choosing_the_key() {
    let w = world();
    assert_eq!(choose_key(&w, None), Ok(KEY));
    assert_eq!(choose_key(&w, Some(KEY)), Ok(KEY));
    assert!(choose_key(&w, Some("arn:aws:kms:us-east-1:111122223333:key/nope")).is_err());
    assert!(choose_key(&World::new("us-east-1"), None).is_err());
}
