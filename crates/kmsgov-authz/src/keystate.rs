//! Key state and key usage rules (spec §2.10, §9), checked after authorization.

use serde_json::{Map, Value};

use crate::decision::ErrorCode;
use crate::failure::Failure;
use crate::operation::{Operation, StateRule, UsageNeed};
use crate::world::{Key, KeyState};

/// The error a key's state causes for an operation, if any.
pub(crate) fn state_error(op: Operation, rule: StateRule, key: &Key) -> Option<Failure> {
    use KeyState as S;
    let arn = &key.arn;
    let invalid = |what: &str| {
        Some(Failure::error(
            ErrorCode::KMSInvalidStateException,
            format!("{arn} is {what}."),
        ))
    };
    let disabled = || {
        Some(Failure::error(
            ErrorCode::DisabledException,
            format!("{arn} is disabled."),
        ))
    };
    let pending_deletion = || match key.state {
        S::PendingReplicaDeletion => invalid("pending replica deletion"),
        _ => invalid("pending deletion"),
    };
    match rule {
        StateRule::Any => None,
        StateRule::Crypto
        | StateRule::CreateGrant
        | StateRule::Asymmetric
        | StateRule::MultiRegion => match key.state {
            S::Enabled => None,
            S::Updating if rule == StateRule::MultiRegion && op == Operation::ReplicateKey => {
                invalid("updating")
            }
            S::Updating => None,
            S::Disabled => disabled(),
            S::PendingDeletion | S::PendingReplicaDeletion => pending_deletion(),
            S::PendingImport => invalid("pending import"),
            S::Unavailable if rule == StateRule::CreateGrant => None,
            S::Unavailable => invalid("unavailable"),
            S::Creating => invalid("creating"),
        },
        StateRule::EnableDisable => match key.state {
            S::Enabled | S::Disabled | S::Unavailable => None,
            S::PendingDeletion | S::PendingReplicaDeletion => pending_deletion(),
            S::PendingImport => invalid("pending import"),
            S::Creating => invalid("creating"),
            S::Updating => invalid("updating"),
        },
        StateRule::Rotation => {
            if matches!(
                op,
                Operation::GetKeyRotationStatus | Operation::ListKeyRotations
            ) {
                return match key.state {
                    S::PendingImport => invalid("pending import"),
                    S::Unavailable => invalid("unavailable"),
                    _ => unsupported_rotation(key),
                };
            }
            if key.origin == "EXTERNAL" && op != Operation::RotateKeyOnDemand {
                return Some(Failure::error(
                    ErrorCode::UnsupportedOperationException,
                    format!("{arn} origin is EXTERNAL which is not valid for this operation."),
                ));
            }
            match key.state {
                S::Enabled | S::Updating => unsupported_rotation(key),
                S::Disabled => disabled(),
                S::PendingDeletion | S::PendingReplicaDeletion => pending_deletion(),
                S::PendingImport => invalid("pending import"),
                S::Unavailable => invalid("unavailable"),
                S::Creating => invalid("creating"),
            }
        }
        StateRule::Schedule => match key.state {
            S::PendingDeletion | S::PendingReplicaDeletion => pending_deletion(),
            S::Updating => invalid("updating"),
            _ => None,
        },
        StateRule::Cancel => match key.state {
            S::PendingDeletion | S::PendingReplicaDeletion => None,
            _ => invalid("not pending deletion"),
        },
        StateRule::NotPendingDeletion => match key.state {
            S::PendingDeletion | S::PendingReplicaDeletion => pending_deletion(),
            _ => None,
        },
        StateRule::Import => {
            if key.origin != "EXTERNAL" {
                return Some(Failure::error(
                    ErrorCode::UnsupportedOperationException,
                    format!(
                        "{arn} origin is {} which is not valid for this operation.",
                        key.origin
                    ),
                ));
            }
            match key.state {
                S::PendingDeletion | S::PendingReplicaDeletion => pending_deletion(),
                S::Unavailable => invalid("unavailable"),
                S::Creating => invalid("creating"),
                S::Updating if op == Operation::GetParametersForImport => invalid("updating"),
                _ => None,
            }
        }
    }
}

/// Rotation works only for symmetric encryption keys in AWS KMS key material.
fn unsupported_rotation(key: &Key) -> Option<Failure> {
    if key.spec != "SYMMETRIC_DEFAULT"
        || key.origin == "AWS_CLOUDHSM"
        || key.origin == "EXTERNAL_KEY_STORE"
    {
        return Some(Failure::error(
            ErrorCode::UnsupportedOperationException,
            format!("{} does not support automatic key rotation.", key.arn),
        ));
    }
    None
}

/// The error a key's usage or spec causes for an operation, if any.
pub(crate) fn usage_error(
    op: Operation,
    need: UsageNeed,
    key: &Key,
    input: &Map<String, Value>,
) -> Option<Failure> {
    let usage_is = |u: &str| key.usage == u;
    let wrong = |what: &str| {
        Some(Failure::error(
            ErrorCode::InvalidKeyUsageException,
            format!(
                "{} key usage is {} which is not valid for {what}.",
                key.arn, key.usage
            ),
        ))
    };
    let string = |m: &str| input.get(m).and_then(Value::as_str);
    match need {
        UsageNeed::None => None,
        UsageNeed::EncryptDecrypt | UsageNeed::ReEncryptDestination => {
            if !usage_is("ENCRYPT_DECRYPT") {
                return wrong(op.name());
            }
            let member = match (need, op) {
                (UsageNeed::ReEncryptDestination, _) => "DestinationEncryptionAlgorithm",
                (_, Operation::ReEncrypt) => "SourceEncryptionAlgorithm",
                _ => "EncryptionAlgorithm",
            };
            encryption_algorithm_error(key, string(member).unwrap_or("SYMMETRIC_DEFAULT"))
        }
        UsageNeed::SymmetricEncrypt => {
            if key.spec != "SYMMETRIC_DEFAULT" || !usage_is("ENCRYPT_DECRYPT") {
                return Some(Failure::error(
                    ErrorCode::InvalidKeyUsageException,
                    format!(
                        "{} key spec is {} which is not valid for {}.",
                        key.arn,
                        key.spec,
                        op.name()
                    ),
                ));
            }
            None
        }
        UsageNeed::SignVerify => {
            if !usage_is("SIGN_VERIFY") {
                return wrong(op.name());
            }
            let alg = string("SigningAlgorithm").unwrap_or_default();
            let ok = match key.spec.as_str() {
                "RSA_2048" | "RSA_3072" | "RSA_4096" => alg.starts_with("RSASSA_"),
                "ECC_NIST_P256" | "ECC_SECG_P256K1" => alg == "ECDSA_SHA_256",
                "ECC_NIST_P384" => alg == "ECDSA_SHA_384",
                "ECC_NIST_P521" => alg == "ECDSA_SHA_512",
                "ECC_NIST_EDWARDS25519" => alg == "ED25519_SHA_512" || alg == "ED25519_PH_SHA_512",
                "ML_DSA_44" | "ML_DSA_65" | "ML_DSA_87" => alg == "ML_DSA_SHAKE_256",
                "SM2" => alg == "SM2DSA",
                _ => false,
            };
            (!ok).then(|| incompatible(alg, key))
        }
        UsageNeed::Mac => {
            if !usage_is("GENERATE_VERIFY_MAC") {
                return wrong(op.name());
            }
            let alg = string("MacAlgorithm").unwrap_or_default();
            let ok = key
                .spec
                .strip_prefix("HMAC_")
                .is_some_and(|bits| alg.strip_prefix("HMAC_SHA_") == Some(bits));
            (!ok).then(|| incompatible(alg, key))
        }
        UsageNeed::KeyAgreement => (!usage_is("KEY_AGREEMENT"))
            .then(|| wrong(op.name()))
            .flatten(),
        UsageNeed::Asymmetric => {
            let symmetric = key.spec == "SYMMETRIC_DEFAULT" || key.spec.starts_with("HMAC_");
            symmetric.then(|| {
                Failure::error(
                    ErrorCode::UnsupportedOperationException,
                    format!(
                        "{} key spec is {} which is not valid for GetPublicKey.",
                        key.arn, key.spec
                    ),
                )
            })
        }
    }
}

/// Is `alg` an encryption algorithm of the key's spec?
pub(crate) fn encryption_algorithm_error(key: &Key, alg: &str) -> Option<Failure> {
    let ok = match key.spec.as_str() {
        "SYMMETRIC_DEFAULT" => alg == "SYMMETRIC_DEFAULT",
        "RSA_2048" | "RSA_3072" | "RSA_4096" => {
            alg == "RSAES_OAEP_SHA_1" || alg == "RSAES_OAEP_SHA_256"
        }
        "SM2" => alg == "SM2PKE",
        _ => false,
    };
    (!ok).then(|| incompatible(alg, key))
}

/// Grant operations that make sense for the key (spec §3.1).
pub(crate) fn grant_operation_valid(key: &Key, op: &str) -> bool {
    let symmetric = key.spec == "SYMMETRIC_DEFAULT";
    match op {
        "CreateGrant" | "RetireGrant" | "DescribeKey" => true,
        "Encrypt" | "Decrypt" | "ReEncryptFrom" | "ReEncryptTo" => key.usage == "ENCRYPT_DECRYPT",
        "GenerateDataKey"
        | "GenerateDataKeyWithoutPlaintext"
        | "GenerateDataKeyPair"
        | "GenerateDataKeyPairWithoutPlaintext" => symmetric && key.usage == "ENCRYPT_DECRYPT",
        "Sign" | "Verify" => key.usage == "SIGN_VERIFY",
        "GetPublicKey" => !symmetric && !key.spec.starts_with("HMAC_"),
        "GenerateMac" | "VerifyMac" => key.usage == "GENERATE_VERIFY_MAC",
        "DeriveSharedSecret" => key.usage == "KEY_AGREEMENT",
        _ => false,
    }
}

/// `InvalidKeyUsageException` for an algorithm the key's spec does not support.
fn incompatible(alg: &str, key: &Key) -> Failure {
    Failure::error(
        ErrorCode::InvalidKeyUsageException,
        format!(
            "Algorithm {alg} is incompatible with key spec {}.",
            key.spec
        ),
    )
}
