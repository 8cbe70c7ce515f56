//! Printing a validated policy back as JSON.
//!
//! The output keeps every value as written (strings stay strings, single
//! values stay unbracketed) in the canonical element order `Version`, `Id`,
//! `Statement` / `Sid`, `Effect`, `Principal`, `Action`, `Resource`,
//! `Condition`, so that parsing the output gives back an equal [`Policy`].

use std::fmt::{self, Write as _};

use crate::condition::Scalar;
use crate::policy::{List, Policy, PrincipalValue, Statement};

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Obj::new(f);
        if let Some(v) = self.version {
            out.member("Version", |f| string(f, v.as_str()))?;
        }
        if let Some(id) = &self.id {
            out.member("Id", |f| string(f, id))?;
        }
        out.member("Statement", |f| {
            if self.statement_is_array {
                f.write_char('[')?;
                for (i, st) in self.statements.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    statement(f, st)?;
                }
                f.write_char(']')
            } else {
                match self.statements.first() {
                    Some(st) => statement(f, st),
                    None => f.write_str("[]"),
                }
            }
        })?;
        out.end()
    }
}

impl Policy {
    /// The policy as a JSON value (member order is not kept by
    /// `serde_json::Value`; use `to_string()` for the canonical text).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.to_string()).unwrap_or(serde_json::Value::Null)
    }
}

fn statement(f: &mut fmt::Formatter<'_>, st: &Statement) -> fmt::Result {
    let mut out = Obj::new(f);
    if let Some(sid) = &st.sid {
        out.member("Sid", |f| string(f, sid))?;
    }
    out.member("Effect", |f| string(f, st.effect.as_str()))?;
    if let Some(p) = &st.principal {
        let name = if p.negated {
            "NotPrincipal"
        } else {
            "Principal"
        };
        out.member(name, |f| match &p.value {
            PrincipalValue::Star => string(f, "*"),
            PrincipalValue::Map(map) => {
                let mut o = Obj::new(f);
                for (ty, list) in map {
                    o.member(ty.as_str(), |f| strings(f, list, |e| &e.text))?;
                }
                o.end()
            }
        })?;
    }
    if let Some(a) = &st.action {
        let name = if a.negated { "NotAction" } else { "Action" };
        out.member(name, |f| strings(f, &a.list, |p| &p.text))?;
    }
    if let Some(r) = &st.resource {
        let name = if r.negated { "NotResource" } else { "Resource" };
        out.member(name, |f| strings(f, &r.list, |p| &p.text))?;
    }
    if !st.conditions.is_empty() {
        out.member("Condition", |f| {
            let mut o = Obj::new(f);
            let mut i = 0;
            while let Some(first) = st.conditions.get(i) {
                let group: Vec<_> = st
                    .conditions
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|c| c.operator_text == first.operator_text)
                    .collect();
                i += group.len();
                o.member(&first.operator_text, |f| {
                    let mut k = Obj::new(f);
                    for c in &group {
                        k.member(&c.key, |f| {
                            let write = |f: &mut fmt::Formatter<'_>, s: &Scalar| match s {
                                Scalar::String(s) => string(f, s),
                                Scalar::Number(n) => write!(f, "{n}"),
                                Scalar::Bool(b) => write!(f, "{b}"),
                            };
                            if c.single_value {
                                match c.values.first() {
                                    Some(v) => write(f, &v.raw),
                                    None => f.write_str("[]"),
                                }
                            } else {
                                f.write_char('[')?;
                                for (j, v) in c.values.iter().enumerate() {
                                    if j > 0 {
                                        f.write_char(',')?;
                                    }
                                    write(f, &v.raw)?;
                                }
                                f.write_char(']')
                            }
                        })?;
                    }
                    k.end()
                })?;
            }
            o.end()
        })?;
    }
    out.end()
}

fn strings<T>(
    f: &mut fmt::Formatter<'_>,
    list: &List<T>,
    text: impl Fn(&T) -> &String,
) -> fmt::Result {
    if list.single {
        if let Some(item) = list.items.first() {
            return string(f, text(item));
        }
    }
    f.write_char('[')?;
    for (i, item) in list.items.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        string(f, text(item))?;
    }
    f.write_char(']')
}

fn string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let quoted = serde_json::to_string(s).map_err(|_| fmt::Error)?;
    f.write_str(&quoted)
}

/// Writes `{"a":…,"b":…}` member by member.
struct Obj<'a, 'f> {
    f: &'a mut fmt::Formatter<'f>,
    first: bool,
}

impl<'a, 'f> Obj<'a, 'f> {
    fn new(f: &'a mut fmt::Formatter<'f>) -> Self {
        Obj { f, first: true }
    }

    fn member(
        &mut self,
        name: &str,
        value: impl FnOnce(&mut fmt::Formatter<'f>) -> fmt::Result,
    ) -> fmt::Result {
        self.f.write_char(if self.first { '{' } else { ',' })?;
        self.first = false;
        string(self.f, name)?;
        self.f.write_char(':')?;
        value(self.f)
    }

    fn end(self) -> fmt::Result {
        self.f.write_str(if self.first { "{}" } else { "}" })
    }
}
