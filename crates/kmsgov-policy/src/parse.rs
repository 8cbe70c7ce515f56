//! JSON → validated [`Policy`]: "parse, don't validate".
//!
//! The parser reads into an order- and duplicate-preserving JSON tree, checks
//! every element IAM checks, and collects every problem with its JSON pointer
//! instead of stopping at the first.

use crate::condition::{Condition, Operator, Scalar, SetOperator, Value};
use crate::error::{PolicyError, PolicyErrorKind as K, PolicyErrors};
use crate::glob;
use crate::json::{Json, Pointer};
use crate::policy::{
    ActionElement, ActionPattern, Effect, List, Policy, PrincipalElement, PrincipalEntry,
    PrincipalValue, ResourceElement, ResourcePattern, Statement, Version,
};
use crate::principal::{PrincipalId, PrincipalType};
use crate::template::Template;

/// Which kind of policy a document is; it decides which elements are required
/// or forbidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// An identity-based policy (user, group or role; inline or managed).
    Identity,
    /// A resource-based policy, such as a KMS key policy.
    Resource,
    /// A permissions boundary.
    Boundary,
    /// A session policy.
    Session,
    /// A service control policy.
    Scp,
    /// A resource control policy (`Principal` must be `"*"`).
    Rcp,
    /// A VPC endpoint policy.
    VpcEndpoint,
    /// A role trust policy.
    Trust,
}

impl PolicyKind {
    /// The policy type as AWS names it in messages.
    pub fn description(self) -> &'static str {
        match self {
            PolicyKind::Identity => "identity-based policy",
            PolicyKind::Resource => "resource-based policy",
            PolicyKind::Boundary => "permissions boundary",
            PolicyKind::Session => "session policy",
            PolicyKind::Scp => "service control policy",
            PolicyKind::Rcp => "resource control policy",
            PolicyKind::VpcEndpoint => "VPC endpoint policy",
            PolicyKind::Trust => "role trust policy",
        }
    }

    fn principal_rule(self) -> Rule {
        match self {
            PolicyKind::Resource
            | PolicyKind::Trust
            | PolicyKind::VpcEndpoint
            | PolicyKind::Rcp => Rule::Required,
            PolicyKind::Identity | PolicyKind::Boundary | PolicyKind::Session | PolicyKind::Scp => {
                Rule::Forbidden
            }
        }
    }

    fn resource_rule(self) -> Rule {
        match self {
            PolicyKind::Resource | PolicyKind::Trust => Rule::Optional,
            _ => Rule::Required,
        }
    }

    fn action_rule(self) -> Rule {
        match self {
            PolicyKind::Resource => Rule::Optional,
            _ => Rule::Required,
        }
    }

    fn iam_sid(self) -> bool {
        matches!(
            self,
            PolicyKind::Identity
                | PolicyKind::Boundary
                | PolicyKind::Session
                | PolicyKind::Scp
                | PolicyKind::Rcp
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Required,
    Optional,
    Forbidden,
}

/// How a policy's size is counted against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeCount {
    /// Bytes of the document as sent (KMS key policies).
    Bytes,
    /// Characters other than white space (IAM policies).
    NonWhitespaceChars,
}

/// Options for [`Policy::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    kind: PolicyKind,
    size_limit: Option<(usize, SizeCount)>,
    single_valued_prefixes: Vec<String>,
}

impl ParseOptions {
    /// Options for a policy of `kind`, with no size limit.
    pub fn new(kind: PolicyKind) -> Self {
        ParseOptions {
            kind,
            size_limit: None,
            single_valued_prefixes: Vec::new(),
        }
    }

    /// Rejects documents larger than `limit`, counted as `count` says.
    #[must_use]
    pub fn with_size_limit(mut self, limit: usize, count: SizeCount) -> Self {
        self.size_limit = Some((limit, count));
        self
    }

    /// Rejects `ForAllValues` in Allow statements on keys starting with any of
    /// these (case-insensitive) prefixes: single-valued keys, for which
    /// `ForAllValues` also matches requests without the key.
    #[must_use]
    pub fn with_single_valued_prefixes<I: IntoIterator<Item = S>, S: AsRef<str>>(
        mut self,
        prefixes: I,
    ) -> Self {
        self.single_valued_prefixes = prefixes
            .into_iter()
            .map(|p| p.as_ref().to_lowercase())
            .collect();
        self
    }

    /// The policy kind.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }
}

impl Policy {
    /// Parses and validates a policy document given as text.
    pub fn parse(text: &str, options: &ParseOptions) -> Result<Policy, PolicyErrors> {
        if let Some((limit, count)) = options.size_limit {
            let size = match count {
                SizeCount::Bytes => text.len(),
                SizeCount::NonWhitespaceChars => {
                    text.chars().filter(|c| !c.is_whitespace()).count()
                }
            };
            if size > limit {
                return Err(PolicyErrors(vec![PolicyError::new(
                    "",
                    K::TooLarge { size, limit },
                )]));
            }
        }
        let json: Json = serde_json::from_str(text)
            .map_err(|e| PolicyErrors(vec![PolicyError::new("", K::Syntax(e.to_string()))]))?;
        Self::from_tree(&json, options)
    }

    /// Parses and validates a policy document given as bytes (for fuzzing and
    /// callers that hold raw input); invalid UTF-8 is a syntax error.
    pub fn parse_bytes(bytes: &[u8], options: &ParseOptions) -> Result<Policy, PolicyErrors> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse(text, options),
            Err(e) => Err(PolicyErrors(vec![PolicyError::new(
                "",
                K::Syntax(e.to_string()),
            )])),
        }
    }

    /// Parses and validates a policy document already read as JSON (for
    /// policies embedded in other documents). Duplicate members cannot be
    /// detected here: the JSON reader has already dropped them.
    pub fn from_json(
        value: &serde_json::Value,
        options: &ParseOptions,
    ) -> Result<Policy, PolicyErrors> {
        Self::from_tree(&Json::from(value), options)
    }

    fn from_tree(json: &Json, options: &ParseOptions) -> Result<Policy, PolicyErrors> {
        let mut p = Parser {
            options,
            errors: Vec::new(),
            variables: false,
        };
        let policy = p.policy(json);
        match policy {
            Some(policy) if p.errors.is_empty() => Ok(policy),
            _ => {
                if p.errors.is_empty() {
                    p.errors
                        .push(PolicyError::new("", K::Syntax("invalid policy".into())));
                }
                Err(PolicyErrors(p.errors))
            }
        }
    }
}

struct Parser<'o> {
    options: &'o ParseOptions,
    errors: Vec<PolicyError>,
    variables: bool,
}

/// The members of an object, with duplicates and unknown names reported.
fn members<'j>(
    p: &mut Parser<'_>,
    json: &'j Json,
    at: &Pointer,
    known: &[&str],
) -> Option<Vec<(&'j str, &'j Json)>> {
    let Json::Object(members) = json else {
        p.error(
            at,
            K::WrongType {
                expected: "an object",
                found: json.type_name(),
            },
        );
        return None;
    };
    let mut out: Vec<(&str, &Json)> = Vec::with_capacity(members.len());
    for (name, value) in members {
        if !known.contains(&name.as_str()) {
            p.error(&at.key(name), K::UnknownElement(name.clone()));
        } else if out.iter().any(|(n, _)| n == name) {
            p.error(&at.key(name), K::DuplicateElement(name.clone()));
        } else {
            out.push((name, value));
        }
    }
    Some(out)
}

fn find<'j>(members: &[(&str, &'j Json)], name: &str) -> Option<&'j Json> {
    members.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

impl Parser<'_> {
    fn error(&mut self, at: &Pointer, kind: K) {
        self.errors.push(PolicyError::new(at.as_str(), kind));
    }

    fn string<'j>(&mut self, json: &'j Json, at: &Pointer) -> Option<&'j str> {
        match json {
            Json::String(s) => Some(s),
            other => {
                self.error(
                    at,
                    K::WrongType {
                        expected: "a string",
                        found: other.type_name(),
                    },
                );
                None
            }
        }
    }

    fn policy(&mut self, json: &Json) -> Option<Policy> {
        let root = Pointer::root();
        let m = members(self, json, &root, &["Version", "Id", "Statement"])?;
        let version = match find(&m, "Version") {
            None => None,
            Some(v) => {
                let at = root.key("Version");
                match self.string(v, &at)? {
                    "2012-10-17" => Some(Version::V2012_10_17),
                    "2008-10-17" => Some(Version::V2008_10_17),
                    other => {
                        self.error(&at, K::BadVersion(other.to_owned()));
                        None
                    }
                }
            }
        };
        self.variables = version == Some(Version::V2012_10_17);
        let id = match find(&m, "Id") {
            Some(v) => self.string(v, &root.key("Id")).map(str::to_owned),
            None => None,
        };
        let at = root.key("Statement");
        let (statement_is_array, statements) = match find(&m, "Statement") {
            None => {
                self.error(&root, K::MissingElement("Statement"));
                return None;
            }
            Some(Json::Array(items)) => {
                if items.is_empty() {
                    self.error(&at, K::Empty("Statement"));
                }
                let statements = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| self.statement(s, &at.index(i)))
                    .collect();
                (true, statements)
            }
            Some(one) => (false, self.statement(one, &at).into_iter().collect()),
        };
        Some(Policy {
            version,
            id,
            statement_is_array,
            statements,
        })
    }

    fn statement(&mut self, json: &Json, at: &Pointer) -> Option<Statement> {
        const KNOWN: &[&str] = &[
            "Sid",
            "Effect",
            "Principal",
            "NotPrincipal",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
        ];
        let m = members(self, json, at, KNOWN)?;
        let kind = self.options.kind;
        let errors_before = self.errors.len();

        let sid = match find(&m, "Sid") {
            Some(v) => {
                let s = self.string(v, &at.key("Sid"));
                if let Some(s) = s {
                    let ok = if kind.iam_sid() {
                        s.chars().all(|c| c.is_ascii_alphanumeric())
                    } else {
                        !s.chars().any(char::is_control)
                    };
                    if !ok {
                        self.error(&at.key("Sid"), K::BadSid(s.to_owned()));
                    }
                }
                s.map(str::to_owned)
            }
            None => None,
        };

        let effect = match find(&m, "Effect") {
            None => {
                self.error(at, K::MissingElement("Effect"));
                None
            }
            Some(v) => match self.string(v, &at.key("Effect")) {
                Some("Allow") => Some(Effect::Allow),
                Some("Deny") => Some(Effect::Deny),
                Some(other) => {
                    self.error(&at.key("Effect"), K::BadEffect(other.to_owned()));
                    None
                }
                None => None,
            },
        };

        let principal = self.either(
            &m,
            at,
            "Principal",
            "NotPrincipal",
            kind.principal_rule(),
            |p, v, a, neg| p.principal(v, a, neg),
        );
        if let (Some(pe), Some(Effect::Allow)) = (&principal, effect) {
            if pe.negated {
                self.error(&at.key("NotPrincipal"), K::NotPrincipalWithAllow);
            }
        }
        if kind == PolicyKind::Rcp {
            if let Some(pe) = &principal {
                if pe.negated || pe.value != PrincipalValue::Star && !is_aws_star(&pe.value) {
                    self.error(
                        &at.key("Principal"),
                        K::BadPrincipal("resource control policies require `*`".into()),
                    );
                }
            }
        }
        let action = self.either(
            &m,
            at,
            "Action",
            "NotAction",
            kind.action_rule(),
            |p, v, a, neg| p.action(v, a, neg),
        );
        let resource = self.either(
            &m,
            at,
            "Resource",
            "NotResource",
            kind.resource_rule(),
            |p, v, a, neg| p.resource(v, a, neg),
        );
        let conditions = match find(&m, "Condition") {
            Some(v) => self.conditions(v, &at.key("Condition"), effect),
            None => Vec::new(),
        };
        if self.errors.len() != errors_before {
            return None;
        }
        Some(Statement {
            sid,
            effect: effect?,
            principal,
            action,
            implicit_resource: kind == PolicyKind::Trust && resource.is_none(),
            resource,
            conditions,
        })
    }

    /// Parses `positive` or `negative` (exactly one of them, per `rule`).
    fn either<T>(
        &mut self,
        m: &[(&str, &Json)],
        at: &Pointer,
        positive: &'static str,
        negative: &'static str,
        rule: Rule,
        mut parse: impl FnMut(&mut Self, &Json, &Pointer, bool) -> Option<T>,
    ) -> Option<T> {
        let pos = find(m, positive);
        let neg = find(m, negative);
        match (pos, neg) {
            (Some(_), Some(_)) => {
                // Report at whichever of the two comes second in the document.
                let second = m
                    .iter()
                    .map(|(n, _)| *n)
                    .rfind(|n| *n == positive || *n == negative)
                    .unwrap_or(negative);
                self.error(&at.key(second), K::Conflict(positive, negative));
                None
            }
            (None, None) => {
                if rule == Rule::Required {
                    self.error(at, K::MissingElement(positive));
                }
                None
            }
            (Some(v), None) | (None, Some(v)) => {
                let negated = neg.is_some();
                let name = if negated { negative } else { positive };
                if rule == Rule::Forbidden {
                    self.error(
                        &at.key(name),
                        K::ElementNotAllowed {
                            element: name,
                            policy_type: self.options.kind.description(),
                        },
                    );
                    return None;
                }
                parse(self, v, &at.key(name), negated)
            }
        }
    }

    /// A string or a non-empty array of strings.
    fn string_list<'j>(
        &mut self,
        json: &'j Json,
        at: &Pointer,
        what: &'static str,
    ) -> Option<List<(&'j str, Pointer)>> {
        match json {
            Json::String(s) => Some(List {
                items: vec![(s.as_str(), at.clone())],
                single: true,
            }),
            Json::Array(items) => {
                if items.is_empty() {
                    self.error(at, K::Empty(what));
                    return None;
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let a = at.index(i);
                    if let Some(s) = self.string(item, &a) {
                        out.push((s, a));
                    }
                }
                Some(List {
                    items: out,
                    single: false,
                })
            }
            other => {
                self.error(
                    at,
                    K::WrongType {
                        expected: "a string or an array of strings",
                        found: other.type_name(),
                    },
                );
                None
            }
        }
    }

    fn principal(&mut self, json: &Json, at: &Pointer, negated: bool) -> Option<PrincipalElement> {
        let value = match json {
            Json::String(s) if s == "*" => PrincipalValue::Star,
            Json::String(s) => {
                self.error(at, K::BadPrincipal(s.clone()));
                return None;
            }
            Json::Object(members) => {
                if members.is_empty() {
                    self.error(
                        at,
                        K::Empty(if negated { "NotPrincipal" } else { "Principal" }),
                    );
                    return None;
                }
                let mut map = Vec::new();
                for (name, value) in members {
                    let a = at.key(name);
                    let Some(ty) = PrincipalType::parse(name) else {
                        self.error(&a, K::UnknownPrincipalType(name.clone()));
                        continue;
                    };
                    if map.iter().any(|(t, _)| *t == ty) {
                        self.error(&a, K::DuplicateElement(name.clone()));
                        continue;
                    }
                    let Some(list) = self.string_list(value, &a, "Principal") else {
                        continue;
                    };
                    let mut entries = Vec::with_capacity(list.items.len());
                    for (text, pa) in list.items {
                        match PrincipalId::parse(ty, text) {
                            Some(id) => entries.push(PrincipalEntry {
                                text: text.to_owned(),
                                id,
                            }),
                            None => self.error(&pa, K::BadPrincipal(text.to_owned())),
                        }
                    }
                    map.push((
                        ty,
                        List {
                            items: entries,
                            single: list.single,
                        },
                    ));
                }
                PrincipalValue::Map(map)
            }
            other => {
                self.error(
                    at,
                    K::WrongType {
                        expected: "`*` or an object",
                        found: other.type_name(),
                    },
                );
                return None;
            }
        };
        Some(PrincipalElement { negated, value })
    }

    fn action(&mut self, json: &Json, at: &Pointer, negated: bool) -> Option<ActionElement> {
        let list = self.string_list(json, at, "Action")?;
        let mut items = Vec::with_capacity(list.items.len());
        for (text, a) in list.items {
            let valid = text == "*"
                || text.split_once(':').is_some_and(|(service, name)| {
                    !service.is_empty()
                        && service
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !name.is_empty()
                        && !name.contains(':')
                        && !name.chars().any(char::is_whitespace)
                });
            if !valid {
                self.error(&a, K::BadAction(text.to_owned()));
                continue;
            }
            let mut atoms = Vec::new();
            glob::compile(&text.to_ascii_lowercase(), &mut atoms);
            items.push(ActionPattern {
                text: text.to_owned(),
                matcher: glob::Matcher::new(atoms),
            });
        }
        Some(ActionElement {
            negated,
            list: List {
                items,
                single: list.single,
            },
        })
    }

    fn resource(&mut self, json: &Json, at: &Pointer, negated: bool) -> Option<ResourceElement> {
        let list = self.string_list(json, at, "Resource")?;
        let mut items = Vec::with_capacity(list.items.len());
        for (text, a) in list.items {
            let any = text == "*";
            let parts = glob::arn_parts(text);
            let valid = any || parts.is_some_and(|p| p[0] == "arn");
            if !valid {
                self.error(&a, K::BadResource(text.to_owned()));
                continue;
            }
            // Variables are allowed only in the resource part (after the fifth colon).
            let vars_in_prefix = parts.is_some_and(|p| p.iter().take(5).any(|s| s.contains("${")));
            if self.variables && vars_in_prefix {
                self.error(&a, K::BadVariable(text.to_owned()));
                continue;
            }
            let template = match Template::parse(text, self.variables) {
                Ok(t) => t,
                Err(v) => {
                    self.error(&a, K::BadVariable(v));
                    continue;
                }
            };
            let atoms = template.static_pattern();
            items.push(ResourcePattern {
                text: text.to_owned(),
                any,
                template,
                atoms,
            });
        }
        Some(ResourceElement {
            negated,
            list: List {
                items,
                single: list.single,
            },
        })
    }

    fn conditions(&mut self, json: &Json, at: &Pointer, effect: Option<Effect>) -> Vec<Condition> {
        let Json::Object(blocks) = json else {
            self.error(
                at,
                K::WrongType {
                    expected: "an object",
                    found: json.type_name(),
                },
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut seen_ops: Vec<&str> = Vec::new();
        for (op_text, block) in blocks {
            let op_at = at.key(op_text);
            if seen_ops.contains(&op_text.as_str()) {
                self.error(&op_at, K::DuplicateElement(op_text.clone()));
                continue;
            }
            seen_ops.push(op_text);
            let Some(operator) = Operator::parse(op_text) else {
                self.error(&op_at, K::UnknownOperator(op_text.clone()));
                continue;
            };
            let Json::Object(keys) = block else {
                self.error(
                    &op_at,
                    K::WrongType {
                        expected: "an object",
                        found: block.type_name(),
                    },
                );
                continue;
            };
            if keys.is_empty() {
                self.error(&op_at, K::Empty("Condition"));
                continue;
            }
            let mut seen_keys: Vec<String> = Vec::new();
            for (key, values) in keys {
                let key_at = op_at.key(key);
                let key_lower = key.to_lowercase();
                if seen_keys.contains(&key_lower) {
                    self.error(&key_at, K::DuplicateElement(key.clone()));
                    continue;
                }
                seen_keys.push(key_lower.clone());
                let key_ok = key.len() <= 256
                    && key
                        .split_once(':')
                        .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
                    && !key.chars().any(|c| c.is_whitespace() || c.is_control());
                if !key_ok {
                    self.error(
                        &key_at,
                        K::BadConditionValue {
                            operator: op_text.clone(),
                            value: key.clone(),
                            why: "not a condition key",
                        },
                    );
                    continue;
                }
                if operator.set() == Some(SetOperator::ForAllValues)
                    && effect == Some(Effect::Allow)
                    && self
                        .options
                        .single_valued_prefixes
                        .iter()
                        .any(|p| key_lower.starts_with(p.as_str()))
                {
                    self.error(&key_at, K::OverlyPermissiveCondition { key: key.clone() });
                    continue;
                }
                let (raw_values, single) = match values {
                    Json::Array(items) => {
                        if items.is_empty() {
                            self.error(&key_at, K::Empty("Condition"));
                            continue;
                        }
                        (
                            items
                                .iter()
                                .enumerate()
                                .map(|(i, v)| (v, key_at.index(i)))
                                .collect::<Vec<_>>(),
                            false,
                        )
                    }
                    one => (vec![(one, key_at.clone())], true),
                };
                let mut compiled = Vec::with_capacity(raw_values.len());
                for (v, va) in raw_values {
                    let scalar = match v {
                        Json::String(s) => Scalar::String(s.clone()),
                        Json::Number(n) => Scalar::Number(n.clone()),
                        Json::Bool(b) => Scalar::Bool(*b),
                        other => {
                            self.error(
                                &va,
                                K::WrongType {
                                    expected: "a string, number or boolean",
                                    found: other.type_name(),
                                },
                            );
                            continue;
                        }
                    };
                    let text = scalar.text().into_owned();
                    match Value::compile(operator, scalar, self.variables) {
                        Ok(v) => compiled.push(v),
                        Err(why) => self.error(
                            &va,
                            K::BadConditionValue {
                                operator: op_text.clone(),
                                value: text,
                                why,
                            },
                        ),
                    }
                }
                out.push(Condition {
                    operator,
                    operator_text: op_text.clone(),
                    key: key.clone(),
                    key_lower,
                    values: compiled,
                    single_value: single,
                });
            }
        }
        out
    }
}

fn is_aws_star(value: &PrincipalValue) -> bool {
    match value {
        PrincipalValue::Star => true,
        PrincipalValue::Map(m) => m.iter().all(|(ty, list)| {
            *ty == PrincipalType::Aws && list.items.iter().all(|e| e.id == PrincipalId::Any)
        }),
    }
}
