//! The request context: condition keys and their values.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// A value of a condition key in the request context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextValue<'a> {
    /// A single-valued key (`aws:SourceIp`, `kms:EncryptionContext:dept`).
    One(Cow<'a, str>),
    /// A multi-valued key (`kms:EncryptionContextKeys`, `aws:TagKeys`).
    /// An empty list is treated exactly like an absent key.
    Many(Vec<Cow<'a, str>>),
}

/// Where condition keys are looked up.
///
/// `key` arrives lower-cased with [`str::to_lowercase`]: condition key names are
/// case-insensitive in IAM, including the part after a `/` or the last `:` of
/// `aws:PrincipalTag/…` and `kms:EncryptionContext:…`. Implementations can compute
/// values lazily, so a context never has to be built as a map.
pub trait Context {
    /// The value of `key`, or `None` if the request has no such key.
    fn get(&self, key: &str) -> Option<ContextValue<'_>>;
}

/// A context held as a map, for tests and simple callers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapContext {
    values: BTreeMap<String, OwnedValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnedValue {
    One(String),
    Many(Vec<String>),
}

impl MapContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key (the name is case-insensitive).
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.values
            .insert(key.to_lowercase(), OwnedValue::One(value.into()));
    }

    /// Sets a multi-valued key (the name is case-insensitive).
    pub fn insert_many<I, S>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.values.insert(
            key.to_lowercase(),
            OwnedValue::Many(values.into_iter().map(Into::into).collect()),
        );
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &str) {
        self.values.remove(&key.to_lowercase());
    }
}

impl Context for MapContext {
    fn get(&self, key: &str) -> Option<ContextValue<'_>> {
        self.values.get(key).map(|v| match v {
            OwnedValue::One(s) => ContextValue::One(Cow::Borrowed(s)),
            OwnedValue::Many(v) => {
                ContextValue::Many(v.iter().map(|s| Cow::Borrowed(s.as_str())).collect())
            }
        })
    }
}

impl<C: Context + ?Sized> Context for &C {
    fn get(&self, key: &str) -> Option<ContextValue<'_>> {
        (**self).get(key)
    }
}

/// Looks a key up in `first`, then in `second`.
#[derive(Debug, Clone, Copy)]
pub struct Layered<A, B>(pub A, pub B);

impl<A: Context, B: Context> Context for Layered<A, B> {
    fn get(&self, key: &str) -> Option<ContextValue<'_>> {
        self.0.get(key).or_else(|| self.1.get(key))
    }
}
