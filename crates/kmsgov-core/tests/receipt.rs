//! Use receipts: issue and verify, each reason for a refusal, attenuation
//! that narrows and cannot broaden, tampering, foreign keys, Datalog
//! injection, and hostile input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE;
use base64::Engine as _;
use biscuit_auth::{Biscuit, BlockBuilder};
use kmsgov_core::receipt::{
    attenuate, inspect_unverified, plaintext_commitment, verify, Narrowing, PublicKeyText,
    ReceiptClaims, ReceiptError, ReceiptIssuer, UseCheck, MAX_BLOCKS, MAX_TOKEN_LEN,
};
use kmsgov_core::root_key::RootKey;

const SEED: [u8; 32] = [0x5a; 32];
const SALT: [u8; 32] = [0x11; 32];
const PLAINTEXT: &[u8] = b"4111 1111 1111 1111";
const EXPIRES: i64 = 1_780_315_200; // 2026-06-01T12:00:00Z
const NOW: i64 = EXPIRES - 600;

fn issuer() -> ReceiptIssuer {
    ReceiptIssuer::from_seed(&SEED).unwrap()
}

fn root() -> PublicKeyText {
    issuer().public_key()
}

fn claims() -> ReceiptClaims {
    ReceiptClaims {
        receipt_id: [0x01; 16],
        kms: "kmsgov/us-east-1".into(),
        ciphertext: [0x02; 32],
        key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        key_version: 3,
        data_policy: [0x03; 32],
        holder: [0x04; 32],
        plaintext_commit: plaintext_commitment(&SALT, PLAINTEXT),
        audit_origin: "kmsgov/audit/us-east-1/0".into(),
        audit_index: 1_234_567,
        governance_size: 42,
        governance_root: [0x05; 32],
        // Sorted, as they are read back.
        purposes: vec!["chargeback-review".into(), "fraud-scoring".into()],
        audiences: vec!["svc:archive".into(), "svc:scoring".into()],
        reshare_depth: 1,
        expires_unix: EXPIRES,
    }
}

fn token() -> String {
    issuer().issue(&claims()).unwrap()
}

fn use_check() -> UseCheck<'static> {
    UseCheck {
        now_unix: NOW,
        purpose: "fraud-scoring".into(),
        audience: "svc:scoring".into(),
        hop: 0,
        plaintext: None,
    }
}

fn check_with(f: impl FnOnce(&mut UseCheck<'static>)) -> UseCheck<'static> {
    let mut check = use_check();
    f(&mut check);
    check
}

#[test]
fn issue_then_verify_returns_exactly_the_claims() {
    let verified = verify(&token(), &root(), &use_check()).unwrap();
    assert_eq!(verified.claims, claims());
    assert_eq!(verified.blocks.len(), 1);
    assert_eq!(verified.blocks[0].revocation_id.len(), 64);
    assert_eq!(verified.blocks[0].third_party_key, None);
    assert!(!verified.plaintext_checked);
}

#[test]
fn purposes_and_audiences_are_read_back_sorted_and_deduplicated() {
    let mut unsorted = claims();
    unsorted.purposes = vec![
        "fraud-scoring".into(),
        "chargeback-review".into(),
        "fraud-scoring".into(),
    ];
    unsorted.audiences = vec!["svc:scoring".into(), "svc:archive".into()];
    let token = issuer().issue(&unsorted).unwrap();
    let verified = verify(&token, &root(), &use_check()).unwrap();
    assert_eq!(verified.claims, claims());
}

#[test]
fn the_authority_block_holds_the_profile_datalog() {
    let blocks = inspect_unverified(&token()).unwrap();
    assert_eq!(blocks.len(), 1);
    let text = &blocks[0];
    for line in [
        "receipt(hex:01010101010101010101010101010101);",
        "kms(\"kmsgov/us-east-1\");",
        "key(\"1234abcd-12ab-34cd-56ef-1234567890ab\", 3);",
        "audit(\"kmsgov/audit/us-east-1/0\", 1234567);",
        "reshare_depth(1);",
        "purpose(\"fraud-scoring\");",
        "audience(\"svc:archive\");",
        "check if time($t), $t <= 2026-06-01T12:00:00Z;",
        "check if service($s), audience($s);",
        "check if use_purpose($p), purpose($p);",
        "check if hop($h), reshare_depth($d), $h <= $d;",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(text.contains(&format!("governance(42, hex:{});", "05".repeat(32))));
}

#[test]
fn expired_receipt_is_refused() {
    let at_expiry = check_with(|c| c.now_unix = EXPIRES);
    assert!(verify(&token(), &root(), &at_expiry).is_ok());
    let after = check_with(|c| c.now_unix = EXPIRES + 1);
    assert_eq!(
        verify(&token(), &root(), &after),
        Err(ReceiptError::Expired { block: 0 })
    );
}

#[test]
fn wrong_purpose_is_refused() {
    let check = check_with(|c| c.purpose = "marketing".into());
    assert_eq!(
        verify(&token(), &root(), &check),
        Err(ReceiptError::PurposeNotAllowed { block: 0 })
    );
}

#[test]
fn wrong_audience_is_refused() {
    let check = check_with(|c| c.audience = "svc:ads".into());
    assert_eq!(
        verify(&token(), &root(), &check),
        Err(ReceiptError::AudienceNotAllowed { block: 0 })
    );
}

#[test]
fn plaintext_that_matches_is_accepted() {
    let check = check_with(|c| c.plaintext = Some((SALT, PLAINTEXT)));
    let verified = verify(&token(), &root(), &check).unwrap();
    assert!(verified.plaintext_checked);
}

#[test]
fn plaintext_that_differs_is_refused() {
    let other = check_with(|c| c.plaintext = Some((SALT, b"4111 1111 1111 1112")));
    assert_eq!(
        verify(&token(), &root(), &other),
        Err(ReceiptError::PlaintextMismatch)
    );
    let other_salt = check_with(|c| c.plaintext = Some(([0x12; 32], PLAINTEXT)));
    assert_eq!(
        verify(&token(), &root(), &other_salt),
        Err(ReceiptError::PlaintextMismatch)
    );
}

#[test]
fn plaintext_commitment_is_sha256_of_label_salt_and_plaintext() {
    let mut input = b"kmsgov/pt".to_vec();
    input.extend_from_slice(&SALT);
    input.extend_from_slice(PLAINTEXT);
    assert_eq!(
        plaintext_commitment(&SALT, PLAINTEXT).as_slice(),
        digest(&SHA256, &input).as_ref()
    );
}

#[test]
fn hop_beyond_reshare_depth_is_refused() {
    let at_depth = check_with(|c| c.hop = 1);
    assert!(verify(&token(), &root(), &at_depth).is_ok());
    let beyond = check_with(|c| c.hop = 2);
    assert_eq!(
        verify(&token(), &root(), &beyond),
        Err(ReceiptError::ReshareDepthExceeded { block: 0 })
    );
}

#[test]
fn the_first_failed_check_of_the_authority_block_is_reported() {
    let everything_wrong = UseCheck {
        now_unix: EXPIRES + 1,
        purpose: "marketing".into(),
        audience: "svc:ads".into(),
        hop: 9,
        plaintext: None,
    };
    assert_eq!(
        verify(&token(), &root(), &everything_wrong),
        Err(ReceiptError::Expired { block: 0 })
    );
}

#[test]
fn attenuated_purpose_refuses_what_the_original_allowed() {
    let original = token();
    let review = check_with(|c| c.purpose = "chargeback-review".into());
    assert!(verify(&original, &root(), &review).is_ok());

    let narrowed = attenuate(
        &original,
        &root(),
        &Narrowing {
            purposes: Some(vec!["fraud-scoring".into()]),
            ..Narrowing::default()
        },
    )
    .unwrap();
    assert_eq!(
        verify(&narrowed, &root(), &review),
        Err(ReceiptError::PurposeNotAllowed { block: 1 })
    );
    let verified = verify(&narrowed, &root(), &use_check()).unwrap();
    assert_eq!(verified.claims, claims(), "claims come from the authority");
    assert_eq!(verified.blocks.len(), 2);
}

#[test]
fn attenuated_audience_and_expiry_are_enforced() {
    let narrowed = attenuate(
        &token(),
        &root(),
        &Narrowing {
            purposes: None,
            audiences: Some(vec!["svc:scoring".into()]),
            expires_unix: Some(NOW + 60),
        },
    )
    .unwrap();
    assert!(verify(&narrowed, &root(), &use_check()).is_ok());
    let archive = check_with(|c| c.audience = "svc:archive".into());
    assert_eq!(
        verify(&narrowed, &root(), &archive),
        Err(ReceiptError::AudienceNotAllowed { block: 1 })
    );
    let later = check_with(|c| c.now_unix = NOW + 61);
    assert_eq!(
        verify(&narrowed, &root(), &later),
        Err(ReceiptError::Expired { block: 1 })
    );
}

#[test]
fn attenuations_stack() {
    let once = attenuate(
        &token(),
        &root(),
        &Narrowing {
            purposes: Some(vec!["fraud-scoring".into(), "chargeback-review".into()]),
            ..Narrowing::default()
        },
    )
    .unwrap();
    let twice = attenuate(
        &once,
        &root(),
        &Narrowing {
            purposes: Some(vec!["chargeback-review".into()]),
            ..Narrowing::default()
        },
    )
    .unwrap();
    assert_eq!(
        verify(&twice, &root(), &use_check()),
        Err(ReceiptError::PurposeNotAllowed { block: 2 })
    );
    let review = check_with(|c| c.purpose = "chargeback-review".into());
    assert_eq!(verify(&twice, &root(), &review).unwrap().blocks.len(), 3);
}

#[test]
fn a_narrowing_to_new_purposes_does_not_enable_them() {
    let widened = attenuate(
        &token(),
        &root(),
        &Narrowing {
            purposes: Some(vec!["marketing".into(), "fraud-scoring".into()]),
            audiences: Some(vec!["svc:ads".into(), "svc:scoring".into()]),
            expires_unix: Some(EXPIRES + 86_400),
        },
    )
    .unwrap();
    let marketing = check_with(|c| c.purpose = "marketing".into());
    assert_eq!(
        verify(&widened, &root(), &marketing),
        Err(ReceiptError::PurposeNotAllowed { block: 0 })
    );
    let ads = check_with(|c| c.audience = "svc:ads".into());
    assert_eq!(
        verify(&widened, &root(), &ads),
        Err(ReceiptError::AudienceNotAllowed { block: 0 })
    );
    let late = check_with(|c| c.now_unix = EXPIRES + 1);
    assert_eq!(
        verify(&widened, &root(), &late),
        Err(ReceiptError::Expired { block: 0 })
    );
}

#[test]
fn a_block_claiming_extra_facts_does_not_broaden() {
    // A holder appends facts of the authority's names: more purposes,
    // audiences, a deeper re-share, and a second receipt.
    let original = Biscuit::from_base64(token(), root_biscuit_key()).unwrap();
    let block = BlockBuilder::new()
        .code(
            r#"purpose("marketing");
               audience("svc:ads");
               reshare_depth(100);
               receipt(hex:ffffffffffffffffffffffffffffffff);
               kms("evil");
               purpose($p) <- use_purpose($p);
               audience($s) <- service($s);"#,
        )
        .unwrap();
    let broadened = original.append(block).unwrap().to_base64().unwrap();

    for (check, expected) in [
        (
            check_with(|c| c.purpose = "marketing".into()),
            ReceiptError::PurposeNotAllowed { block: 0 },
        ),
        (
            check_with(|c| c.audience = "svc:ads".into()),
            ReceiptError::AudienceNotAllowed { block: 0 },
        ),
        (
            check_with(|c| c.hop = 5),
            ReceiptError::ReshareDepthExceeded { block: 0 },
        ),
    ] {
        assert_eq!(verify(&broadened, &root(), &check), Err(expected));
    }
    // What it still allows, it allows with the authority's claims only.
    let verified = verify(&broadened, &root(), &use_check()).unwrap();
    assert_eq!(verified.claims, claims());
}

#[test]
fn an_unknown_check_in_a_block_is_reported_as_such() {
    let original = Biscuit::from_base64(token(), root_biscuit_key()).unwrap();
    let block = BlockBuilder::new()
        .code("check if dlp_scanned(true);")
        .unwrap();
    let gated = original.append(block).unwrap().to_base64().unwrap();
    assert_eq!(
        verify(&gated, &root(), &use_check()),
        Err(ReceiptError::CheckFailed {
            block: 1,
            rule: "check if dlp_scanned(true)".into()
        })
    );
}

#[test]
fn attenuating_needs_something_to_narrow_and_the_right_root() {
    assert!(matches!(
        attenuate(&token(), &root(), &Narrowing::default()),
        Err(ReceiptError::InvalidInput(_))
    ));
    let other = ReceiptIssuer::from_seed(&[0x77; 32]).unwrap().public_key();
    let narrowing = Narrowing {
        purposes: Some(vec![]),
        ..Narrowing::default()
    };
    assert_eq!(
        attenuate(&token(), &other, &narrowing),
        Err(ReceiptError::BadSignature)
    );
    // An empty list allows nothing.
    let nothing = attenuate(&token(), &root(), &narrowing).unwrap();
    assert_eq!(
        verify(&nothing, &root(), &use_check()),
        Err(ReceiptError::PurposeNotAllowed { block: 1 })
    );
}

#[test]
fn block_count_is_capped() {
    let narrowing = Narrowing {
        expires_unix: Some(EXPIRES),
        ..Narrowing::default()
    };
    let mut token = token();
    for _ in 1..MAX_BLOCKS {
        token = attenuate(&token, &root(), &narrowing).unwrap();
    }
    assert_eq!(
        verify(&token, &root(), &use_check()).unwrap().blocks.len(),
        MAX_BLOCKS
    );
    assert_eq!(
        attenuate(&token, &root(), &narrowing),
        Err(ReceiptError::TooManyBlocks {
            blocks: MAX_BLOCKS + 1
        })
    );
    // A longer chain built with the library directly is refused.
    let longer = Biscuit::from_base64(&token, root_biscuit_key())
        .unwrap()
        .append(BlockBuilder::new())
        .unwrap()
        .to_base64()
        .unwrap();
    assert_eq!(
        verify(&longer, &root(), &use_check()),
        Err(ReceiptError::TooManyBlocks {
            blocks: MAX_BLOCKS + 1
        })
    );
}

#[test]
fn every_single_byte_change_is_rejected() {
    let token = token();
    let raw = URL_SAFE.decode(&token).unwrap();
    assert!(raw.len() > 300, "a receipt is {} bytes", raw.len());
    // Every byte with its low bit flipped, and every seventh byte inverted.
    for i in 0..raw.len() {
        let flips: &[u8] = if i % 7 == 0 { &[0x01, 0xff] } else { &[0x01] };
        for &flip in flips {
            let mut changed = raw.clone();
            changed[i] ^= flip;
            let changed = URL_SAFE.encode(&changed);
            let result = verify(&changed, &root(), &use_check());
            assert!(
                result.is_err(),
                "byte {i} of {} xor {flip:#04x} still verifies",
                raw.len()
            );
        }
    }
}

#[test]
fn every_single_byte_change_of_an_attenuated_receipt_is_rejected() {
    let narrowed = attenuate(
        &token(),
        &root(),
        &Narrowing {
            purposes: Some(vec!["fraud-scoring".into()]),
            ..Narrowing::default()
        },
    )
    .unwrap();
    let raw = URL_SAFE.decode(&narrowed).unwrap();
    // Every third byte: the authority block, its signature, the new block,
    // its signature and the proof each span hundreds of bytes or at least 32.
    for i in (0..raw.len()).step_by(3) {
        let mut changed = raw.clone();
        changed[i] ^= 0x01;
        let changed = URL_SAFE.encode(&changed);
        assert!(
            verify(&changed, &root(), &use_check()).is_err(),
            "byte {i} of {} still verifies",
            raw.len()
        );
    }
}

#[test]
fn truncated_tokens_are_rejected() {
    let raw = URL_SAFE.decode(token()).unwrap();
    for len in 0..raw.len() {
        let cut = URL_SAFE.encode(&raw[..len]);
        assert!(verify(&cut, &root(), &use_check()).is_err(), "length {len}");
    }
}

#[test]
fn a_receipt_signed_by_another_root_key_is_rejected() {
    let other = ReceiptIssuer::from_seed(&[0x77; 32]).unwrap();
    let forged = other.issue(&claims()).unwrap();
    assert_eq!(
        verify(&forged, &root(), &use_check()),
        Err(ReceiptError::BadSignature)
    );
    assert!(verify(&forged, &other.public_key(), &use_check()).is_ok());
}

#[test]
fn datalog_in_strings_stays_a_literal() {
    let injected = r#"fraud-scoring"), purpose("marketing"#;
    let mut sneaky = claims();
    sneaky.purposes = vec![injected.into()];
    sneaky.audiences = vec![r#"svc:scoring"); audience("svc:ads"#.into()];
    sneaky.kms = "kmsgov\"); check if false; //".into();
    sneaky.key_id = "k\n}\u{0}{".into();
    let token = issuer().issue(&sneaky).unwrap();

    for purpose in ["marketing", "fraud-scoring"] {
        let check = UseCheck {
            audience: sneaky.audiences[0].clone(),
            ..check_with(|c| c.purpose = purpose.into())
        };
        assert_eq!(
            verify(&token, &root(), &check),
            Err(ReceiptError::PurposeNotAllowed { block: 0 }),
            "purpose {purpose}"
        );
    }
    let ads = UseCheck {
        purpose: injected.into(),
        ..check_with(|c| c.audience = "svc:ads".into())
    };
    assert_eq!(
        verify(&token, &root(), &ads),
        Err(ReceiptError::AudienceNotAllowed { block: 0 })
    );
    let literal = UseCheck {
        purpose: injected.into(),
        audience: sneaky.audiences[0].clone(),
        ..use_check()
    };
    let verified = verify(&token, &root(), &literal).unwrap();
    assert_eq!(verified.claims, sneaky);

    // The verifier's own facts are literals too.
    let verifier_side = check_with(|c| c.purpose = r#"x"), use_purpose("fraud-scoring"#.into());
    assert_eq!(
        verify(&self::token(), &root(), &verifier_side),
        Err(ReceiptError::PurposeNotAllowed { block: 0 })
    );

    // And so are a narrowing's.
    let narrowed = attenuate(
        &self::token(),
        &root(),
        &Narrowing {
            purposes: Some(vec![r#"a"}.contains($p) or true, {"b"#.into()]),
            ..Narrowing::default()
        },
    )
    .unwrap();
    assert_eq!(
        verify(&narrowed, &root(), &use_check()),
        Err(ReceiptError::PurposeNotAllowed { block: 1 })
    );
}

#[test]
fn hostile_input_is_an_error_not_a_panic() {
    let huge = "A".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(
        verify(&huge, &root(), &use_check()),
        Err(ReceiptError::TooLong {
            len: MAX_TOKEN_LEN + 1
        })
    );
    assert_eq!(
        inspect_unverified(&huge),
        Err(ReceiptError::TooLong {
            len: MAX_TOKEN_LEN + 1
        })
    );
    for text in [
        "",
        "not base64!",
        "====",
        "\u{1F600}",
        "AAAA",
        "En8KFQoDaGV5GAMiDAoKCAQSAhgAEgIYABIkCAASIA",
    ] {
        assert!(matches!(
            verify(text, &root(), &use_check()),
            Err(ReceiptError::Malformed(_))
        ));
        assert!(inspect_unverified(text).is_err());
    }
    // Pseudo-random bytes, base64url-encoded.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for len in [1usize, 7, 64, 300, 2000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let text = URL_SAFE.encode(bytes);
        assert!(verify(&text, &root(), &use_check()).is_err());
        let _ = inspect_unverified(&text);
    }
    assert_eq!(
        verify(&token(), &root(), &check_with(|c| c.now_unix = -1)),
        Err(ReceiptError::InvalidInput("the time is before 1970"))
    );
}

#[test]
fn claims_that_do_not_fit_are_refused() {
    for (claims, what) in [
        (
            ReceiptClaims {
                expires_unix: -1,
                ..claims()
            },
            "the expiry is before 1970",
        ),
        (
            ReceiptClaims {
                audit_index: u64::MAX,
                ..claims()
            },
            "the audit index is beyond i64::MAX",
        ),
        (
            ReceiptClaims {
                governance_size: u64::MAX,
                ..claims()
            },
            "the governance size is beyond i64::MAX",
        ),
        (
            ReceiptClaims {
                purposes: vec!["p".repeat(MAX_TOKEN_LEN)],
                ..claims()
            },
            "the receipt would be over the token length limit",
        ),
    ] {
        assert_eq!(
            issuer().issue(&claims),
            Err(ReceiptError::InvalidInput(what))
        );
    }
}

#[test]
fn verifier_key_is_biscuit_text_and_parses_back() {
    let key = issuer().verifier_key();
    assert!(key.starts_with("ed25519/"), "{key}");
    assert_eq!(key.len(), "ed25519/".len() + 64);
    assert_eq!(PublicKeyText::parse(&key).unwrap().to_string(), key);
    assert_eq!(root_biscuit_key().to_string(), key);
    assert_eq!(PublicKeyText::parse(&format!("  {key}\n")).unwrap(), root());
    for bad in [
        "",
        "ed25519/",
        "ed25519/00",
        &key.replace("ed25519", "secp256r1"),
        &format!("{key}00"),
        &format!("{key}zz"),
        "ed25519/+0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        assert_eq!(
            PublicKeyText::parse(bad),
            Err(ReceiptError::BadVerifierKey),
            "{bad}"
        );
    }
}

#[test]
fn issuer_from_root_key_uses_the_receipt_label() {
    let root_key = RootKey::from_bytes(&[9; 32]).unwrap();
    let seed = root_key.derive("kmsgov/receipt/root-key").unwrap();
    assert_eq!(
        ReceiptIssuer::from_root_key(&root_key)
            .unwrap()
            .verifier_key(),
        ReceiptIssuer::from_seed(&seed).unwrap().verifier_key()
    );
}

#[test]
fn debug_output_hides_the_secrets() {
    let issuer = issuer();
    let text = format!("{issuer:?}");
    assert!(text.contains(&issuer.verifier_key()), "{text}");
    let seed_hex: String = SEED.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!text.contains(&seed_hex), "{text}");
    assert!(!text.contains("90, 90, 90"), "{text}");

    let check = check_with(|c| c.plaintext = Some((SALT, PLAINTEXT)));
    let text = format!("{check:?}");
    assert!(!text.contains("4111"), "{text}");
    assert!(!text.contains("52, 49, 49"), "{text}");
}

fn root_biscuit_key() -> biscuit_auth::PublicKey {
    issuer().verifier_key().parse().unwrap()
}
