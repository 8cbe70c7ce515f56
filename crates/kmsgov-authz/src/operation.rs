//! Every KMS API operation, and what authorizing it involves (spec §6).

use std::fmt;

macro_rules! operations {
    ($($name:ident),* $(,)?) => {
        /// A KMS API operation; variant names are the exact AWS names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(missing_docs, reason = "the variants are the AWS operation names")]
        pub enum Operation { $($name),* }

        impl Operation {
            /// Every operation, in declaration order.
            pub const ALL: &'static [Operation] = &[$(Operation::$name),*];

            /// The AWS operation name.
            pub fn name(self) -> &'static str {
                match self { $(Operation::$name => stringify!($name)),* }
            }

            /// Parses an AWS operation name (exact case).
            pub fn from_name(name: &str) -> Option<Operation> {
                match name { $(stringify!($name) => Some(Operation::$name),)* _ => None }
            }
        }
    };
}

operations!(
    CancelKeyDeletion,
    ConnectCustomKeyStore,
    CreateAlias,
    CreateCustomKeyStore,
    CreateGrant,
    CreateKey,
    Decrypt,
    DeleteAlias,
    DeleteCustomKeyStore,
    DeleteImportedKeyMaterial,
    DeriveSharedSecret,
    DescribeCustomKeyStores,
    DescribeKey,
    DisableKey,
    DisableKeyRotation,
    DisconnectCustomKeyStore,
    EnableKey,
    EnableKeyRotation,
    Encrypt,
    GenerateDataKey,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
    GenerateDataKeyWithoutPlaintext,
    GenerateMac,
    GenerateRandom,
    GetKeyLastUsage,
    GetKeyPolicy,
    GetKeyRotationStatus,
    GetParametersForImport,
    GetPublicKey,
    ImportKeyMaterial,
    ListAliases,
    ListGrants,
    ListKeyPolicies,
    ListKeyRotations,
    ListKeys,
    ListResourceTags,
    ListRetirableGrants,
    PutKeyPolicy,
    ReEncrypt,
    ReplicateKey,
    RetireGrant,
    RevokeGrant,
    RotateKeyOnDemand,
    ScheduleKeyDeletion,
    Sign,
    TagResource,
    UntagResource,
    UpdateAlias,
    UpdateCustomKeyStore,
    UpdateKeyDescription,
    UpdatePrimaryRegion,
    Verify,
    VerifyMac,
);

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which key usage an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UsageNeed {
    None,
    EncryptDecrypt,
    /// The destination key of ReEncrypt (its algorithm is `DestinationEncryptionAlgorithm`).
    ReEncryptDestination,
    SymmetricEncrypt,
    SignVerify,
    Mac,
    KeyAgreement,
    Asymmetric,
}

/// Which row of the key-state table (spec §2.10) applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateRule {
    /// Encrypt, Decrypt, ReEncrypt, GenerateDataKey*.
    Crypto,
    /// CreateGrant.
    CreateGrant,
    /// Sign, Verify, GenerateMac, VerifyMac, GetPublicKey, DeriveSharedSecret.
    Asymmetric,
    /// ReplicateKey, UpdatePrimaryRegion.
    MultiRegion,
    /// EnableKey, DisableKey.
    EnableDisable,
    /// Enable/DisableKeyRotation, RotateKeyOnDemand, ListKeyRotations.
    Rotation,
    /// ScheduleKeyDeletion.
    Schedule,
    /// CancelKeyDeletion.
    Cancel,
    /// CreateAlias, TagResource, UntagResource, UpdateKeyDescription.
    NotPendingDeletion,
    /// GetParametersForImport, ImportKeyMaterial.
    Import,
    /// Everything else: any state.
    Any,
}

/// What authorizing an operation involves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// The request member naming the key, if the operation acts on one.
    pub(crate) key_param: Option<&'static str>,
    /// Whether that member may be an alias name or alias ARN.
    pub(crate) accepts_alias: bool,
    /// Whether the key may belong to another account.
    pub(crate) cross_account: bool,
    /// The grant operation that allows it, if grants can.
    pub(crate) grant_operation: Option<&'static str>,
    /// Whether the request may carry `GrantTokens`.
    pub(crate) grant_tokens: bool,
    /// Whether `DryRun` is supported.
    pub(crate) dry_run: bool,
    pub(crate) usage: UsageNeed,
    pub(crate) state: StateRule,
    /// The request member carrying the encryption context.
    pub(crate) encryption_context: Option<&'static str>,
    /// Whether the action is authorized by identity policies only (resource `*`).
    pub(crate) iam_only: bool,
}

const fn key_op(key_param: &'static str) -> Spec {
    Spec {
        key_param: Some(key_param),
        accepts_alias: false,
        cross_account: false,
        grant_operation: None,
        grant_tokens: false,
        dry_run: false,
        usage: UsageNeed::None,
        state: StateRule::Any,
        encryption_context: None,
        iam_only: false,
    }
}

const fn iam_op() -> Spec {
    Spec {
        key_param: None,
        accepts_alias: false,
        cross_account: false,
        grant_operation: None,
        grant_tokens: false,
        dry_run: false,
        usage: UsageNeed::None,
        state: StateRule::Any,
        encryption_context: None,
        iam_only: true,
    }
}

/// A cryptographic operation on a key that grants can allow.
const fn crypto(
    grant: &'static str,
    usage: UsageNeed,
    state: StateRule,
    ec: Option<&'static str>,
) -> Spec {
    Spec {
        key_param: Some("KeyId"),
        accepts_alias: true,
        cross_account: true,
        grant_operation: Some(grant),
        grant_tokens: true,
        dry_run: true,
        usage,
        state,
        encryption_context: ec,
        iam_only: false,
    }
}

impl Operation {
    /// The IAM action authorized for the operation's main resource.
    pub fn action(self) -> String {
        match self {
            Operation::ReEncrypt => "kms:ReEncryptFrom".to_owned(),
            op => format!("kms:{}", op.name()),
        }
    }

    pub(crate) fn spec(self) -> Spec {
        use Operation as O;
        use StateRule as S;
        use UsageNeed as U;
        match self {
            O::Encrypt => crypto(
                "Encrypt",
                U::EncryptDecrypt,
                S::Crypto,
                Some("EncryptionContext"),
            ),
            O::Decrypt => crypto(
                "Decrypt",
                U::EncryptDecrypt,
                S::Crypto,
                Some("EncryptionContext"),
            ),
            O::ReEncrypt => Spec {
                key_param: Some("SourceKeyId"),
                ..crypto(
                    "ReEncryptFrom",
                    U::EncryptDecrypt,
                    S::Crypto,
                    Some("SourceEncryptionContext"),
                )
            },
            O::GenerateDataKey => crypto(
                "GenerateDataKey",
                U::SymmetricEncrypt,
                S::Crypto,
                Some("EncryptionContext"),
            ),
            O::GenerateDataKeyWithoutPlaintext => crypto(
                "GenerateDataKeyWithoutPlaintext",
                U::SymmetricEncrypt,
                S::Crypto,
                Some("EncryptionContext"),
            ),
            O::GenerateDataKeyPair => crypto(
                "GenerateDataKeyPair",
                U::SymmetricEncrypt,
                S::Crypto,
                Some("EncryptionContext"),
            ),
            O::GenerateDataKeyPairWithoutPlaintext => crypto(
                "GenerateDataKeyPairWithoutPlaintext",
                U::SymmetricEncrypt,
                S::Crypto,
                Some("EncryptionContext"),
            ),
            O::Sign => crypto("Sign", U::SignVerify, S::Asymmetric, None),
            O::Verify => crypto("Verify", U::SignVerify, S::Asymmetric, None),
            O::GenerateMac => crypto("GenerateMac", U::Mac, S::Asymmetric, None),
            O::VerifyMac => crypto("VerifyMac", U::Mac, S::Asymmetric, None),
            O::GetPublicKey => Spec {
                dry_run: false,
                ..crypto("GetPublicKey", U::Asymmetric, S::Asymmetric, None)
            },
            O::DeriveSharedSecret => {
                crypto("DeriveSharedSecret", U::KeyAgreement, S::Asymmetric, None)
            }
            O::DescribeKey => Spec {
                dry_run: false,
                state: S::Any,
                ..crypto("DescribeKey", U::None, S::Any, None)
            },
            O::CreateGrant => Spec {
                key_param: Some("KeyId"),
                cross_account: true,
                grant_operation: Some("CreateGrant"),
                grant_tokens: true,
                dry_run: true,
                state: S::CreateGrant,
                ..key_op("KeyId")
            },
            O::ListGrants => Spec {
                cross_account: true,
                ..key_op("KeyId")
            },
            O::RevokeGrant => Spec {
                cross_account: true,
                dry_run: true,
                ..key_op("KeyId")
            },
            O::RetireGrant => Spec {
                cross_account: true,
                dry_run: true,
                grant_operation: Some("RetireGrant"),
                ..key_op("KeyId")
            },
            O::GetKeyRotationStatus => Spec {
                cross_account: true,
                state: S::Rotation,
                ..key_op("KeyId")
            },
            O::EnableKey | O::DisableKey => Spec {
                state: S::EnableDisable,
                ..key_op("KeyId")
            },
            O::EnableKeyRotation | O::DisableKeyRotation | O::RotateKeyOnDemand => Spec {
                state: S::Rotation,
                ..key_op("KeyId")
            },
            O::ListKeyRotations => key_op("KeyId"),
            O::ScheduleKeyDeletion => Spec {
                state: S::Schedule,
                ..key_op("KeyId")
            },
            O::CancelKeyDeletion => Spec {
                state: S::Cancel,
                ..key_op("KeyId")
            },
            O::TagResource | O::UntagResource | O::UpdateKeyDescription => Spec {
                state: S::NotPendingDeletion,
                ..key_op("KeyId")
            },
            O::CreateAlias => Spec {
                state: S::NotPendingDeletion,
                ..key_op("TargetKeyId")
            },
            O::UpdateAlias => Spec {
                state: S::Any,
                ..key_op("TargetKeyId")
            },
            O::DeleteAlias => Spec {
                key_param: None,
                ..key_op("AliasName")
            },
            O::GetParametersForImport | O::ImportKeyMaterial => Spec {
                state: S::Import,
                ..key_op("KeyId")
            },
            O::ReplicateKey | O::UpdatePrimaryRegion => Spec {
                state: S::MultiRegion,
                ..key_op("KeyId")
            },
            O::DeleteImportedKeyMaterial
            | O::GetKeyPolicy
            | O::PutKeyPolicy
            | O::ListKeyPolicies
            | O::ListResourceTags
            | O::GetKeyLastUsage => key_op("KeyId"),
            O::CreateKey
            | O::ListKeys
            | O::ListAliases
            | O::ListRetirableGrants
            | O::GenerateRandom
            | O::ConnectCustomKeyStore
            | O::CreateCustomKeyStore
            | O::DeleteCustomKeyStore
            | O::DescribeCustomKeyStores
            | O::DisconnectCustomKeyStore
            | O::UpdateCustomKeyStore => iam_op(),
        }
    }
}

/// The grant operations a grant may list (`GrantOperation` enum).
pub const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
];
