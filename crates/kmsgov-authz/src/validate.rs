//! Request validation before any access decision: required members, types,
//! lengths and enumerations, as the KMS API reference states them.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::decision::ErrorCode;
use crate::failure::{lower_first, Failure};
use crate::operation::{Operation, GRANT_OPERATIONS};

type Input = Map<String, Value>;

/// Checks the request body of `op`.
pub(crate) fn validate(op: Operation, input: &Input) -> Result<(), Failure> {
    use Operation as O;
    common(input)?;
    match op {
        O::Encrypt => {
            required(input, &["KeyId", "Plaintext"])?;
            blob(input, "Plaintext", 1, 4096)?;
        }
        O::Decrypt => {
            required(input, &["CiphertextBlob"])?;
            blob(input, "CiphertextBlob", 1, 6144)?;
        }
        O::ReEncrypt => {
            required(input, &["CiphertextBlob", "DestinationKeyId"])?;
            blob(input, "CiphertextBlob", 1, 6144)?;
            encryption_context(input, "SourceEncryptionContext")?;
            encryption_context(input, "DestinationEncryptionContext")?;
        }
        O::GenerateDataKey | O::GenerateDataKeyWithoutPlaintext => {
            required(input, &["KeyId"])?;
            let spec = string(input, "KeySpec")?;
            let bytes = integer(input, "NumberOfBytes", 1, 1024)?;
            match (spec, bytes) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(Failure::error(
                        ErrorCode::ValidationException,
                        "Please specify either number of bytes or key spec.",
                    ))
                }
                (Some(s), None) => one_of(s, "keySpec", &["AES_128", "AES_256"])?,
                _ => {}
            }
        }
        O::GenerateDataKeyPair | O::GenerateDataKeyPairWithoutPlaintext => {
            required(input, &["KeyId", "KeyPairSpec"])?;
            let spec = string(input, "KeyPairSpec")?.unwrap_or_default();
            one_of(
                spec,
                "keyPairSpec",
                &[
                    "RSA_2048",
                    "RSA_3072",
                    "RSA_4096",
                    "ECC_NIST_P256",
                    "ECC_NIST_P384",
                    "ECC_NIST_P521",
                    "ECC_SECG_P256K1",
                    "ECC_NIST_EDWARDS25519",
                    "SM2",
                ],
            )?;
        }
        O::GenerateRandom => {
            integer(input, "NumberOfBytes", 1, 1024)?;
        }
        O::Sign | O::Verify => {
            required(input, &["KeyId", "Message", "SigningAlgorithm"])?;
            blob(input, "Message", 1, 4096)?;
            if op == O::Verify {
                required(input, &["Signature"])?;
                blob(input, "Signature", 1, 6144)?;
            }
            if let Some(t) = string(input, "MessageType")? {
                one_of(t, "messageType", &["RAW", "DIGEST", "EXTERNAL_MU"])?;
            }
        }
        O::GenerateMac | O::VerifyMac => {
            required(input, &["KeyId", "Message", "MacAlgorithm"])?;
            blob(input, "Message", 1, 4096)?;
            let alg = string(input, "MacAlgorithm")?.unwrap_or_default();
            one_of(
                alg,
                "macAlgorithm",
                &[
                    "HMAC_SHA_224",
                    "HMAC_SHA_256",
                    "HMAC_SHA_384",
                    "HMAC_SHA_512",
                ],
            )?;
            if op == O::VerifyMac {
                required(input, &["Mac"])?;
                blob(input, "Mac", 1, 6144)?;
            }
        }
        O::DeriveSharedSecret => {
            required(input, &["KeyId", "KeyAgreementAlgorithm", "PublicKey"])?;
            one_of(
                string(input, "KeyAgreementAlgorithm")?.unwrap_or_default(),
                "keyAgreementAlgorithm",
                &["ECDH"],
            )?;
        }
        O::CreateGrant => {
            required(input, &["KeyId"])?;
            if !input.contains_key("GranteePrincipal")
                && !input.contains_key("GranteeServicePrincipal")
            {
                return Err(Failure::missing("GranteePrincipal"));
            }
            let ops = match input.get("Operations") {
                None | Some(Value::Null) => return Err(Failure::missing("Operations")),
                Some(Value::Array(ops)) => ops,
                Some(_) => return Err(Failure::validation("operations", "Member must be a list")),
            };
            if ops.is_empty() {
                return Err(Failure::validation(
                    "operations",
                    "Member must have length greater than or equal to 1",
                ));
            }
            for op in ops {
                match op.as_str() {
                    Some(name) if GRANT_OPERATIONS.contains(&name) => {}
                    _ => {
                        return Err(Failure::validation(
                            "operations",
                            &format!(
                                "Member must satisfy enum value set: [{}]",
                                GRANT_OPERATIONS.join(", ")
                            ),
                        ))
                    }
                }
            }
            if let Some(name) = string(input, "Name")? {
                let ok = !name.is_empty()
                    && name.len() <= 256
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b));
                if !ok {
                    return Err(Failure::validation(
                        "name",
                        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
                    ));
                }
            }
            if let Some(c) = input.get("Constraints") {
                let Some(c) = c.as_object() else {
                    return Err(Failure::validation(
                        "constraints",
                        "Member must be a structure",
                    ));
                };
                for (k, v) in c {
                    match k.as_str() {
                        "EncryptionContextEquals" | "EncryptionContextSubset" => {
                            let valid = v
                                .as_object()
                                .is_some_and(|m| m.values().all(Value::is_string));
                            if !valid {
                                return Err(Failure::validation(
                                    &lower_first(k),
                                    "Member must be a map of strings",
                                ));
                            }
                        }
                        "SourceArn" if v.is_string() => {}
                        _ => {
                            return Err(Failure::validation(
                                "constraints",
                                &format!("Unknown member {k}"),
                            ))
                        }
                    }
                }
            }
        }
        O::RetireGrant => {
            let token = input.contains_key("GrantToken");
            if !(token || input.contains_key("KeyId") && input.contains_key("GrantId")) {
                return Err(Failure::error(
                    ErrorCode::ValidationException,
                    "Either GrantToken, or both KeyId and GrantId, must be specified.",
                ));
            }
        }
        O::RevokeGrant => required(input, &["KeyId", "GrantId"])?,
        O::PutKeyPolicy => {
            required(input, &["KeyId", "Policy"])?;
            if let Some(name) = string(input, "PolicyName")? {
                if name != "default" {
                    return Err(Failure::validation(
                        "policyName",
                        "Member must satisfy regular expression pattern: default",
                    ));
                }
            }
            if let Some(v) = input.get("BypassPolicyLockoutSafetyCheck") {
                if !v.is_boolean() {
                    return Err(Failure::validation(
                        "bypassPolicyLockoutSafetyCheck",
                        "Member must be a boolean",
                    ));
                }
            }
        }
        O::GetKeyPolicy => {
            required(input, &["KeyId"])?;
            if let Some(name) = string(input, "PolicyName")? {
                if name != "default" {
                    return Err(Failure::error(
                        ErrorCode::NotFoundException,
                        format!("No such policy exists: {name}"),
                    ));
                }
            }
        }
        O::CreateAlias => {
            required(input, &["AliasName", "TargetKeyId"])?;
            alias_name(input, true)?;
        }
        O::UpdateAlias => {
            required(input, &["AliasName", "TargetKeyId"])?;
            alias_name(input, false)?;
        }
        O::DeleteAlias => {
            required(input, &["AliasName"])?;
            alias_name(input, false)?;
        }
        O::ScheduleKeyDeletion => {
            required(input, &["KeyId"])?;
            integer(input, "PendingWindowInDays", 7, 30)?;
        }
        O::EnableKeyRotation => {
            required(input, &["KeyId"])?;
            integer(input, "RotationPeriodInDays", 90, 2560)?;
        }
        O::TagResource => {
            required(input, &["KeyId", "Tags"])?;
            tags(input)?;
        }
        O::UntagResource => {
            required(input, &["KeyId", "TagKeys"])?;
            let ok = input
                .get("TagKeys")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
            if !ok {
                return Err(Failure::validation(
                    "tagKeys",
                    "Member must be a non-empty list of strings",
                ));
            }
        }
        O::UpdateKeyDescription => {
            required(input, &["KeyId", "Description"])?;
            length(input, "Description", 0, 8192)?;
        }
        O::CreateKey => {
            length(input, "Description", 0, 8192)?;
            if input.contains_key("Tags") {
                tags(input)?;
            }
            key_spec_and_usage(input)?;
            if let Some(v) = input.get("BypassPolicyLockoutSafetyCheck") {
                if !v.is_boolean() {
                    return Err(Failure::validation(
                        "bypassPolicyLockoutSafetyCheck",
                        "Member must be a boolean",
                    ));
                }
            }
        }
        O::ListKeys
        | O::ListAliases
        | O::ListGrants
        | O::ListRetirableGrants
        | O::ListKeyPolicies
        | O::ListResourceTags
        | O::ListKeyRotations => {
            integer(input, "Limit", 1, 1000)?;
            length(input, "Marker", 1, 1024)?;
            if matches!(
                op,
                O::ListGrants | O::ListKeyPolicies | O::ListResourceTags | O::ListKeyRotations
            ) {
                required(input, &["KeyId"])?;
            }
            if op == O::ListRetirableGrants {
                required(input, &["RetiringPrincipal"])?;
            }
        }
        other => {
            if let Some(param) = other.spec().key_param {
                required(input, &[param])?;
            }
        }
    }
    Ok(())
}

/// Checks shared by every operation: encryption context, grant tokens, DryRun.
fn common(input: &Input) -> Result<(), Failure> {
    encryption_context(input, "EncryptionContext")?;
    if let Some(v) = input.get("GrantTokens") {
        let ok = v.as_array().is_some_and(|a| {
            a.len() <= 10
                && a.iter()
                    .all(|t| t.as_str().is_some_and(|s| !s.is_empty() && s.len() <= 8192))
        });
        if !ok {
            return Err(Failure::validation(
                "grantTokens",
                "Member must have length less than or equal to 10",
            ));
        }
    }
    if let Some(v) = input.get("DryRun") {
        if !v.is_boolean() {
            return Err(Failure::validation("dryRun", "Member must be a boolean"));
        }
    }
    for key in ["KeyId", "TargetKeyId", "SourceKeyId", "DestinationKeyId"] {
        length(input, key, 1, 2048)?;
    }
    Ok(())
}

fn required(input: &Input, members: &[&str]) -> Result<(), Failure> {
    for m in members {
        if input.get(*m).is_none_or(Value::is_null) {
            return Err(Failure::missing(m));
        }
    }
    Ok(())
}

fn string<'a>(input: &'a Input, member: &str) -> Result<Option<&'a str>, Failure> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Failure::validation(
            &lower_first(member),
            "Member must be a string",
        )),
    }
}

fn length(input: &Input, member: &str, min: usize, max: usize) -> Result<(), Failure> {
    if let Some(s) = string(input, member)? {
        let n = s.chars().count();
        if n < min {
            return Err(Failure::validation(
                &lower_first(member),
                &format!("Member must have length greater than or equal to {min}"),
            ));
        }
        if n > max {
            return Err(Failure::validation(
                &lower_first(member),
                &format!("Member must have length less than or equal to {max}"),
            ));
        }
    }
    Ok(())
}

fn integer(input: &Input, member: &str, min: i64, max: i64) -> Result<Option<i64>, Failure> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let n = v.as_i64().ok_or_else(|| {
                Failure::validation(&lower_first(member), "Member must be an integer")
            })?;
            if n < min {
                return Err(Failure::validation(
                    &lower_first(member),
                    &format!("Member must have value greater than or equal to {min}"),
                ));
            }
            if n > max {
                return Err(Failure::validation(
                    &lower_first(member),
                    &format!("Member must have value less than or equal to {max}"),
                ));
            }
            Ok(Some(n))
        }
    }
}

fn one_of(value: &str, member: &str, allowed: &[&str]) -> Result<(), Failure> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(Failure::validation(
            member,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        ))
    }
}

/// A base64 blob whose decoded length is within bounds.
fn blob(input: &Input, member: &str, min: usize, max: usize) -> Result<(), Failure> {
    let Some(text) = string(input, member)? else {
        return Ok(());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|_| Failure::validation(&lower_first(member), "Member must be valid base64"))?;
    if bytes.len() < min {
        return Err(Failure::validation(
            &lower_first(member),
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if bytes.len() > max {
        return Err(Failure::validation(
            &lower_first(member),
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

fn encryption_context(input: &Input, member: &str) -> Result<(), Failure> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(()),
        Some(_) => Err(Failure::validation(
            &lower_first(member),
            "Member must be a map of strings to strings",
        )),
    }
}

fn tags(input: &Input) -> Result<(), Failure> {
    let bad = || {
        Failure::error(
            ErrorCode::TagException,
            "Tags must be a list of {TagKey, TagValue} pairs",
        )
    };
    let list = input
        .get("Tags")
        .and_then(Value::as_array)
        .ok_or_else(bad)?;
    for t in list {
        let key = t.get("TagKey").and_then(Value::as_str).ok_or_else(bad)?;
        let value = t.get("TagValue").and_then(Value::as_str).ok_or_else(bad)?;
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(bad());
        }
    }
    Ok(())
}

/// Alias names must be `alias/…`; CreateAlias also rejects the reserved
/// `alias/aws/` prefix (UpdateAlias and DeleteAlias do not model that error:
/// such calls fail authorization on the AWS managed key instead).
fn alias_name(input: &Input, reject_reserved: bool) -> Result<(), Failure> {
    let name = string(input, "AliasName")?.unwrap_or_default();
    let ok = name.starts_with("alias/")
        && name.len() > "alias/".len()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b));
    if !ok {
        return Err(Failure::error(
            ErrorCode::ValidationException,
            format!(
                "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"
            ),
        ));
    }
    if reject_reserved && name.starts_with("alias/aws/") {
        return Err(Failure::error(
            ErrorCode::InvalidAliasNameException,
            format!("{name} cannot begin with alias/aws/: it is reserved for AWS managed keys."),
        ));
    }
    Ok(())
}

/// `KeySpec` and `KeyUsage` of CreateKey must be a valid pair (spec §9).
fn key_spec_and_usage(input: &Input) -> Result<(), Failure> {
    let spec = match string(input, "KeySpec")? {
        Some(s) => s,
        None => string(input, "CustomerMasterKeySpec")?.unwrap_or("SYMMETRIC_DEFAULT"),
    };
    let usage = string(input, "KeyUsage")?;
    let allowed: &[&str] = match spec {
        "SYMMETRIC_DEFAULT" => &["ENCRYPT_DECRYPT"],
        "RSA_2048" | "RSA_3072" | "RSA_4096" => &["ENCRYPT_DECRYPT", "SIGN_VERIFY"],
        "ECC_NIST_P256" | "ECC_NIST_P384" | "ECC_NIST_P521" => &["SIGN_VERIFY", "KEY_AGREEMENT"],
        "ECC_SECG_P256K1" | "ECC_NIST_EDWARDS25519" | "ML_DSA_44" | "ML_DSA_65" | "ML_DSA_87" => {
            &["SIGN_VERIFY"]
        }
        "HMAC_224" | "HMAC_256" | "HMAC_384" | "HMAC_512" => &["GENERATE_VERIFY_MAC"],
        "SM2" => &["ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"],
        other => {
            return Err(Failure::validation(
                "keySpec",
                &format!("Member must satisfy enum value set (got {other})"),
            ))
        }
    };
    match usage {
        None if spec == "SYMMETRIC_DEFAULT" => Ok(()),
        None => Err(Failure::error(
            ErrorCode::ValidationException,
            format!("You must specify a KeyUsage value for a {spec} KMS key."),
        )),
        Some(u) if allowed.contains(&u) => Ok(()),
        Some(u) => Err(Failure::error(
            ErrorCode::ValidationException,
            format!("KeyUsage {u} is not compatible with KeySpec {spec}."),
        )),
    }
}
