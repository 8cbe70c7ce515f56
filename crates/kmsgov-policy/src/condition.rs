//! Condition operators, their values, and how a condition is evaluated.
//!
//! Semantics follow the IAM User Guide ("Condition operators", "Multivalued
//! context keys", "Policy variables"); where this module chooses between
//! readings, `docs/semantics.md` says so.

use std::borrow::Cow;
use std::net::IpAddr;

use base64::Engine as _;

use crate::context::{Context, ContextValue};
use crate::glob::{self, Atom};
use crate::template::{Template, Unresolved};

/// A condition operator: `[ForAllValues:|ForAnyValue:]Base[IfExists]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    set: Option<SetOperator>,
    base: BaseOperator,
    if_exists: bool,
}

/// The set-operator prefix for multi-valued keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOperator {
    /// `ForAllValues:`: every request value must satisfy the operator.
    ForAllValues,
    /// `ForAnyValue:`: at least one request value must satisfy it.
    ForAnyValue,
}

macro_rules! base_operators {
    ($($name:ident),* $(,)?) => {
        /// The operator without prefix or `IfExists` suffix.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs, reason = "the variants are the AWS operator names")]
        pub enum BaseOperator { $($name),* }

        impl BaseOperator {
            /// The operator's name as written in policies.
            pub fn as_str(self) -> &'static str {
                match self { $(BaseOperator::$name => stringify!($name)),* }
            }

            fn parse(s: &str) -> Option<Self> {
                match s { $(stringify!($name) => Some(BaseOperator::$name),)* _ => None }
            }
        }
    };
}

base_operators!(
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
);

impl BaseOperator {
    /// Negated operators hold when the value differs from every policy value.
    pub fn is_negated(self) -> bool {
        use BaseOperator as B;
        matches!(
            self,
            B::StringNotEquals
                | B::StringNotEqualsIgnoreCase
                | B::StringNotLike
                | B::NumericNotEquals
                | B::DateNotEquals
                | B::NotIpAddress
                | B::ArnNotEquals
                | B::ArnNotLike
        )
    }

    fn allows_variables(self) -> bool {
        use BaseOperator as B;
        matches!(
            self,
            B::StringEquals
                | B::StringNotEquals
                | B::StringEqualsIgnoreCase
                | B::StringNotEqualsIgnoreCase
                | B::StringLike
                | B::StringNotLike
                | B::ArnEquals
                | B::ArnLike
                | B::ArnNotEquals
                | B::ArnNotLike
        )
    }
}

impl Operator {
    /// Parses an operator name; `None` if IAM does not know it.
    pub fn parse(text: &str) -> Option<Operator> {
        let (set, rest) = if let Some(r) = text.strip_prefix("ForAllValues:") {
            (Some(SetOperator::ForAllValues), r)
        } else if let Some(r) = text.strip_prefix("ForAnyValue:") {
            (Some(SetOperator::ForAnyValue), r)
        } else {
            (None, text)
        };
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let base = BaseOperator::parse(rest)?;
        if base == BaseOperator::Null && (set.is_some() || if_exists) {
            return None;
        }
        Some(Operator {
            set,
            base,
            if_exists,
        })
    }

    /// The set operator, if any.
    pub fn set(&self) -> Option<SetOperator> {
        self.set
    }

    /// The base operator.
    pub fn base(&self) -> BaseOperator {
        self.base
    }

    /// Whether the `IfExists` suffix is present.
    pub fn if_exists(&self) -> bool {
        self.if_exists
    }

    /// The operator as written.
    pub fn name(&self) -> String {
        let prefix = match self.set {
            Some(SetOperator::ForAllValues) => "ForAllValues:",
            Some(SetOperator::ForAnyValue) => "ForAnyValue:",
            None => "",
        };
        let suffix = if self.if_exists { "IfExists" } else { "" };
        format!("{prefix}{}{suffix}", self.base.as_str())
    }
}

/// A condition value as written: JSON allows strings, numbers and booleans.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A JSON string.
    String(String),
    /// A JSON number.
    Number(serde_json::Number),
    /// A JSON boolean.
    Bool(bool),
}

impl Scalar {
    /// The value as text, the way IAM reads it.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Scalar::String(s) => Cow::Borrowed(s),
            Scalar::Number(n) => Cow::Owned(n.to_string()),
            Scalar::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }
}

/// One validated condition: operator, key and the policy's values.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub(crate) operator: Operator,
    pub(crate) operator_text: String,
    pub(crate) key: String,
    pub(crate) key_lower: String,
    pub(crate) values: Vec<Value>,
    pub(crate) single_value: bool,
}

/// One policy value, compiled for its operator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Value {
    pub(crate) raw: Scalar,
    compiled: Compiled,
}

#[derive(Debug, Clone, PartialEq)]
enum Compiled {
    Text(Template),
    /// The template, and for `StringLike` without variables a fast matcher.
    Pattern(Template, Option<Vec<Atom>>, Option<glob::Matcher>),
    Number(f64),
    Date(i64),
    Bool(bool),
    Binary(Vec<u8>),
    Ip(IpAddr, u8),
}

/// Why a value was rejected.
pub(crate) type ValueError = &'static str;

impl Value {
    /// Compiles `raw` for `op`; `variables` enables policy variables.
    pub(crate) fn compile(op: Operator, raw: Scalar, variables: bool) -> Result<Value, ValueError> {
        use BaseOperator as B;
        let text = raw.text();
        let vars = variables && op.base.allows_variables();
        let compiled = match op.base {
            B::StringEquals
            | B::StringNotEquals
            | B::StringEqualsIgnoreCase
            | B::StringNotEqualsIgnoreCase => {
                Compiled::Text(Template::parse(&text, vars).map_err(|_| "invalid policy variable")?)
            }
            B::StringLike
            | B::StringNotLike
            | B::ArnEquals
            | B::ArnLike
            | B::ArnNotEquals
            | B::ArnNotLike => {
                let t = Template::parse(&text, vars).map_err(|_| "invalid policy variable")?;
                let stat = t.static_pattern();
                let like = matches!(op.base, B::StringLike | B::StringNotLike);
                let fast = stat.clone().filter(|_| like).map(glob::Matcher::new);
                Compiled::Pattern(t, stat, fast)
            }
            B::NumericEquals
            | B::NumericNotEquals
            | B::NumericLessThan
            | B::NumericLessThanEquals
            | B::NumericGreaterThan
            | B::NumericGreaterThanEquals => {
                Compiled::Number(parse_number(&text).ok_or("not a number")?)
            }
            B::DateEquals
            | B::DateNotEquals
            | B::DateLessThan
            | B::DateLessThanEquals
            | B::DateGreaterThan
            | B::DateGreaterThanEquals => Compiled::Date(
                crate::date::parse_millis(&text).ok_or("not an ISO 8601 date or epoch time")?,
            ),
            B::Bool | B::Null => {
                Compiled::Bool(parse_bool(&text).ok_or("must be `true` or `false`")?)
            }
            B::BinaryEquals => {
                if !matches!(raw, Scalar::String(_)) {
                    return Err("must be a base64 string");
                }
                Compiled::Binary(
                    base64::engine::general_purpose::STANDARD
                        .decode(text.as_bytes())
                        .map_err(|_| "not valid base64")?,
                )
            }
            B::IpAddress | B::NotIpAddress => {
                let (ip, bits) = parse_cidr(&text).ok_or("not an ip address or cidr block")?;
                Compiled::Ip(ip, bits)
            }
        };
        Ok(Value { raw, compiled })
    }
}

fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    ok.then(|| s.parse::<f64>().ok().filter(|f| f.is_finite()))
        .flatten()
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(b) if !b.is_empty() && b.len() <= 3 && b.bytes().all(|c| c.is_ascii_digit()) => {
            b.parse().ok()?
        }
        Some(_) => return None,
        None => max,
    };
    (bits <= max).then_some((ip, bits))
}

fn ip_in(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// What a condition found, for the trace (borrowing from the policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionTrace<'p> {
    /// The operator as written.
    pub operator: &'p str,
    /// The condition key as written.
    pub key: &'p str,
    /// The policy's values, with variables resolved where possible.
    pub policy_values: Vec<String>,
    /// The request's values; `None` if the key is absent.
    pub request_values: Option<Vec<String>>,
    /// Whether the condition held.
    pub result: bool,
    /// Why, in a few words.
    pub reason: &'static str,
}

impl Condition {
    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The condition key as written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The policy values as written.
    pub fn values(&self) -> impl Iterator<Item = &Scalar> {
        self.values.iter().map(|v| &v.raw)
    }

    /// Evaluates the condition; with `trace`, records what it saw.
    pub(crate) fn evaluate<'p>(
        &'p self,
        ctx: &dyn Context,
        trace: Option<&mut Vec<ConditionTrace<'p>>>,
    ) -> bool {
        let found = ctx.get(&self.key_lower);
        let request: Option<&[Cow<'_, str>]> = match &found {
            Some(ContextValue::One(v)) => Some(std::slice::from_ref(v)),
            Some(ContextValue::Many(v)) if !v.is_empty() => Some(v),
            _ => None,
        };
        let (result, reason) = self.decide(request, ctx);
        if let Some(trace) = trace {
            trace.push(ConditionTrace {
                operator: &self.operator_text,
                key: &self.key,
                policy_values: self
                    .values
                    .iter()
                    .map(|v| match &v.compiled {
                        Compiled::Text(t) | Compiled::Pattern(t, _, _) => t
                            .resolve(ctx)
                            .map(Cow::into_owned)
                            .unwrap_or_else(|Unresolved| format!("{} (unresolved)", v.raw.text())),
                        _ => v.raw.text().into_owned(),
                    })
                    .collect(),
                request_values: request.map(|r| r.iter().map(|v| v.clone().into_owned()).collect()),
                result,
                reason,
            });
        }
        result
    }

    fn decide(&self, request: Option<&[Cow<'_, str>]>, ctx: &dyn Context) -> (bool, &'static str) {
        let op = self.operator;
        if op.base == BaseOperator::Null {
            let present = request.is_some();
            let held = self
                .values
                .iter()
                .any(|v| matches!(v.compiled, Compiled::Bool(b) if b != present));
            return (held, if present { "key present" } else { "key absent" });
        }
        let Some(request) = request else {
            return if op.if_exists {
                (true, "key absent, IfExists holds")
            } else {
                match op.set {
                    Some(SetOperator::ForAllValues) => {
                        (true, "key absent, ForAllValues holds vacuously")
                    }
                    Some(SetOperator::ForAnyValue) => (false, "key absent, ForAnyValue fails"),
                    None if op.base.is_negated() => (true, "key absent, negated operator holds"),
                    None => (false, "key absent"),
                }
            };
        };
        let negated = op.base.is_negated();
        // A request value "satisfies" the operator: for positive operators it
        // matches some policy value; for negated ones it differs from every
        // policy value (an unresolvable variable value satisfies neither).
        let mut scratch = Vec::new();
        let mut satisfies = |r: &str| -> bool {
            if negated {
                self.values
                    .iter()
                    .all(|p| matches!(p.positive(op.base, r, ctx, &mut scratch), Some(false)))
            } else {
                self.values
                    .iter()
                    .any(|p| matches!(p.positive(op.base, r, ctx, &mut scratch), Some(true)))
            }
        };
        match op.set {
            Some(SetOperator::ForAllValues) => {
                let held = request.iter().all(|r| satisfies(r));
                (
                    held,
                    if held {
                        "every value satisfied"
                    } else {
                        "a value failed"
                    },
                )
            }
            Some(SetOperator::ForAnyValue) => {
                let held = request.iter().any(|r| satisfies(r));
                (
                    held,
                    if held {
                        "a value satisfied"
                    } else {
                        "no value satisfied"
                    },
                )
            }
            None if negated => {
                let held = request.iter().all(|r| satisfies(r));
                (
                    held,
                    if held {
                        "differs from every value"
                    } else {
                        "equals a listed value"
                    },
                )
            }
            None => {
                let held = request.iter().any(|r| satisfies(r));
                (held, if held { "matched" } else { "no value matched" })
            }
        }
    }
}

impl Value {
    /// Does request value `r` match this value under the positive form of `op`?
    /// `None` if the value has a variable that cannot be resolved.
    fn positive(
        &self,
        op: BaseOperator,
        r: &str,
        ctx: &dyn Context,
        scratch: &mut Vec<Atom>,
    ) -> Option<bool> {
        use BaseOperator as B;
        Some(match &self.compiled {
            Compiled::Text(t) => {
                let p = t.resolve(ctx).ok()?;
                match op {
                    B::StringEqualsIgnoreCase | B::StringNotEqualsIgnoreCase => {
                        eq_ignore_case(&p, r)
                    }
                    _ => *p == *r,
                }
            }
            Compiled::Pattern(_, _, Some(fast)) => fast.matches(r, false),
            Compiled::Pattern(t, stat, None) => {
                let atoms: &[Atom] = match stat {
                    Some(a) => a,
                    None => {
                        scratch.clear();
                        t.pattern(ctx, scratch).ok()?;
                        scratch
                    }
                };
                match op {
                    B::StringLike | B::StringNotLike => glob::matches(atoms, r, false),
                    _ => arn_like(atoms, r),
                }
            }
            Compiled::Number(p) => match parse_number(r) {
                Some(v) => compare(op, v.partial_cmp(p)?),
                None => false,
            },
            Compiled::Date(p) => match crate::date::parse_millis(r) {
                Some(v) => compare(op, v.cmp(p)),
                None => false,
            },
            Compiled::Bool(p) => parse_bool(r) == Some(*p),
            Compiled::Binary(p) => base64::engine::general_purpose::STANDARD
                .decode(r.as_bytes())
                .is_ok_and(|v| v == *p),
            Compiled::Ip(net, bits) => r
                .trim()
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip_in(ip, *net, *bits)),
        })
    }
}

fn compare(op: BaseOperator, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering as O;
    use BaseOperator as B;
    match op {
        B::NumericLessThan | B::DateLessThan => ord == O::Less,
        B::NumericLessThanEquals | B::DateLessThanEquals => ord != O::Greater,
        B::NumericGreaterThan | B::DateGreaterThan => ord == O::Greater,
        B::NumericGreaterThanEquals | B::DateGreaterThanEquals => ord != O::Less,
        _ => ord == O::Equal,
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// ARN matching: six colon-separated parts, each glob-matched on its own. A
/// pattern with fewer than five colons is matched against the whole value.
pub(crate) fn arn_like(pattern: &[Atom], value: &str) -> bool {
    let Some(pparts) = split_atoms(pattern) else {
        return glob::matches(pattern, value, false);
    };
    let Some(vparts) = glob::arn_parts(value) else {
        return false;
    };
    pparts
        .iter()
        .zip(vparts.iter())
        .all(|(p, v)| glob::matches(p, v, false))
}

fn split_atoms(pattern: &[Atom]) -> Option<[&[Atom]; 6]> {
    let mut parts: [&[Atom]; 6] = [&[]; 6];
    let mut rest = pattern;
    for slot in parts.iter_mut().take(5) {
        let pos = rest.iter().position(|a| *a == Atom::Byte(b':'))?;
        let (head, tail) = rest.split_at(pos);
        *slot = head;
        rest = tail.get(1..)?;
    }
    if let Some(last) = parts.get_mut(5) {
        *last = rest;
    }
    Some(parts)
}
