//! CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, and the key
//! metadata every key operation returns; AWS managed keys.

use std::collections::BTreeMap;

use kmsgov_authz::{default_policy_text, KeyState};
use serde_json::{json, Map, Value};

use super::params::{self, Page};
use super::Ctx;
use crate::crypto::{KeyMaterial, KeySpec, SigningAlgorithm};
use crate::error::{ErrorKind, KmsError};
use crate::service::{key_arn, new_key_id, Kms, LiveKey};
use crate::store::{KeyRecord, KeyVersionRecord};

/// CreateKey.
pub(crate) fn create_key(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let input = ctx.input;
    if params::string(input, "CustomKeyStoreId").is_some() {
        return Err(KmsError::new(
            ErrorKind::CustomKeyStoreNotFoundException,
            "Custom key stores are not supported by this service.",
        ));
    }
    let spec_name = params::string(input, "KeySpec")
        .or_else(|| params::string(input, "CustomerMasterKeySpec"))
        .unwrap_or("SYMMETRIC_DEFAULT");
    let spec: KeySpec = spec_name.parse()?;
    let usage = params::string(input, "KeyUsage")
        .map(str::to_owned)
        .unwrap_or_else(|| default_usage(spec).to_owned());
    let origin = params::string(input, "Origin").unwrap_or("AWS_KMS");
    match origin {
        "AWS_KMS" | "EXTERNAL" => {}
        "AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE" => {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperationException,
                format!("Origin {origin} needs a custom key store, which this service does not support."),
            ))
        }
        other => {
            return Err(KmsError::validation(format!(
                "1 validation error detected: Value '{other}' at 'origin' failed to satisfy constraint: Member must satisfy enum value set: [EXTERNAL_KEY_STORE, AWS_CLOUDHSM, AWS_KMS, EXTERNAL]"
            )))
        }
    }
    let multi_region = params::boolean(input, "MultiRegion").unwrap_or(false);
    let key_id = if multi_region {
        format!("mrk-{}", new_key_id()?.replace('-', ""))
    } else {
        new_key_id()?
    };
    let tags: BTreeMap<String, String> = input
        .get("Tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|t| {
                    Some((
                        t.get("TagKey")?.as_str()?.to_owned(),
                        t.get("TagValue")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    for key in tags.keys() {
        super::tags::check_tag_key(key)?;
    }
    if tags.len() > super::tags::MAX_TAGS_PER_KEY {
        return Err(KmsError::new(
            ErrorKind::LimitExceededException,
            format!(
                "The request would give the new key {} tags; a KMS key may have at most {}.",
                tags.len(),
                super::tags::MAX_TAGS_PER_KEY
            ),
        ));
    }
    let policy = params::string(input, "Policy")
        .map(str::to_owned)
        .unwrap_or_else(|| default_policy_text(ctx.account));
    let mut versions = Vec::new();
    let state = if origin == "EXTERNAL" {
        KeyState::PendingImport
    } else {
        let material = KeyMaterial::generate(spec)?;
        versions.push(KeyVersionRecord {
            version: 1,
            created: ctx.now,
            on_demand: false,
            wrapped_material: ctx.kms.wrap(&key_id, 1, &material)?,
        });
        KeyState::Enabled
    };
    let record = KeyRecord {
        key_id,
        account: ctx.account.to_owned(),
        region: ctx.kms.region().to_owned(),
        revision: 0,
        creation_date: ctx.now,
        description: params::string(input, "Description")
            .unwrap_or_default()
            .to_owned(),
        key_spec: spec.as_str().to_owned(),
        key_usage: usage,
        origin: origin.to_owned(),
        key_state: state.name().to_owned(),
        deletion_date: None,
        pending_window_days: None,
        multi_region,
        aws_managed: false,
        policy,
        tags,
        rotation: None,
        versions,
        ..KeyRecord::default()
    };
    let live = ctx.kms.insert_key(record)?;
    Ok(json!({ "KeyMetadata": key_metadata(ctx.kms, &live) }))
}

/// The `KeyUsage` CreateKey gives a key spec when the request names none.
fn default_usage(spec: KeySpec) -> &'static str {
    if spec.mac_algorithm().is_some() {
        "GENERATE_VERIFY_MAC"
    } else {
        "ENCRYPT_DECRYPT"
    }
}

/// Creates the AWS managed key for `service` (`alias/aws/<service>`).
pub(crate) fn create_aws_managed_key(
    kms: &Kms,
    account: &str,
    service: &str,
    now: i64,
) -> Result<(), KmsError> {
    let key_id = new_key_id()?;
    let region = kms.region().to_owned();
    let material = KeyMaterial::generate(KeySpec::SymmetricDefault)?;
    let policy = json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{service}-1"),
        "Statement": [
            {
                "Sid": format!("Allow access through {service} for all principals in the account that are authorized to use {service}"),
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    "kms:CallerAccount": account,
                    "kms:ViaService": format!("{service}.{region}.amazonaws.com")
                }}
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*"
            }
        ]
    });
    let record = KeyRecord {
        versions: vec![KeyVersionRecord {
            version: 1,
            created: now,
            on_demand: false,
            wrapped_material: kms.wrap(&key_id, 1, &material)?,
        }],
        key_id: key_id.clone(),
        account: account.to_owned(),
        region: region.clone(),
        revision: 0,
        creation_date: now,
        description: format!(
            "Default key that protects my {service} data when no other key is defined"
        ),
        key_spec: KeySpec::SymmetricDefault.as_str().to_owned(),
        key_usage: "ENCRYPT_DECRYPT".into(),
        origin: "AWS_KMS".into(),
        key_state: KeyState::Enabled.name().into(),
        aws_managed: true,
        policy: policy.to_string(),
        // AWS rotates AWS managed keys every year.
        rotation: Some(crate::store::RotationRecord {
            period_days: 365,
            next_rotation: now + 365 * 86_400,
        }),
        ..KeyRecord::default()
    };
    kms.insert_key(record)?;
    let alias = crate::store::AliasRecord {
        account: account.to_owned(),
        region,
        name: format!("alias/aws/{service}"),
        key_id,
        creation_date: now,
        last_updated: now,
    };
    match kms.store().create_alias(&alias) {
        Ok(()) => {}
        // Created meanwhile by another node: use that one.
        Err(crate::store::StoreError::Conflict) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    kms.apply_alias(None, Some(&alias));
    Ok(())
}

/// DescribeKey.
pub(crate) fn describe_key(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let id = params::required(ctx.input, "KeyId")?;
    let live = ctx.kms.live_key(ctx.account, id)?;
    Ok(json!({ "KeyMetadata": key_metadata(ctx.kms, &live) }))
}

/// ListKeys: the keys of the caller's account in this Region.
pub(crate) fn list_keys(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let page = Page::read(ctx.input)?;
    let records = ctx.kms.store().list_keys(
        ctx.account,
        ctx.kms.region(),
        page.after.as_deref(),
        page.limit + 1,
    )?;
    let (records, extra) = page.finish(records, |r| r.key_id.clone());
    let keys: Vec<Value> = records
        .iter()
        .map(|r| json!({"KeyId": r.key_id, "KeyArn": key_arn(r)}))
        .collect();
    let mut out = Map::new();
    out.insert("Keys".into(), Value::Array(keys));
    out.extend(extra);
    Ok(Value::Object(out))
}

/// UpdateKeyDescription.
pub(crate) fn update_key_description(ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    let id = params::required(ctx.input, "KeyId")?;
    let description = params::required(ctx.input, "Description")?;
    let live = ctx.kms.live_key(ctx.account, id)?;
    let mut record = live.record.clone();
    description.clone_into(&mut record.description);
    ctx.kms.update_key(record)?;
    Ok(json!({}))
}

/// GetKeyLastUsage: kmsgov does not track key use yet.
pub(crate) fn get_key_last_usage(_ctx: &Ctx<'_>) -> Result<Value, KmsError> {
    Err(KmsError::new(
        ErrorKind::UnsupportedOperationException,
        "GetKeyLastUsage is not supported by this service.",
    ))
}

/// `KeyMetadata` of a key, as DescribeKey, CreateKey and ReplicateKey return it.
pub(crate) fn key_metadata(kms: &Kms, live: &LiveKey) -> Value {
    let r = &live.record;
    let spec = r.key_spec.parse::<KeySpec>().ok();
    let mut m = Map::new();
    m.insert("AWSAccountId".into(), json!(r.account));
    m.insert("KeyId".into(), json!(r.key_id));
    m.insert("Arn".into(), json!(live.arn));
    m.insert("CreationDate".into(), json!(r.creation_date));
    m.insert(
        "Enabled".into(),
        json!(r.key_state == KeyState::Enabled.name()),
    );
    m.insert("Description".into(), json!(r.description));
    m.insert("KeyUsage".into(), json!(r.key_usage));
    m.insert("KeyState".into(), json!(r.key_state));
    if let Some(d) = r.deletion_date {
        m.insert("DeletionDate".into(), json!(d));
    }
    if let Some(d) = r.pending_window_days {
        if r.key_state == KeyState::PendingDeletion.name() {
            m.insert("PendingDeletionWindowInDays".into(), json!(d));
        }
    }
    m.insert("Origin".into(), json!(r.origin));
    m.insert(
        "KeyManager".into(),
        json!(if r.aws_managed { "AWS" } else { "CUSTOMER" }),
    );
    m.insert("CustomerMasterKeySpec".into(), json!(r.key_spec));
    m.insert("KeySpec".into(), json!(r.key_spec));
    if let Some(spec) = spec {
        match r.key_usage.as_str() {
            "ENCRYPT_DECRYPT" => {
                let algs: Vec<&str> = if spec == KeySpec::SymmetricDefault {
                    vec!["SYMMETRIC_DEFAULT"]
                } else {
                    vec!["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
                };
                m.insert("EncryptionAlgorithms".into(), json!(algs));
            }
            "SIGN_VERIFY" => {
                let algs: Vec<&str> = SigningAlgorithm::for_spec(spec)
                    .iter()
                    .map(|a| a.as_str())
                    .collect();
                m.insert("SigningAlgorithms".into(), json!(algs));
            }
            "GENERATE_VERIFY_MAC" => {
                if let Some(a) = spec.mac_algorithm() {
                    m.insert("MacAlgorithms".into(), json!([a.as_str()]));
                }
            }
            "KEY_AGREEMENT" => {
                m.insert("KeyAgreementAlgorithms".into(), json!(["ECDH"]));
            }
            _ => {}
        }
    }
    if r.origin == "EXTERNAL" {
        if let Some(t) = r.material_valid_to {
            m.insert("ValidTo".into(), json!(t));
            m.insert("ExpirationModel".into(), json!("KEY_MATERIAL_EXPIRES"));
        } else if !r.versions.is_empty() {
            m.insert(
                "ExpirationModel".into(),
                json!("KEY_MATERIAL_DOES_NOT_EXPIRE"),
            );
        }
    }
    m.insert("MultiRegion".into(), json!(r.multi_region));
    if r.multi_region {
        super::multi_region::metadata(kms, live, &mut m);
    }
    Value::Object(m)
}
