//! TagResource, UntagResource and ListResourceTags.
//!
//! Tags live on the key record; a change goes through the store and then
//! into the authorization world, so `aws:ResourceTag/…` conditions see it
//! on the very next request. The engine has already checked the shape of
//! the tags, refused keys pending deletion and denied tagging AWS managed
//! keys (their key policies do not allow it).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::lifecycle::named_key;
use super::params::{self, Page};
use super::Ctx;
use crate::error::{ErrorKind, KmsError};

/// User tags AWS allows per KMS key.
pub(crate) const MAX_TAGS_PER_KEY: usize = 50;

/// The longest tag key, in characters.
const MAX_TAG_KEY_CHARS: usize = 128;

/// ListResourceTags returns this many tags when the request sets no `Limit`,
/// and accepts no larger `Limit`.
const MAX_LIST_LIMIT: i64 = 50;

/// TagResource: adds tags, replacing the value of a key already there.
pub(crate) fn tag_resource(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    let mut tags = live.record.tags.clone();
    for (key, value) in requested_tags(ctx.input) {
        check_tag_key(key)?;
        tags.insert(key.to_owned(), value.to_owned());
    }
    if tags.len() > MAX_TAGS_PER_KEY {
        return Err(KmsError::new(
            ErrorKind::LimitExceededException,
            format!(
                "The request would give {} {} tags; a KMS key may have at most {MAX_TAGS_PER_KEY}.",
                live.arn,
                tags.len()
            ),
        ));
    }
    if tags != live.record.tags {
        let mut record = live.record.clone();
        record.tags = tags;
        ctx.kms.update_key(record)?;
    }
    Ok(json!({}))
}

/// UntagResource: removes the tags with the given keys (keys the key does
/// not have are ignored).
pub(crate) fn untag_resource(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    let keys: Vec<&str> = ctx
        .input
        .get("TagKeys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut tags = live.record.tags.clone();
    for key in keys {
        check_tag_key(key)?;
        tags.remove(key);
    }
    if tags != live.record.tags {
        let mut record = live.record.clone();
        record.tags = tags;
        ctx.kms.update_key(record)?;
    }
    Ok(json!({}))
}

/// ListResourceTags: the key's tags sorted by tag key; `Limit` 1–50
/// (default 50) and `Marker` paginate.
pub(crate) fn list_resource_tags(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let live = named_key(ctx)?;
    let limit = params::integer(ctx.input, "Limit").unwrap_or(MAX_LIST_LIMIT);
    if limit > MAX_LIST_LIMIT {
        return Err(KmsError::validation(format!(
            "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: \
             Member must have value less than or equal to {MAX_LIST_LIMIT}"
        )));
    }
    let page = Page {
        limit: usize::try_from(limit).unwrap_or(1).max(1),
        ..Page::read(ctx.input)?
    };
    let tags: Vec<(&String, &String)> = live
        .record
        .tags
        .iter()
        .filter(|(k, _)| page.after.as_ref().is_none_or(|a| *k > a))
        .take(page.limit.saturating_add(1))
        .collect();
    let (tags, extra) = page.finish(tags, |(k, _)| (*k).clone());
    let tags: Vec<Value> = tags
        .iter()
        .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
        .collect();
    let mut out = Map::new();
    out.insert("Tags".into(), Value::Array(tags));
    out.extend(extra);
    Ok(Value::Object(out))
}

/// The `Tags` member by tag key (a key given twice keeps its last value).
fn requested_tags(input: &Map<String, Value>) -> BTreeMap<&str, &str> {
    input
        .get("Tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|t| Some((t.get("TagKey")?.as_str()?, t.get("TagValue")?.as_str()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Tag keys are 1–128 characters, and those beginning with `aws:` (in any
/// case) are reserved for AWS.
pub(crate) fn check_tag_key(key: &str) -> Result<(), KmsError> {
    let chars = key.chars().count();
    if chars == 0 || chars > MAX_TAG_KEY_CHARS {
        return Err(KmsError::new(
            ErrorKind::TagException,
            format!("Tag keys must be 1 to {MAX_TAG_KEY_CHARS} characters long."),
        ));
    }
    let reserved = key
        .get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:"));
    if reserved {
        return Err(KmsError::new(
            ErrorKind::TagException,
            format!("Tag key {key} is not valid: tag keys beginning with aws: are reserved for AWS use."),
        ));
    }
    Ok(())
}
