//! who-can and can-reach over a world with every kind of hop, and the paths
//! that must be blocked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test"
)]

use std::collections::BTreeMap;

use kmsgov_analysis::reach::{can_reach, who_can, Options, Path, Required};
use kmsgov_authz::{Scenario, World};
use serde_json::{json, Map, Value};

const K1: &str = "arn:aws:kms:us-east-1:111122223333:key/11111111-1111-1111-1111-111111111111";
const K2: &str = "arn:aws:kms:us-east-1:111122223333:key/22222222-2222-2222-2222-222222222222";
const A: &str = "arn:aws:iam::111122223333:";
const B: &str = "arn:aws:iam::444455556666:";
const C: &str = "arn:aws:iam::777788889999:";

fn world() -> World {
    let text = include_str!("data/reach-world.json");
    Scenario::parse(text).expect("the world parses").world
}

/// A path as `from -kind-> to -kind-> key`, with the account prefixes cut.
fn show(path: &Path) -> String {
    let short = |s: &str| {
        s.replace(A, "A:")
            .replace(B, "B:")
            .replace(C, "C:")
            .replace(K1, "K1")
            .replace(K2, "K2")
    };
    let mut out = String::new();
    for (i, h) in path.hops.iter().enumerate() {
        if i == 0 {
            out.push_str(&short(&h.from));
        }
        out.push_str(&format!(" -{}-> {}", h.kind, short(&h.to)));
    }
    out
}

fn who(world: &World, key: &str, context: Value) -> BTreeMap<String, Vec<String>> {
    let Value::Object(context) = context else {
        panic!("context must be an object")
    };
    let report = who_can(world, key, "kms:Decrypt", &context, Options::default())
        .expect("the analysis runs");
    report
        .results
        .iter()
        .map(|r| (r.principal.clone(), r.paths.iter().map(show).collect()))
        .collect()
}

fn expected(items: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    items
        .iter()
        .map(|(p, paths)| {
            (
                p.replace("A:", A).replace("B:", B).replace("C:", C),
                paths.iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .collect()
}

#[test]
fn who_can_decrypt_k1_through_policies_assumed_roles_and_another_account() {
    let got = who(&world(), K1, json!({}));
    let want = expected(&[
        ("A:role/App", &["A:role/App -policy-> K1"]),
        ("A:role/Ops", &["A:role/Ops -policy-> K1"]),
        ("A:role/Shared", &["A:role/Shared -policy-> K1"]),
        (
            "A:root",
            &[
                "A:root -policy-> K1",
                "A:root -assume-role-> A:role/Ops -policy-> K1",
            ],
        ),
        (
            "A:user/alice",
            &["A:user/alice -assume-role-> A:role/App -policy-> K1"],
        ),
        // bob may call sts:AssumeRole on anything: App's trust policy does
        // not name him, Ops's trusts the account and his policy allows it.
        (
            "A:user/bob",
            &["A:user/bob -assume-role-> A:role/Ops -policy-> K1"],
        ),
        ("B:role/Partner", &["B:role/Partner -policy-> K1"]),
        ("B:root", &["B:root -policy-> K1"]),
        // Across accounts: Shared trusts account C, and ivan's policy allows
        // the call (Ops trusts only its own account, so not there).
        (
            "C:root",
            &["C:root -assume-role-> A:role/Shared -policy-> K1"],
        ),
        (
            "C:user/ivan",
            &["C:user/ivan -assume-role-> A:role/Shared -policy-> K1"],
        ),
    ]);
    assert_eq!(got, want);
}

#[test]
fn blocked_paths_are_not_reported() {
    let got = who(&world(), K1, json!({}));
    // frank is trusted by Partner, but an SCP denies sts:AssumeRole in his account.
    assert!(!got.contains_key(&format!("{B}user/frank")), "{got:#?}");
    // gina's permissions boundary allows only s3:*: neither kms:Decrypt nor
    // sts:AssumeRole on Ops.
    assert!(!got.contains_key(&format!("{A}user/gina")), "{got:#?}");
    // judy's account is trusted by Shared, but no policy of hers allows sts:AssumeRole.
    assert!(!got.contains_key(&format!("{C}user/judy")), "{got:#?}");
    // carol's chain leads to K2, not K1.
    assert!(!got.contains_key(&format!("{A}user/carol")), "{got:#?}");
}

#[test]
fn who_can_decrypt_k2_through_a_chain_a_passed_role_and_a_grant() {
    let got = who(&world(), K2, json!({}));
    let want = expected(&[
        (
            "A:role/Hop1",
            &["A:role/Hop1 -assume-role-> A:role/Hop2 -policy-> K2"],
        ),
        ("A:role/Hop2", &["A:role/Hop2 -policy-> K2"]),
        ("A:role/LambdaRole", &["A:role/LambdaRole -policy-> K2"]),
        (
            "A:root",
            &[
                "A:root -policy-> K2",
                "A:root -pass-role-> A:role/LambdaRole -policy-> K2",
            ],
        ),
        (
            "A:user/carol",
            &["A:user/carol -assume-role-> A:role/Hop1 -assume-role-> A:role/Hop2 -policy-> K2"],
        ),
        (
            "A:user/dave",
            &["A:user/dave -pass-role-> A:role/LambdaRole -policy-> K2"],
        ),
        ("A:user/erin", &["A:user/erin -grant-> K2"]),
        (
            "lambda.amazonaws.com",
            &["lambda.amazonaws.com -assume-role-> A:role/LambdaRole -policy-> K2"],
        ),
    ]);
    assert_eq!(got, want);
}

#[test]
fn hops_carry_the_statements_and_the_conditions_still_required() {
    let report =
        who_can(&world(), K2, "kms:Decrypt", &Map::new(), Options::default()).expect("runs");
    let dave = report
        .results
        .iter()
        .find(|r| r.principal.ends_with("user/dave"))
        .expect("dave is listed");
    let pass = &dave.paths[0].hops[0];
    assert_eq!(pass.action, "iam:PassRole");
    assert_eq!(pass.service.as_deref(), Some("lambda.amazonaws.com"));
    assert!(
        pass.statements
            .iter()
            .any(|s| s.sid.as_deref() == Some("PassToLambda") && s.layer == "identity-based policy"),
        "{pass:#?}"
    );
    let erin = report
        .results
        .iter()
        .find(|r| r.principal.ends_with("user/erin"))
        .expect("erin is listed");
    let grant = &erin.paths[0].hops[0];
    assert_eq!(grant.grant.as_deref(), Some("grant-erin"));
    assert_eq!(
        erin.paths[0].conditions,
        vec![Required {
            key: "kms:EncryptionContext:project".into(),
            operator: "EncryptionContextSubset".into(),
            values: vec!["x".into()],
        }]
    );

    let report =
        who_can(&world(), K1, "kms:Decrypt", &Map::new(), Options::default()).expect("runs");
    let alice = report
        .results
        .iter()
        .find(|r| r.principal.ends_with("user/alice"))
        .expect("alice is listed");
    let path = &alice.paths[0];
    assert_eq!(
        path.hops[0].statements[0].sid.as_deref(),
        Some("TrustAlice"),
        "{path:#?}"
    );
    assert_eq!(path.hops[0].statements[0].layer, "role trust policy");
    assert_eq!(
        path.conditions,
        vec![Required {
            key: "kms:EncryptionContext:dept".into(),
            operator: "StringEquals".into(),
            values: vec!["it".into()],
        }]
    );
}

#[test]
fn a_given_context_is_never_varied() {
    // With the context fixed to another department, App's statement cannot
    // hold, so neither App nor alice (through App) can decrypt.
    let got = who(&world(), K1, json!({"kms:EncryptionContext:dept": "sales"}));
    assert!(!got.contains_key(&format!("{A}role/App")), "{got:#?}");
    assert!(!got.contains_key(&format!("{A}user/alice")), "{got:#?}");
    // With the right one, the path needs nothing more.
    let report = who_can(
        &world(),
        K1,
        "kms:Decrypt",
        &json!({"kms:EncryptionContext:dept": "it"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        Options::default(),
    )
    .expect("runs");
    let app = report
        .results
        .iter()
        .find(|r| r.principal.ends_with("role/App"))
        .expect("App is listed");
    assert!(app.paths[0].conditions.is_empty(), "{app:#?}");
}

#[test]
fn the_hop_limit_cuts_long_chains() {
    let Value::Object(ctx) = json!({}) else {
        unreachable!()
    };
    let report = who_can(&world(), K2, "kms:Decrypt", &ctx, Options { max_hops: 2 }).expect("runs");
    assert!(
        !report
            .results
            .iter()
            .any(|r| r.principal.ends_with("user/carol")),
        "carol needs three hops"
    );
    assert!(report
        .results
        .iter()
        .any(|r| r.principal.ends_with("role/Hop1")));
}

#[test]
fn can_reach_follows_chains_forwards() {
    let world = world();
    let report = can_reach(
        &world,
        &format!("{A}user/carol"),
        &[],
        &Map::new(),
        Options::default(),
    )
    .expect("runs");
    let got: Vec<(String, String, Vec<String>)> = report
        .results
        .iter()
        .map(|r| {
            (
                r.key.clone(),
                r.action.clone(),
                r.paths.iter().map(show).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![(
            K2.to_owned(),
            "kms:Decrypt".to_owned(),
            vec![
                "A:user/carol -assume-role-> A:role/Hop1 -assume-role-> A:role/Hop2 -policy-> K2"
                    .to_owned()
            ]
        )]
    );
    // frank reaches nothing: the SCP stops him at the first hop.
    let frank = can_reach(
        &world,
        &format!("{B}user/frank"),
        &[],
        &Map::new(),
        Options::default(),
    )
    .expect("runs");
    assert!(frank.results.is_empty(), "{:#?}", frank.results);
    // The account root reaches every action on both keys.
    let root = can_reach(
        &world,
        &format!("{A}root"),
        &[],
        &Map::new(),
        Options::default(),
    )
    .expect("runs");
    let actions = kmsgov_analysis::diff::KEY_ACTIONS.len();
    assert_eq!(root.results.len(), 2 * actions, "{:#?}", root.results.len());
}

#[test]
fn cyclic_trust_ends() {
    // Hop1 and Hop2 trust each other; the walk ends and no path repeats a node.
    let report =
        who_can(&world(), K2, "kms:Decrypt", &Map::new(), Options::default()).expect("runs");
    for r in &report.results {
        for p in &r.paths {
            let mut seen = std::collections::BTreeSet::new();
            for h in &p.hops {
                assert!(seen.insert(h.from.clone()), "a cycle in {}", show(p));
            }
        }
    }
}

#[test]
fn reports_have_the_documented_json_shape() {
    let report =
        who_can(&world(), K2, "kms:Decrypt", &Map::new(), Options::default()).expect("runs");
    let v = serde_json::to_value(&report).expect("serializes");
    assert_eq!(v["kind"], "who-can");
    assert_eq!(v["query"]["key"], K2);
    let hop = &v["results"][0]["paths"][0]["hops"][0];
    for field in ["kind", "from", "to", "action", "statements"] {
        assert!(hop.get(field).is_some(), "{field} missing in {hop}");
    }
}

#[test]
fn bad_questions_are_errors() {
    let w = world();
    assert!(who_can(
        &w,
        "arn:aws:kms:us-east-1:111122223333:key/nope",
        "kms:Decrypt",
        &Map::new(),
        Options::default()
    )
    .is_err());
    assert!(who_can(&w, K1, "Decrypt", &Map::new(), Options::default()).is_err());
    let bad = json!({"aws:SourceIp": {"not": "a string"}});
    assert!(who_can(
        &w,
        K1,
        "kms:Decrypt",
        bad.as_object().expect("object"),
        Options::default()
    )
    .is_err());
    assert!(can_reach(&w, "not an arn", &[], &Map::new(), Options::default()).is_err());
}

#[test]
fn keys_can_be_named_by_alias_or_id() {
    let w = world();
    let by_alias = who_can(
        &w,
        "alias/k1",
        "kms:Decrypt",
        &Map::new(),
        Options::default(),
    )
    .expect("runs");
    let by_id = who_can(
        &w,
        "11111111-1111-1111-1111-111111111111",
        "kms:Decrypt",
        &Map::new(),
        Options::default(),
    )
    .expect("runs");
    assert_eq!(by_alias.query.key, K1);
    assert_eq!(by_alias.results, by_id.results);
}
