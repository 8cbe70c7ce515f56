//! `data/bench/key-policy-workload.json` turned into a world: its key, its
//! principals with their identity policies and tags, and its 1,000 requests.

use kmsgov_authz::{decide_action, ActionCall, Decision, Environment, Outcome, Scenario, Trace};
use kmsgov_policy::Caller;
use serde_json::{json, Value};

pub struct Request {
    pub caller: Caller,
    pub action: String,
    pub key: String,
    pub env: Environment<'static>,
    pub expected: String,
    /// The request as JSON text, for the parse-and-decide benchmark.
    pub text: String,
}

pub struct Workload {
    pub scenario: Scenario,
    pub requests: Vec<Request>,
}

pub fn load() -> Workload {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/bench/key-policy-workload.json"
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read workload")).expect("json");
    let key_arn = doc["keyArn"].as_str().expect("keyArn").to_owned();
    let principals: Vec<Value> = doc["principals"]
        .as_array()
        .expect("principals")
        .iter()
        .filter(|p| !p["arn"].as_str().unwrap_or("").ends_with(":root"))
        .map(|p| json!({"arn": p["arn"], "policies": p["identityPolicies"], "tags": p["tags"]}))
        .collect();
    let mut accounts = serde_json::Map::new();
    for p in doc["principals"].as_array().expect("principals") {
        accounts.insert(
            p["account"].as_str().expect("account").to_owned(),
            json!({}),
        );
    }
    let world = json!({
        "name": "key-policy workload",
        "accounts": accounts,
        "principals": principals,
        "keys": [{"arn": key_arn, "policy": doc["policy"]}],
        "tests": [],
    });
    let scenario = Scenario::from_value(&world).expect("workload world");
    let requests = doc["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| {
            let mut env = Environment::new();
            for (k, v) in r["context"].as_object().expect("context") {
                env.insert(k.clone(), v.as_str().expect("string").to_owned());
            }
            Request {
                caller: Caller::parse(r["principal"].as_str().expect("principal")).expect("caller"),
                action: r["action"].as_str().expect("action").to_owned(),
                key: r["resource"].as_str().expect("resource").to_owned(),
                env,
                expected: r["expected"].as_str().expect("expected").to_owned(),
                text: r.to_string(),
            }
        })
        .collect();
    Workload { scenario, requests }
}

impl Workload {
    pub fn decide(&self, r: &Request, trace: Trace) -> Decision {
        let call = ActionCall {
            caller: &r.caller,
            action: &r.action,
            key: &r.key,
            env: &r.env,
        };
        decide_action(&self.scenario.world, &call, trace)
    }

    /// Parses a request from JSON text and decides it.
    pub fn decide_text(&self, text: &str) -> Option<Decision> {
        kmsgov_authz::decide_action_json(&self.scenario.world, text, Trace::Off).ok()
    }
}

/// `Allow`, `ExplicitDeny` or `ImplicitDeny`, as the workload names outcomes.
pub fn classify(d: &Decision) -> &'static str {
    match d.outcome {
        Outcome::Allow => "Allow",
        Outcome::Deny if d.message.contains("with an explicit deny") => "ExplicitDeny",
        Outcome::Deny => "ImplicitDeny",
        Outcome::Error(_) => "Error",
    }
}
