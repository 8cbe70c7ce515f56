//! Who can use a key, and what a principal can reach: directly, through
//! grants, by assuming roles (and chains of roles), and by passing a role to
//! a service.
//!
//! The analysis builds a graph whose nodes are the identities of the world
//! (users, roles, role sessions, account roots, service principals) and asks
//! the engine about every edge:
//!
//! - *use*: may this identity perform the action on the key? ([`decide_action`]:
//!   every policy layer and the grants);
//! - *assume-role*: may this identity call `sts:AssumeRole` on that role?
//!   ([`decide_role_action`]: the role's trust policy and the caller's
//!   identity-based policies, boundary, session policy, SCPs and RCPs);
//! - *pass-role*: may this identity call `iam:PassRole` on that role with
//!   `iam:PassedToService` set to a service the role trusts, and may that
//!   service assume the role?
//!
//! A role is used through a session of it (`arn:aws:sts::A:assumed-role/R/…`),
//! so a chain continues with the role's own permissions. The search is a
//! breadth-first walk from the key backwards (who-can) or from the principal
//! forwards (can-reach); every node is expanded once, so cyclic trust ends.
//!
//! Conditions that depend on the request rather than the world (an
//! encryption context value, `kms:ViaService`, `aws:SourceIp`, …) are
//! handled by finding a witness: when a statement would allow but for such a
//! condition, the analysis states a value that satisfies it (taken from the
//! policy) and asks the engine again. If the engine then allows, the path is
//! reported with those conditions as still required. Values the caller gave
//! with `--context` are never changed. `aws:CurrentTime` and
//! `aws:EpochTime` are not synthesized: pass them to ask about a given time.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use kmsgov_authz::{
    decide_action, decide_role_action, environment, ActionCall, Decision, Environment, Outcome,
    RoleActionCall, Trace, World,
};
use kmsgov_policy::{Caller, Request};
use serde::Serialize;
use serde_json::{Map, Value};

/// The session name the analysis uses for role sessions it creates.
pub const SESSION_NAME: &str = "kmsgov-analysis";

/// How many hops a path may have at most (assumptions and passes, plus the
/// final use of the key).
pub const DEFAULT_MAX_HOPS: usize = 8;

/// How many times one question is asked again with more witness values.
const WITNESS_ROUNDS: usize = 6;

/// What can go wrong before the analysis starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachError(pub String);

impl std::fmt::Display for ReachError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReachError {}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// `assume-role`, `pass-role`, `grant` or `policy` (the last hop: the
    /// action on the key, allowed by policies or by a grant).
    pub kind: &'static str,
    /// Who acts.
    pub from: String,
    /// The role reached, or for the last hop the key.
    pub to: String,
    /// The action the engine allowed: `sts:AssumeRole`, `iam:PassRole`, or
    /// the KMS action.
    pub action: String,
    /// For `pass-role`: the service the role is passed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// For `grant`: the grant id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// The statements that allowed it, from the engine's decision path.
    pub statements: Vec<StatementRef>,
}

/// A statement that allowed a hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementRef {
    /// The decision-path layer (`key policy`, `identity-based policy`,
    /// `role trust policy`, …).
    pub layer: String,
    /// The policy's name in the decision path.
    pub policy: String,
    /// Index of the statement in its policy.
    pub index: usize,
    /// Its `Sid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// A condition a path still needs from the request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Required {
    /// The condition key, e.g. `kms:EncryptionContext:dept`.
    pub key: String,
    /// The operator as written (or `EncryptionContextSubset` /
    /// `EncryptionContextEquals` for grant constraints).
    pub operator: String,
    /// The values of the policy (or grant constraint).
    pub values: Vec<String>,
}

/// A way from a principal to the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Path {
    /// The hops, in order; the last one uses the key.
    pub hops: Vec<Hop>,
    /// What the request must still carry for the path to work (empty: it
    /// works for the context given).
    pub conditions: Vec<Required>,
}

/// A principal that can perform the action, with its paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reacher {
    /// The principal's ARN (a role stands for its sessions).
    pub principal: String,
    /// The ways it gets there, shortest first.
    pub paths: Vec<Path>,
}

/// The question of a who-can report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhoCanQuery {
    /// The key ARN.
    pub key: String,
    /// The action, e.g. `kms:Decrypt`.
    pub action: String,
    /// The request context given.
    pub context: Map<String, Value>,
}

/// Everyone who can perform an action on a key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhoCan {
    /// Always `who-can`.
    pub kind: &'static str,
    /// The question.
    pub query: WhoCanQuery,
    /// The principals, sorted by ARN.
    pub results: Vec<Reacher>,
}

/// The question of a can-reach report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanReachQuery {
    /// The principal's ARN.
    pub principal: String,
    /// The request context given.
    pub context: Map<String, Value>,
}

/// One key and action a principal can reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reached {
    /// The key ARN.
    pub key: String,
    /// The action.
    pub action: String,
    /// The ways there, shortest first.
    pub paths: Vec<Path>,
}

/// Every key and action a principal can reach.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanReach {
    /// Always `can-reach`.
    pub kind: &'static str,
    /// The question.
    pub query: CanReachQuery,
    /// What it reaches, sorted by key then action.
    pub results: Vec<Reached>,
}

/// Limits of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// At most this many hops per path.
    pub max_hops: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_hops: DEFAULT_MAX_HOPS,
        }
    }
}

/// An identity of the graph.
#[derive(Debug, Clone)]
struct Node {
    /// What reports show: the principal's ARN (a role's ARN for a role).
    arn: String,
    /// Who the engine sees acting: the ARN itself, or for a role a session
    /// of it.
    caller: Caller,
    /// For roles with a trust policy: the role can be assumed.
    assumable: bool,
    /// The account, for service principals none.
    account: Option<String>,
}

/// The hops from a principal to an identity, with their conditions.
type Chain = Vec<(Hop, Vec<Required>)>;

/// An edge into a role: its source gets the role's authority.
#[derive(Debug, Clone)]
struct Edge {
    to: usize,
    hop: Hop,
    conditions: Vec<Required>,
}

/// The identities of a world.
struct Graph<'w> {
    world: &'w World,
    nodes: Vec<Node>,
    by_arn: BTreeMap<String, usize>,
    base: Map<String, Value>,
    base_env: Environment<'static>,
    /// Per node: the services that may assume it (computed when first needed).
    services: Vec<std::cell::OnceCell<Vec<String>>>,
    /// Roles by the index keys their trust policies' Allow statements name.
    roles_by_name: BTreeMap<String, Vec<usize>>,
    /// Roles whose trust policy can match anyone.
    open_roles: Vec<usize>,
    /// Roles whose trust policy names a service, by account (they can be
    /// passed by anyone in their account).
    service_roles: BTreeMap<String, Vec<usize>>,
    /// Nodes by their index keys.
    nodes_by_name: BTreeMap<String, Vec<usize>>,
}

/// The index keys a node answers to: its exact ARN, its role, its account,
/// or its service name.
fn names_of(node: &Node) -> Vec<String> {
    let mut names = Vec::new();
    let caller = &node.caller;
    match caller.kind() {
        kmsgov_policy::CallerKind::Service => names.push(format!("service:{}", caller.arn())),
        kmsgov_policy::CallerKind::Root => {}
        _ => names.push(format!("exact:{}", caller.arn())),
    }
    if let (Some(acct), Some(role)) = (caller.account(), caller.role_name()) {
        names.push(format!("role:{acct}:{role}"));
    }
    if let Some(acct) = caller.account() {
        names.push(format!("account:{acct}"));
    }
    names
}

fn name_key(name: &kmsgov_policy::PrincipalName<'_>) -> String {
    use kmsgov_policy::PrincipalName as N;
    match name {
        N::Account(a) => format!("account:{a}"),
        N::Role { account, name } => format!("role:{account}:{name}"),
        N::Exact(arn) => format!("exact:{arn}"),
        N::Service(s) => format!("service:{s}"),
    }
}

impl<'w> Graph<'w> {
    fn new(world: &'w World, context: &Map<String, Value>) -> Result<Self, ReachError> {
        let base_env = environment(Some(&Value::Object(context.clone())), "")
            .map_err(|e| ReachError(format!("--context: {e}")))?;
        let mut arns: BTreeSet<String> = world.principals.keys().cloned().collect();
        for account in world.accounts.keys() {
            arns.insert(format!("arn:aws:iam::{account}:root"));
        }
        for p in world.principals.values() {
            if let Some(trust) = &p.trust_policy {
                for st in trust.policy.statements() {
                    for s in st.service_principals() {
                        arns.insert(s.to_owned());
                    }
                }
            }
        }
        let mut nodes = Vec::new();
        let mut by_arn = BTreeMap::new();
        for arn in arns {
            let Some(node) = node_for(world, &arn) else {
                continue;
            };
            by_arn.insert(arn, nodes.len());
            nodes.push(node);
        }
        let mut graph = Graph {
            world,
            services: Vec::new(),
            roles_by_name: BTreeMap::new(),
            open_roles: Vec::new(),
            service_roles: BTreeMap::new(),
            nodes_by_name: BTreeMap::new(),
            nodes,
            by_arn,
            base: context.clone(),
            base_env,
        };
        for i in 0..graph.nodes.len() {
            graph.index(i);
        }
        Ok(graph)
    }

    /// Adds node `i` to the indexes.
    fn index(&mut self, i: usize) {
        let Some(node) = self.nodes.get(i) else {
            return;
        };
        self.services.push(std::cell::OnceCell::new());
        for name in names_of(node) {
            self.nodes_by_name.entry(name).or_default().push(i);
        }
        if !node.assumable {
            return;
        }
        let Some(trust) = self
            .world
            .principals
            .get(&node.arn)
            .and_then(|p| p.trust_policy.as_ref())
        else {
            return;
        };
        let mut open = false;
        let mut names = BTreeSet::new();
        let mut service = false;
        for st in trust.policy.statements() {
            if st.effect() != kmsgov_policy::Effect::Allow {
                continue;
            }
            match st.principal_names() {
                None => open = true,
                Some(list) => {
                    for n in &list {
                        service |= matches!(n, kmsgov_policy::PrincipalName::Service(_));
                        names.insert(name_key(n));
                    }
                }
            }
        }
        if open {
            self.open_roles.push(i);
        }
        for n in names {
            self.roles_by_name.entry(n).or_default().push(i);
        }
        if service {
            if let Some(acct) = &node.account {
                self.service_roles.entry(acct.clone()).or_default().push(i);
            }
        }
    }

    /// The roles `from` may get the authority of, by the indexes (each is
    /// then asked of the engine).
    fn roles_for(&self, from: usize) -> Vec<usize> {
        let Some(node) = self.nodes.get(from) else {
            return Vec::new();
        };
        let mut out: BTreeSet<usize> = self.open_roles.iter().copied().collect();
        for name in names_of(node) {
            out.extend(self.roles_by_name.get(&name).into_iter().flatten());
        }
        if let Some(acct) = &node.account {
            out.extend(self.service_roles.get(acct).into_iter().flatten());
        }
        out.into_iter().collect()
    }

    /// The nodes that may get the authority of role `to`, by the indexes.
    fn callers_of(&self, to: usize) -> Vec<usize> {
        if self.open_roles.contains(&to) {
            return (0..self.nodes.len()).collect();
        }
        let mut out = BTreeSet::new();
        for (name, roles) in &self.roles_by_name {
            if roles.contains(&to) {
                out.extend(self.nodes_by_name.get(name).into_iter().flatten());
            }
        }
        let passable = self.nodes.get(to).and_then(|n| {
            let acct = n.account.as_ref()?;
            self.service_roles
                .get(acct)
                .filter(|r| r.contains(&to))
                .map(|_| acct)
        });
        if let Some(acct) = passable {
            out.extend(
                self.nodes_by_name
                    .get(&format!("account:{acct}"))
                    .into_iter()
                    .flatten(),
            );
        }
        out.into_iter().collect()
    }

    fn env(&self, extra: &[(String, Vec<String>, bool)]) -> Environment<'static> {
        let mut env = self.base_env.clone();
        for (k, values, many) in extra {
            if *many {
                env.insert_many(k.clone(), values.iter().cloned().map(Into::into).collect());
            } else if let Some(v) = values.first() {
                env.insert(k.clone(), v.clone());
            }
        }
        env
    }

    fn given(&self, key: &str) -> bool {
        self.base.keys().any(|k| k.eq_ignore_ascii_case(key))
    }

    /// Asks the engine, adding witness values until it allows or nothing
    /// more can be stated. Returns the allowing decision and the witness.
    fn prove(&self, caller: &Caller, ask: &Ask<'_>) -> Option<(Decision, Vec<Required>)> {
        let mut extra: Vec<(String, Vec<String>, bool)> = ask.fixed();
        // The cheap questions first: most identities are simply denied, and
        // for roles the trust policy alone rules most callers out.
        // `could_allow` over-approximates the engine (it looks at principals,
        // actions and resources only), so nothing it rules out can be allowed.
        if !self.could_allow(caller, ask) {
            return None;
        }
        let first = self.decide(caller, ask, &extra, Trace::Off);
        if first.outcome == Outcome::Allow {
            return Some((self.decide(caller, ask, &extra, Trace::Full), Vec::new()));
        }
        if first.outcome != Outcome::Deny {
            return None;
        }
        let mut required = Vec::new();
        for _ in 0..WITNESS_ROUNDS {
            let decision = self.decide(caller, ask, &extra, Trace::Full);
            match decision.outcome {
                Outcome::Allow => {
                    required.sort();
                    required.dedup();
                    return Some((decision, required));
                }
                Outcome::Deny => {}
                Outcome::Error(_) => return None,
            }
            let before = extra.len();
            self.witness_from_path(&decision, &mut extra, &mut required);
            if let Ask::Use { key, action } = ask {
                self.witness_from_grants(caller, key, action, &mut extra, &mut required);
            }
            if extra.len() == before {
                return None;
            }
        }
        None
    }

    fn decide(
        &self,
        caller: &Caller,
        ask: &Ask<'_>,
        extra: &[(String, Vec<String>, bool)],
        trace: Trace,
    ) -> Decision {
        let env = self.env(extra);
        match ask {
            Ask::Use { key, action } => decide_action(
                self.world,
                &ActionCall {
                    caller,
                    action,
                    key,
                    env: &env,
                },
                trace,
            ),
            Ask::Role { action, role, .. } => decide_role_action(
                self.world,
                &RoleActionCall {
                    caller,
                    action,
                    role,
                    env: &env,
                },
                trace,
            ),
        }
    }

    /// Whether any statement could allow the question in some context: a
    /// cheap filter before the witness search, from the policy language
    /// alone (principal, action and resource, conditions aside).
    fn could_allow(&self, caller: &Caller, ask: &Ask<'_>) -> bool {
        let ctx = kmsgov_policy::MapContext::new();
        let (action, resource): (&str, &str) = match ask {
            Ask::Use { key, action } => (action, key),
            Ask::Role { action, role, .. } => (action, role),
        };
        let request = Request {
            caller,
            action,
            resource,
            context: &ctx,
        };
        let resource_side = match ask {
            Ask::Use { key, .. } => {
                let Some(k) = self.world.key_by_arn(key) else {
                    return false;
                };
                let grant = self.world.grants.iter().any(|g| {
                    self.world.keys.get(g.key).is_some_and(|gk| gk.arn == *key)
                        && grantee_may_be(&g.grantee, caller)
                });
                if grant {
                    return true;
                }
                if !k.policy.policy.may_allow(&request) {
                    return false;
                }
                // A key policy that names only the caller's account needs an
                // identity-based policy as well.
                self.identity_may_allow(caller, &request)
                    || k.policy
                        .policy
                        .evaluate(&request)
                        .statements
                        .iter()
                        .any(|s| {
                            s.effect == kmsgov_policy::Effect::Allow
                                && s.action
                                && s.resource
                                && match s.principal {
                                    kmsgov_policy::PrincipalCheck::Matched(m) => {
                                        m != kmsgov_policy::PrincipalMatch::Account
                                    }
                                    kmsgov_policy::PrincipalCheck::NotPrincipalApplies => true,
                                    _ => false,
                                }
                        })
            }
            Ask::Role { action, role, .. } => {
                if !action.eq_ignore_ascii_case("sts:AssumeRole") {
                    self.identity_may_allow(caller, &request)
                } else {
                    self.world
                        .principals
                        .get(*role)
                        .and_then(|p| p.trust_policy.as_ref())
                        .is_some_and(|t| t.policy.may_allow(&request))
                }
            }
        };
        resource_side
    }

    /// Whether an identity-based policy of the caller could allow the
    /// request (conditions aside). The account root has every identity-side
    /// permission.
    fn identity_may_allow(&self, caller: &Caller, request: &Request<'_>) -> bool {
        let arn = match caller.kind() {
            kmsgov_policy::CallerKind::Root => return true,
            kmsgov_policy::CallerKind::AssumedRole => {
                match (caller.account(), caller.role_name()) {
                    (Some(acct), Some(name)) => self.world.role_arn(acct, name),
                    _ => None,
                }
            }
            _ => Some(caller.arn()),
        };
        let entry = arn.and_then(|a| self.world.principals.get(a));
        let session = self.world.principals.get(caller.arn());
        entry
            .into_iter()
            .chain(session)
            .flat_map(|p| &p.policies)
            .any(|p| p.policy.may_allow(request))
    }

    /// Witness values for the failed conditions of Allow statements.
    fn witness_from_path(
        &self,
        decision: &Decision,
        extra: &mut Vec<(String, Vec<String>, bool)>,
        required: &mut Vec<Required>,
    ) {
        for entry in &decision.path {
            for st in entry.statements.iter().filter(|s| s.effect == "Allow") {
                for c in st.conditions.iter().filter(|c| !c.result) {
                    if !synthesizable(&c.key)
                        || self.given(&c.key)
                        || extra.iter().any(|(k, _, _)| k.eq_ignore_ascii_case(&c.key))
                    {
                        continue;
                    }
                    let Some((values, many)) = witness(&c.operator, &c.policy_values) else {
                        continue;
                    };
                    extra.push((c.key.clone(), values, many));
                    required.push(Required {
                        key: c.key.clone(),
                        operator: c.operator.clone(),
                        values: c.policy_values.clone(),
                    });
                }
            }
        }
    }

    /// Witness values for the encryption-context constraints of grants that
    /// name the caller and list the operation.
    fn witness_from_grants(
        &self,
        caller: &Caller,
        key: &str,
        action: &str,
        extra: &mut Vec<(String, Vec<String>, bool)>,
        required: &mut Vec<Required>,
    ) {
        let op = action.strip_prefix("kms:").unwrap_or(action);
        let Some(index) = self.world.key_index(key) else {
            return;
        };
        for g in self.world.grants.iter().filter(|g| {
            g.key == index
                && g.operations.iter().any(|o| o == op)
                && grantee_may_be(&g.grantee, caller)
        }) {
            let (label, pairs) = match (&g.constraints.equals, &g.constraints.subset) {
                (Some(eq), _) => ("EncryptionContextEquals", eq),
                (None, Some(sub)) => ("EncryptionContextSubset", sub),
                (None, None) => continue,
            };
            for (k, v) in pairs {
                let name = format!("kms:EncryptionContext:{k}");
                if self.given(&name) || extra.iter().any(|(e, _, _)| e.eq_ignore_ascii_case(&name))
                {
                    continue;
                }
                extra.push((name.clone(), vec![v.clone()], false));
                required.push(Required {
                    key: name,
                    operator: label.to_owned(),
                    values: vec![v.clone()],
                });
            }
        }
    }

    /// The way this identity uses the key directly, if any.
    fn use_path(&self, node: &Node, key: &str, action: &str) -> Option<Path> {
        let (decision, conditions) = self.prove(&node.caller, &Ask::Use { key, action })?;
        let grant = grant_of(&decision);
        Some(Path {
            hops: vec![Hop {
                kind: if grant.is_some() { "grant" } else { "policy" },
                from: node.arn.clone(),
                to: key.to_owned(),
                action: action.to_owned(),
                service: None,
                grant,
                statements: statements_of(&decision),
            }],
            conditions,
        })
    }

    /// Every way `from` gets the authority of role `to`.
    fn edges_into(&self, from: usize, to: usize) -> Vec<Edge> {
        let (Some(src), Some(role)) = (self.nodes.get(from), self.nodes.get(to)) else {
            return Vec::new();
        };
        if from == to || !role.assumable {
            return Vec::new();
        }
        let mut edges = Vec::new();
        let assume = Ask::Role {
            action: "sts:AssumeRole",
            role: &role.arn,
            service: None,
        };
        if let Some((decision, conditions)) = self.prove(&src.caller, &assume) {
            edges.push(Edge {
                to,
                hop: Hop {
                    kind: "assume-role",
                    from: src.arn.clone(),
                    to: role.arn.clone(),
                    action: "sts:AssumeRole".into(),
                    service: None,
                    grant: None,
                    statements: statements_of(&decision),
                },
                conditions,
            });
        }
        // Passing the role to a service the role trusts.
        if src.account.is_some() && src.account == role.account {
            let services = match self.services.get(to) {
                Some(cell) => cell.get_or_init(|| self.trusted_services(to)).as_slice(),
                None => &[],
            };
            for service in services {
                let pass = Ask::Role {
                    action: "iam:PassRole",
                    role: &role.arn,
                    service: Some(service),
                };
                if let Some((decision, conditions)) = self.prove(&src.caller, &pass) {
                    edges.push(Edge {
                        to,
                        hop: Hop {
                            kind: "pass-role",
                            from: src.arn.clone(),
                            to: role.arn.clone(),
                            action: "iam:PassRole".into(),
                            service: Some(service.clone()),
                            grant: None,
                            statements: statements_of(&decision),
                        },
                        conditions,
                    });
                }
            }
        }
        edges
    }

    /// The service principals that may assume role `to`, by the engine.
    fn trusted_services(&self, to: usize) -> Vec<String> {
        let Some(role) = self.nodes.get(to) else {
            return Vec::new();
        };
        let Some(trust) = self
            .world
            .principals
            .get(&role.arn)
            .and_then(|p| p.trust_policy.as_ref())
        else {
            return Vec::new();
        };
        let mut services: BTreeSet<String> = BTreeSet::new();
        for st in trust.policy.statements() {
            for s in st.service_principals() {
                services.insert(s.to_owned());
            }
        }
        services
            .into_iter()
            .filter(|s| {
                let Ok(caller) = Caller::parse(s) else {
                    return false;
                };
                self.prove(
                    &caller,
                    &Ask::Role {
                        action: "sts:AssumeRole",
                        role: &role.arn,
                        service: None,
                    },
                )
                .is_some()
            })
            .collect()
    }
}

/// One question to the engine.
#[derive(Debug, Clone, Copy)]
enum Ask<'a> {
    Use {
        key: &'a str,
        action: &'a str,
    },
    Role {
        action: &'a str,
        role: &'a str,
        service: Option<&'a str>,
    },
}

impl Ask<'_> {
    /// Context values the question itself states.
    fn fixed(&self) -> Vec<(String, Vec<String>, bool)> {
        match self {
            Ask::Role {
                service: Some(s), ..
            } => vec![(
                "iam:PassedToService".to_owned(),
                vec![(*s).to_owned()],
                false,
            )],
            _ => Vec::new(),
        }
    }
}

fn node_for(world: &World, arn: &str) -> Option<Node> {
    let parsed = Caller::parse(arn).ok()?;
    let account = parsed.account().map(str::to_owned);
    let trust = world
        .principals
        .get(arn)
        .and_then(|p| p.trust_policy.as_ref());
    let is_role = arn.starts_with("arn:")
        && arn
            .split(':')
            .nth(5)
            .is_some_and(|r| r.starts_with("role/"));
    if is_role {
        let name = arn.rsplit('/').next()?;
        let acct = account.clone()?;
        let session = format!("arn:aws:sts::{acct}:assumed-role/{name}/{SESSION_NAME}");
        return Some(Node {
            arn: arn.to_owned(),
            caller: Caller::parse(&session).ok()?,
            assumable: trust.is_some(),
            account,
        });
    }
    Some(Node {
        arn: arn.to_owned(),
        caller: parsed,
        assumable: false,
        account,
    })
}

/// Whether a grantee ARN may name this caller (exactly, through its role,
/// or its account).
fn grantee_may_be(grantee: &str, caller: &Caller) -> bool {
    if grantee == caller.arn() {
        return true;
    }
    if let (Some(acct), Some(name)) = (caller.account(), caller.role_name()) {
        if grantee.starts_with(&format!("arn:aws:iam::{acct}:role/"))
            && grantee.rsplit('/').next() == Some(name)
        {
            return true;
        }
    }
    caller
        .account()
        .is_some_and(|a| grantee == a || grantee == format!("arn:aws:iam::{a}:root"))
}

/// Keys whose values come from the world, not from the request: no witness
/// is stated for them.
fn synthesizable(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    const WORLD: &[&str] = &[
        "aws:principal",
        "aws:resource",
        "aws:userid",
        "aws:username",
        "aws:currenttime",
        "aws:epochtime",
        "aws:requestedregion",
        "kms:calleraccount",
        "kms:keyspec",
        "kms:keyusage",
        "kms:keyorigin",
        "kms:keyagreement",
        "kms:multiregion",
        "kms:resourcealiases",
        "kms:keymanager",
    ];
    !WORLD.iter().any(|p| k.starts_with(p))
}

/// A value satisfying a condition, from its policy values; whether the key
/// is set-valued. `None` for operators no stated value can satisfy (negated
/// ones are satisfied by leaving the key out).
fn witness(operator: &str, values: &[String]) -> Option<(Vec<String>, bool)> {
    let many = operator.starts_with("ForAnyValue:") || operator.starts_with("ForAllValues:");
    let base = operator
        .strip_prefix("ForAnyValue:")
        .or_else(|| operator.strip_prefix("ForAllValues:"))
        .unwrap_or(operator);
    let base = base.strip_suffix("IfExists").unwrap_or(base);
    let first = values.first()?;
    let value = match base {
        "StringEquals"
        | "StringEqualsIgnoreCase"
        | "ArnEquals"
        | "Bool"
        | "NumericEquals"
        | "DateEquals"
        | "BinaryEquals" => first.clone(),
        "StringLike" | "ArnLike" => first.replace(['*', '?'], "x"),
        "NumericLessThan" | "NumericGreaterThan" => {
            let n: i64 = first.parse().ok()?;
            let n = if base == "NumericLessThan" {
                n.checked_sub(1)?
            } else {
                n.checked_add(1)?
            };
            n.to_string()
        }
        "NumericLessThanEquals" | "NumericGreaterThanEquals" => first.clone(),
        "IpAddress" => first.split('/').next()?.to_owned(),
        "Null" if first == "false" => "x".to_owned(),
        _ => return None,
    };
    Some((vec![value], many))
}

/// The grant id that allowed a decision, from its `grants` layer.
fn grant_of(decision: &Decision) -> Option<String> {
    let entry = decision
        .path
        .iter()
        .find(|e| e.layer == "grants" && e.verdict == "Allow")?;
    entry
        .note
        .split("; ")
        .find_map(|n| n.strip_prefix("grant ")?.strip_suffix(" applies"))
        .map(str::to_owned)
}

/// The matched Allow statements of the layers that allowed.
fn statements_of(decision: &Decision) -> Vec<StatementRef> {
    decision
        .path
        .iter()
        .filter(|e| e.verdict == "Allow")
        .flat_map(|e| {
            e.statements
                .iter()
                .filter(|s| s.matched && s.effect == "Allow")
                .map(|s| StatementRef {
                    layer: e.layer.to_string(),
                    policy: e.policy.clone(),
                    index: s.index,
                    sid: s.sid.clone(),
                })
        })
        .collect()
}

fn join(hop: &Hop, conditions: &[Required], rest: &Path) -> Path {
    let mut hops = Vec::with_capacity(rest.hops.len() + 1);
    hops.push(hop.clone());
    hops.extend(rest.hops.iter().cloned());
    let mut all: Vec<Required> = conditions.iter().chain(&rest.conditions).cloned().collect();
    all.sort();
    all.dedup();
    Path {
        hops,
        conditions: all,
    }
}

fn has_cycle(path: &Path) -> bool {
    let mut seen = BTreeSet::new();
    path.hops.iter().any(|h| !seen.insert(h.from.as_str()))
}

/// Every principal that can perform `action` on `key`, and how.
pub fn who_can(
    world: &World,
    key: &str,
    action: &str,
    context: &Map<String, Value>,
    options: Options,
) -> Result<WhoCan, ReachError> {
    let key_arn = world
        .key_by_arn(key)
        .or_else(|| {
            world
                .keys
                .iter()
                .find(|k| k.id == key || k.aliases.iter().any(|a| a == key))
        })
        .map(|k| k.arn.clone())
        .ok_or_else(|| ReachError(format!("key `{key}` is not in the world")))?;
    if !action.contains(':') {
        return Err(ReachError(format!(
            "action `{action}` must name its service, e.g. kms:Decrypt"
        )));
    }
    let graph = Graph::new(world, context)?;
    // Best path per node: direct uses first, then backwards over edges.
    let mut best: Vec<Option<Path>> = vec![None; graph.nodes.len()];
    let mut direct: Vec<Option<Path>> = vec![None; graph.nodes.len()];
    let mut queue = VecDeque::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        if let Some(path) = graph.use_path(node, &key_arn, action) {
            if let Some(slot) = direct.get_mut(i) {
                *slot = Some(path.clone());
            }
            if let Some(slot) = best.get_mut(i) {
                *slot = Some(path);
            }
            if node.assumable {
                queue.push_back(i);
            }
        }
    }
    // Edges into reachable roles, found as the walk goes.
    let mut into: BTreeMap<usize, Vec<Edge>> = BTreeMap::new();
    while let Some(role) = queue.pop_front() {
        let Some(role_path) = best.get(role).cloned().flatten() else {
            continue;
        };
        if role_path.hops.len() >= options.max_hops {
            continue;
        }
        for from in graph.callers_of(role) {
            for edge in graph.edges_into(from, role) {
                let path = join(&edge.hop, &edge.conditions, &role_path);
                if best.get(from).is_some_and(Option::is_none) && !has_cycle(&path) {
                    if let Some(slot) = best.get_mut(from) {
                        *slot = Some(path);
                    }
                    if graph.nodes.get(from).is_some_and(|n| n.assumable) {
                        queue.push_back(from);
                    }
                }
                into.entry(from).or_default().push(edge);
            }
        }
    }
    let mut results = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        if best.get(i).is_some_and(Option::is_none) {
            continue;
        }
        let mut paths: Vec<Path> = direct.get(i).cloned().flatten().into_iter().collect();
        for edge in into.get(&i).into_iter().flatten() {
            if let Some(Some(rest)) = best.get(edge.to) {
                let path = join(&edge.hop, &edge.conditions, rest);
                if !has_cycle(&path)
                    && path.hops.len() <= options.max_hops
                    && !paths.contains(&path)
                {
                    paths.push(path);
                }
            }
        }
        paths.sort_by_key(|p| p.hops.len());
        if !paths.is_empty() {
            results.push(Reacher {
                principal: node.arn.clone(),
                paths,
            });
        }
    }
    Ok(WhoCan {
        kind: "who-can",
        query: WhoCanQuery {
            key: key_arn,
            action: action.to_owned(),
            context: context.clone(),
        },
        results,
    })
}

/// Every key and KMS action `principal` can reach, directly or through
/// roles, for the actions in `actions` (all key actions when empty).
pub fn can_reach(
    world: &World,
    principal: &str,
    actions: &[&str],
    context: &Map<String, Value>,
    options: Options,
) -> Result<CanReach, ReachError> {
    let mut graph = Graph::new(world, context)?;
    let start = match graph.by_arn.get(principal) {
        Some(&i) => i,
        None => {
            let node = node_for(world, principal)
                .ok_or_else(|| ReachError(format!("`{principal}` is not a principal ARN")))?;
            graph.nodes.push(node);
            let i = graph.nodes.len() - 1;
            graph.index(i);
            i
        }
    };
    let actions: Vec<&str> = if actions.is_empty() {
        crate::diff::KEY_ACTIONS.to_vec()
    } else {
        actions.to_vec()
    };
    // Forward walk: the identities whose authority the principal gets.
    let mut reach: Vec<Option<Chain>> = vec![None; graph.nodes.len()];
    if let Some(slot) = reach.get_mut(start) {
        *slot = Some(Vec::new());
    }
    let mut queue = VecDeque::from([start]);
    while let Some(from) = queue.pop_front() {
        let Some(chain) = reach.get(from).cloned().flatten() else {
            continue;
        };
        if chain.len() + 1 >= options.max_hops {
            continue;
        }
        for to in graph.roles_for(from) {
            if reach.get(to).is_some_and(Option::is_some) {
                continue;
            }
            if let Some(edge) = graph.edges_into(from, to).into_iter().next() {
                let mut next = chain.clone();
                next.push((edge.hop, edge.conditions));
                if let Some(slot) = reach.get_mut(to) {
                    *slot = Some(next);
                }
                queue.push_back(to);
            }
        }
    }
    let mut found: BTreeMap<(String, String), Vec<Path>> = BTreeMap::new();
    for (i, chain) in reach.iter().enumerate() {
        let (Some(chain), Some(node)) = (chain, graph.nodes.get(i)) else {
            continue;
        };
        for key in &world.keys {
            for action in &actions {
                let Some(last) = graph.use_path(node, &key.arn, action) else {
                    continue;
                };
                let mut path = last;
                for (hop, conditions) in chain.iter().rev() {
                    path = join(hop, conditions, &path);
                }
                found
                    .entry((key.arn.clone(), (*action).to_owned()))
                    .or_default()
                    .push(path);
            }
        }
    }
    let results = found
        .into_iter()
        .map(|((key, action), mut paths)| {
            paths.sort_by_key(|p| p.hops.len());
            Reached { key, action, paths }
        })
        .collect();
    Ok(CanReach {
        kind: "can-reach",
        query: CanReachQuery {
            principal: principal.to_owned(),
            context: context.clone(),
        },
        results,
    })
}

/// A who-can report for people.
pub fn render_who_can(report: &WhoCan) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "who can {} on {}",
        report.query.action, report.query.key
    );
    if report.results.is_empty() {
        out.push_str("nobody\n");
    } else {
        let rows: Vec<[String; 4]> = report
            .results
            .iter()
            .filter_map(|r| row(r.principal.clone(), &r.paths))
            .collect();
        table(
            &mut out,
            ["PRINCIPAL", "HOPS", "SHORTEST PATH", "REQUIRES"],
            &rows,
        );
        out.push_str("\npaths:\n");
    }
    for r in &report.results {
        let _ = writeln!(out, "{}", r.principal);
        for p in &r.paths {
            render_path(&mut out, p);
        }
    }
    let _ = writeln!(out, "{} principal(s)", report.results.len());
    out
}

/// A table row: what was reached, and its shortest path's length, hop
/// kinds and required condition keys.
fn row(first: String, paths: &[Path]) -> Option<[String; 4]> {
    let p = paths.first()?;
    Some([
        first,
        p.hops.len().to_string(),
        p.hops
            .iter()
            .map(|h| h.kind)
            .collect::<Vec<_>>()
            .join(" > "),
        p.conditions
            .iter()
            .map(|c| c.key.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    ])
}

/// Writes rows as aligned columns.
fn table(out: &mut String, head: [&str; 4], rows: &[[String; 4]]) {
    use std::fmt::Write as _;
    let mut width = head.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: [&str; 4]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(out, head);
    for [a, b, c, d] in rows {
        line(out, [a.as_str(), b.as_str(), c.as_str(), d.as_str()]);
    }
}

/// A can-reach report for people.
pub fn render_can_reach(report: &CanReach) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "what {} can reach", report.query.principal);
    if report.results.is_empty() {
        out.push_str("nothing\n");
    } else {
        let rows: Vec<[String; 4]> = report
            .results
            .iter()
            .filter_map(|r| row(format!("{} {}", r.action, r.key), &r.paths))
            .collect();
        table(
            &mut out,
            ["ACTION AND KEY", "HOPS", "SHORTEST PATH", "REQUIRES"],
            &rows,
        );
        out.push_str("\npaths:\n");
    }
    for r in &report.results {
        let _ = writeln!(out, "{} {}", r.action, r.key);
        for p in &r.paths {
            render_path(&mut out, p);
        }
    }
    let _ = writeln!(out, "{} key action(s)", report.results.len());
    out
}

fn render_path(out: &mut String, path: &Path) {
    use std::fmt::Write as _;
    let mut line = String::from("  ");
    for (i, h) in path.hops.iter().enumerate() {
        if i == 0 {
            line.push_str(&h.from);
        }
        let via = match (&h.service, &h.grant) {
            (Some(s), _) => format!("{} to {s}", h.action),
            (_, Some(g)) => format!("{} by grant {g}", h.action),
            _ => h.action.clone(),
        };
        let _ = write!(line, " -[{} {via}]-> {}", h.kind, h.to);
    }
    let _ = writeln!(out, "{line}");
    for h in &path.hops {
        for s in &h.statements {
            let label = s.sid.clone().unwrap_or_else(|| format!("#{}", s.index));
            let _ = writeln!(
                out,
                "      {}: {} {} ({})",
                h.action, s.layer, label, s.policy
            );
        }
    }
    for c in &path.conditions {
        let _ = writeln!(out, "    requires {} {} {:?}", c.operator, c.key, c.values);
    }
}
