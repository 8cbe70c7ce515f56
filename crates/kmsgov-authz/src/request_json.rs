//! Action requests given as JSON text:
//! `{"principal": ARN, "action": "kms:…", "resource": KEY_ARN, "context": {…}}`.
//!
//! Parsed with borrowing, typed deserialization: strings without escapes are
//! not copied, and unknown members are skipped.

use std::borrow::Cow;
use std::fmt;

use kmsgov_policy::Caller;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::context::Environment;
use crate::decision::Decision;
use crate::engine::{decide_action, ActionCall, Trace};
use crate::world::World;

/// Why a request text was not decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError(pub String);

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RequestError {}

/// Parses an action request from JSON text and decides it.
pub fn decide_action_json(
    world: &World,
    text: &str,
    trace: Trace,
) -> Result<Decision, RequestError> {
    let req: ActionRequest<'_> =
        serde_json::from_str(text).map_err(|e| RequestError(format!("invalid request: {e}")))?;
    let caller = Caller::parse(&req.principal.0).map_err(|e| RequestError(e.to_string()))?;
    let env = req.context.map(|c| c.0).unwrap_or_default();
    let call = ActionCall {
        caller: &caller,
        action: &req.action.0,
        key: &req.resource.0,
        env: &env,
    };
    Ok(decide_action(world, &call, trace))
}

#[derive(serde::Deserialize)]
struct ActionRequest<'a> {
    #[serde(borrow)]
    principal: Text<'a>,
    #[serde(borrow)]
    action: Text<'a>,
    #[serde(borrow)]
    resource: Text<'a>,
    #[serde(borrow, default)]
    context: Option<ContextJson<'a>>,
}

/// A string, borrowed from the input when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

/// `context`: condition keys to strings, numbers, booleans or string lists.
struct ContextJson<'a>(Environment<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for ContextJson<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ContextVisitor)
    }
}

struct ContextVisitor;

impl<'de> Visitor<'de> for ContextVisitor {
    type Value = ContextJson<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of condition keys")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut env = Environment::new();
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match map.next_value::<Val<'de>>()? {
                Val::One(v) => env.insert(key.0, v),
                Val::Many(v) => env.insert_many(key.0, v),
            }
        }
        Ok(ContextJson(env))
    }
}

enum Val<'a> {
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Val<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number, boolean or list of strings")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Val::One(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Val::One(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Val::One(Cow::Owned(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Val::One(Cow::Borrowed(if v { "true" } else { "false" })))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Val::One(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Val::One(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Val::One(Cow::Owned(v.to_string())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(t) = seq.next_element::<Text<'de>>()? {
            out.push(t.0);
        }
        Ok(Val::Many(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn decides_from_text_and_rejects_garbage() {
        let s = Scenario::parse(
            r#"{"accounts": {"111122223333": {}},
                "keys": [{"arn": "arn:aws:kms:us-east-1:111122223333:key/k",
                          "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                             "Action": "kms:Decrypt", "Resource": "*",
                             "Condition": {"StringEquals": {"kms:EncryptionContext:team": "blue"}}}]}}],
                "tests": []}"#,
        )
        .unwrap();
        let ok = r#"{"principal": "arn:aws:iam::111122223333:user/a", "action": "kms:Decrypt",
                     "resource": "arn:aws:kms:us-east-1:111122223333:key/k",
                     "context": {"kms:EncryptionContext:Team": "blue", "x:n": 1, "x:list": ["a", "b"]}, "ignored": [1, 2]}"#;
        let d = decide_action_json(&s.world, ok, Trace::Off).unwrap();
        assert_eq!(d.outcome.name(), "Allow");
        let denied = ok.replace("\"blue\", \"x:n\"", "\"red\", \"x:n\"");
        assert_eq!(
            decide_action_json(&s.world, &denied, Trace::Off)
                .unwrap()
                .outcome
                .name(),
            "Deny"
        );
        for bad in [
            "",
            "{",
            "[]",
            r#"{"principal": 1, "action": "a", "resource": "r"}"#,
            r#"{"action": "a", "resource": "r"}"#,
        ] {
            assert!(
                decide_action_json(&s.world, bad, Trace::Off).is_err(),
                "{bad}"
            );
        }
        let bad_principal = ok.replace("arn:aws:iam::111122223333:user/a", "someone");
        assert!(decide_action_json(&s.world, &bad_principal, Trace::Off).is_err());
    }
}
