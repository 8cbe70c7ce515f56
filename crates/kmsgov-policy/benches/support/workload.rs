//! Loads `data/bench/key-policy-workload.json` and checks decisions against it.

use std::collections::HashMap;

use kmsgov_policy::{
    Caller, Effect, MapContext, Outcome, ParseOptions, Policy, PolicyKind, PrincipalMatch, Request,
};
use serde_json::Value;

pub struct Case {
    pub caller: Caller,
    pub action: String,
    pub resource: String,
    pub context: MapContext,
    pub expected: String,
    pub matched_sids: Vec<String>,
}

pub struct Workload {
    pub policy: Policy,
    pub cases: Vec<Case>,
    /// Principals whose account's identity policies allow `kms:*`.
    delegated: HashMap<String, bool>,
}

pub fn load() -> Workload {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/bench/key-policy-workload.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("read workload"))
        .expect("parse workload");
    let policy = Policy::from_json(&doc["policy"], &ParseOptions::new(PolicyKind::Resource))
        .expect("key policy");
    let delegated = doc["principals"]
        .as_array()
        .expect("principals")
        .iter()
        .map(|p| {
            let has_iam = !p["identityPolicies"]
                .as_array()
                .expect("identityPolicies")
                .is_empty();
            (p["arn"].as_str().expect("arn").to_owned(), has_iam)
        })
        .collect();
    let cases = doc["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| {
            let mut context = MapContext::new();
            for (k, v) in r["context"].as_object().expect("context") {
                context.insert(k, v.as_str().expect("string value"));
            }
            Case {
                caller: Caller::parse(r["principal"].as_str().expect("principal")).expect("caller"),
                action: r["action"].as_str().expect("action").to_owned(),
                resource: r["resource"].as_str().expect("resource").to_owned(),
                context,
                expected: r["expected"].as_str().expect("expected").to_owned(),
                matched_sids: r["matchedSids"]
                    .as_array()
                    .expect("matchedSids")
                    .iter()
                    .map(|s| s.as_str().expect("sid").to_owned())
                    .collect(),
            }
        })
        .collect();
    Workload {
        policy,
        cases,
        delegated,
    }
}

impl Workload {
    /// Decides one case under the workload's model: the key policy alone, where
    /// an account principal counts only if the caller's identity policies allow.
    pub fn decide(&self, case: &Case) -> (Outcome, Vec<usize>) {
        let request = Request {
            caller: &case.caller,
            action: &case.action,
            resource: &case.resource,
            context: &case.context,
        };
        let verdict = self.policy.decide(&request);
        let delegated = self
            .delegated
            .get(case.caller.arn())
            .copied()
            .unwrap_or(false);
        let counted =
            |m: &&kmsgov_policy::Matched| m.principal != Some(PrincipalMatch::Account) || delegated;
        let denies: Vec<usize> = verdict
            .matched
            .iter()
            .filter(|m| m.effect == Effect::Deny)
            .map(|m| m.index)
            .collect();
        if !denies.is_empty() {
            return (Outcome::ExplicitDeny, denies);
        }
        let allows: Vec<usize> = verdict
            .matched
            .iter()
            .filter(|m| m.effect == Effect::Allow)
            .filter(counted)
            .map(|m| m.index)
            .collect();
        if allows.is_empty() {
            (Outcome::NotApplicable, allows)
        } else {
            (Outcome::Allow, allows)
        }
    }

    /// Checks every case; returns the disagreements.
    pub fn check(&self) -> Vec<String> {
        let mut bad = Vec::new();
        for (i, case) in self.cases.iter().enumerate() {
            let (outcome, matched) = self.decide(case);
            let got = match outcome {
                Outcome::Allow => "Allow",
                Outcome::ExplicitDeny => "ExplicitDeny",
                Outcome::NotApplicable => "ImplicitDeny",
            };
            let sids: Vec<String> = matched
                .iter()
                .map(|&i| self.policy.statements()[i].label(i))
                .collect();
            if got != case.expected || sids != case.matched_sids {
                bad.push(format!(
                    "request {i}: got {got} {sids:?}, expected {} {:?}",
                    case.expected, case.matched_sids
                ));
            }
        }
        bad
    }
}
