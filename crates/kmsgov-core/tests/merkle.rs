//! The Merkle tree of the logs against the RFC 6962 reference vectors (the
//! Certificate Transparency test data), and proofs over every tree shape up
//! to 40 leaves: each honest proof verifies, and any change to the leaf,
//! index, roots or proof makes it fail. (A proof does not bind the tree
//! size on its own: a signed checkpoint binds size and root together.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use kmsgov_core::merkle::{
    consistency_proof, empty_root, inclusion_proof, leaf_hash, root, verify_consistency,
    verify_inclusion, Hash,
};

fn unhex(hex: &str) -> Vec<u8> {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn h(hex: &str) -> Hash {
    unhex(hex).try_into().unwrap()
}

fn reference_leaves() -> Vec<Hash> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|hex| leaf_hash(&unhex(hex)))
    .collect()
}

/// Tree heads of the first 0..=8 reference leaves.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn tree_heads_match_the_reference() {
    let leaves = reference_leaves();
    assert_eq!(empty_root(), h(ROOTS[0]));
    for n in 0..=8 {
        assert_eq!(root(&leaves[..n]), h(ROOTS[n]), "size {n}");
    }
}

#[test]
fn inclusion_proofs_match_the_reference() {
    let leaves = reference_leaves();
    let cases: [(usize, usize, &[&str]); 3] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
    ];
    for (index, size, expected) in cases {
        let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
        let proof = inclusion_proof(&leaves[..size], index).unwrap();
        assert_eq!(proof, expected, "leaf {index} of {size}");
        assert!(verify_inclusion(
            &leaves[index],
            index as u64,
            size as u64,
            &proof,
            &h(ROOTS[size])
        ));
    }
}

#[test]
fn consistency_proofs_match_the_reference() {
    let leaves = reference_leaves();
    let cases: [(usize, usize, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (old, new, expected) in cases {
        let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
        let proof = consistency_proof(&leaves[..new], old).unwrap();
        assert_eq!(proof, expected, "{old} to {new}");
        assert!(verify_consistency(
            old as u64,
            new as u64,
            &h(ROOTS[old]),
            &h(ROOTS[new]),
            &proof
        ));
    }
}

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
        .collect()
}

fn flip(hash: &Hash) -> Hash {
    let mut out = *hash;
    out[7] ^= 0x10;
    out
}

#[test]
fn every_inclusion_proof_verifies_and_no_altered_one_does() {
    let all = leaves(40);
    for n in 1..=40 {
        let tree = &all[..n];
        let head = root(tree);
        assert!(inclusion_proof(tree, n).is_none());
        for i in 0..n {
            let proof = inclusion_proof(tree, i).unwrap();
            let (index, size) = (i as u64, n as u64);
            assert!(
                verify_inclusion(&tree[i], index, size, &proof, &head),
                "{i} of {n}"
            );
            // Another leaf, index, size or root.
            assert!(!verify_inclusion(
                &flip(&tree[i]),
                index,
                size,
                &proof,
                &head
            ));
            if n > 1 {
                let other = (i + 1) % n;
                assert!(!verify_inclusion(
                    &tree[i],
                    other as u64,
                    size,
                    &proof,
                    &head
                ));
            }
            assert!(!verify_inclusion(&tree[i], index, index, &proof, &head));
            assert!(!verify_inclusion(
                &tree[i],
                index,
                size,
                &proof,
                &flip(&head)
            ));
            // A changed, shortened or lengthened proof.
            for k in 0..proof.len() {
                let mut changed = proof.clone();
                changed[k] = flip(&changed[k]);
                assert!(!verify_inclusion(&tree[i], index, size, &changed, &head));
            }
            if !proof.is_empty() {
                let short = &proof[..proof.len() - 1];
                assert!(!verify_inclusion(&tree[i], index, size, short, &head));
            }
            let mut long = proof.clone();
            long.push(head);
            assert!(!verify_inclusion(&tree[i], index, size, &long, &head));
        }
    }
}

#[test]
fn every_consistency_proof_verifies_and_no_altered_one_does() {
    let all = leaves(40);
    for n in 0..=40 {
        let tree = &all[..n];
        let new_root = root(tree);
        assert!(consistency_proof(tree, n + 1).is_none());
        for m in 0..=n {
            let old_root = root(&tree[..m]);
            let proof = consistency_proof(tree, m).unwrap();
            let (old, new) = (m as u64, n as u64);
            assert!(
                verify_consistency(old, new, &old_root, &new_root, &proof),
                "{m} to {n}"
            );
            if m == 0 {
                continue;
            }
            assert!(!verify_consistency(
                old,
                new,
                &flip(&old_root),
                &new_root,
                &proof
            ));
            assert!(!verify_consistency(
                old,
                new,
                &old_root,
                &flip(&new_root),
                &proof
            ));
            if m < n {
                assert!(!verify_consistency(
                    old + 1,
                    new,
                    &old_root,
                    &new_root,
                    &proof
                ));
                assert!(!verify_consistency(new, old, &new_root, &old_root, &proof));
                for k in 0..proof.len() {
                    let mut changed = proof.clone();
                    changed[k] = flip(&changed[k]);
                    assert!(!verify_consistency(
                        old, new, &old_root, &new_root, &changed
                    ));
                }
                let short = &proof[..proof.len() - 1];
                assert!(!verify_consistency(old, new, &old_root, &new_root, short));
                // A tree that is not an extension: one old leaf rewritten.
                let mut forked = tree.to_vec();
                forked[m - 1] = flip(&forked[m - 1]);
                let forked_proof = consistency_proof(&forked, m).unwrap();
                assert!(!verify_consistency(
                    old,
                    new,
                    &old_root,
                    &root(&forked),
                    &forked_proof
                ));
            }
        }
    }
}

#[test]
fn a_compact_range_has_the_root_of_the_whole_tree() {
    let all = leaves(70);
    let mut range = kmsgov_core::merkle::CompactRange::new();
    assert_eq!(range.root(), empty_root());
    for n in 1..=70 {
        range.push(all[n - 1]);
        assert_eq!(range.size(), n as u64);
        assert_eq!(range.root(), root(&all[..n]), "size {n}");
    }
}
