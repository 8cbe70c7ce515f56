//! Strings with policy variables: `${aws:username}`, `${aws:PrincipalTag/team, 'none'}`,
//! and the escapes `${*}`, `${?}`, `${$}`.
//!
//! Variables are recognised only under policy version `2012-10-17`; under
//! `2008-10-17` (or without a version) `${…}` is literal text.

use std::borrow::Cow;

use crate::context::{Context, ContextValue};
use crate::glob::{self, Atom};

/// A string split into literal text and variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text as written (may contain wildcards, for patterns).
    Text(String),
    /// A character produced by an escape: always literal, never a wildcard.
    Escaped(char),
    /// A variable: lower-cased key and an optional default.
    Var {
        key: String,
        default: Option<String>,
    },
}

/// A variable that could not be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unresolved;

impl Template {
    /// Parses `text`; with `variables` false everything is literal.
    /// Fails with the offending variable text on bad syntax.
    pub(crate) fn parse(text: &str, variables: bool) -> Result<Template, String> {
        if !variables || !text.contains("${") {
            return Ok(Template {
                parts: vec![Part::Text(text.to_owned())],
            });
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let (before, after) = rest.split_at(start);
            if !before.is_empty() {
                parts.push(Part::Text(before.to_owned()));
            }
            let body_and_rest = after.get(2..).unwrap_or("");
            let end = body_and_rest.find('}').ok_or_else(|| after.to_owned())?;
            let body = body_and_rest.get(..end).unwrap_or("");
            rest = body_and_rest.get(end + 1..).unwrap_or("");
            parts.push(parse_variable(body).ok_or_else(|| format!("${{{body}}}"))?);
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The text if the template has no variables or escapes.
    #[cfg(test)]
    pub(crate) fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Text(t)] => Some(t),
            [] => Some(""),
            _ => None,
        }
    }

    /// Resolves variables against the context. Escapes become their characters.
    pub(crate) fn resolve<'a>(&'a self, ctx: &'a dyn Context) -> Result<Cow<'a, str>, Unresolved> {
        match self.parts.as_slice() {
            [Part::Text(t)] => return Ok(Cow::Borrowed(t)),
            [Part::Var { key, default }] => return lookup(ctx, key, default),
            _ => {}
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Escaped(c) => out.push(*c),
                Part::Var { key, default } => out.push_str(&lookup(ctx, key, default)?),
            }
        }
        Ok(Cow::Owned(out))
    }

    /// Compiles to a wildcard pattern: wildcards in written text are live,
    /// escaped characters and substituted values are literal.
    pub(crate) fn pattern(&self, ctx: &dyn Context, out: &mut Vec<Atom>) -> Result<(), Unresolved> {
        for part in &self.parts {
            match part {
                Part::Text(t) => glob::compile(t, out),
                Part::Escaped(c) => glob::literal(c.encode_utf8(&mut [0; 4]), out),
                Part::Var { key, default } => glob::literal(&lookup(ctx, key, default)?, out),
            }
        }
        Ok(())
    }

    /// The pattern if it needs no context (no variables).
    pub(crate) fn static_pattern(&self) -> Option<Vec<Atom>> {
        if self.parts.iter().any(|p| matches!(p, Part::Var { .. })) {
            return None;
        }
        let mut out = Vec::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => glob::compile(t, &mut out),
                Part::Escaped(c) => glob::literal(c.encode_utf8(&mut [0; 4]), &mut out),
                Part::Var { .. } => {}
            }
        }
        Some(out)
    }
}

fn lookup<'c>(
    ctx: &'c dyn Context,
    key: &str,
    default: &Option<String>,
) -> Result<Cow<'c, str>, Unresolved> {
    match ctx.get(key) {
        Some(ContextValue::One(v)) => Ok(v),
        // Multi-valued keys cannot be used as variables.
        Some(ContextValue::Many(_)) => Err(Unresolved),
        None => match default {
            Some(d) => Ok(Cow::Owned(d.clone())),
            None => Err(Unresolved),
        },
    }
}

fn parse_variable(body: &str) -> Option<Part> {
    match body {
        "*" => return Some(Part::Escaped('*')),
        "?" => return Some(Part::Escaped('?')),
        "$" => return Some(Part::Escaped('$')),
        _ => {}
    }
    let (key, default) = match body.split_once(',') {
        Some((k, d)) => {
            let d = d.trim_start();
            let d = d.strip_prefix('\'')?.strip_suffix('\'')?;
            (k.trim(), Some(d.to_owned()))
        }
        None => (body.trim(), None),
    };
    let valid = !key.is_empty()
        && key.contains(':')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/+=@".contains(c));
    valid.then(|| Part::Var {
        key: key.to_lowercase(),
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::MapContext;

    #[test]
    fn literal_without_variables() {
        let t = Template::parse("a${x}", false).unwrap();
        assert_eq!(t.as_literal(), Some("a${x}"));
    }

    #[test]
    fn resolves_and_defaults() {
        let mut ctx = MapContext::new();
        ctx.insert("aws:username", "bob");
        let t = Template::parse(
            "home/${aws:username}/${aws:PrincipalTag/team, 'none'}",
            true,
        )
        .unwrap();
        assert_eq!(t.resolve(&ctx).unwrap(), "home/bob/none");
        let t = Template::parse("${aws:userid}", true).unwrap();
        assert_eq!(t.resolve(&ctx), Err(Unresolved));
    }

    #[test]
    fn escapes_are_literal_in_patterns() {
        let ctx = MapContext::new();
        let t = Template::parse("a${*}", true).unwrap();
        let mut p = Vec::new();
        t.pattern(&ctx, &mut p).unwrap();
        assert!(glob::matches(&p, "a*", false));
        assert!(!glob::matches(&p, "ab", false));
    }

    #[test]
    fn bad_syntax() {
        assert!(Template::parse("${aws:username", true).is_err());
        assert!(Template::parse("${}", true).is_err());
        assert!(Template::parse("${a, nope}", true).is_err());
    }
}
