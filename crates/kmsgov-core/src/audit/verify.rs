//! Checking a stored audit log from scratch: every leaf parses and matches
//! its detail record, the tree recomputed from the leaves matches every
//! stored checkpoint, every checkpoint carries a valid signature by the
//! pinned key, and a checkpoint saved earlier is still a prefix of the log
//! (nothing was truncated or rewritten since).

use aws_lc_rs::digest::{digest, SHA256};

use super::{AuditSink, Checkpoint, Leaf, Verifier};
use crate::merkle::{self, CompactRange, Hash};

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The number of entries read.
    pub size: u64,
    /// The tree head over them.
    pub root: Hash,
    /// How many stored checkpoints were checked.
    pub checkpoints: usize,
    /// The problems, in log order; the first is the first bad entry.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether nothing is wrong.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Entries read per query.
const PAGE: u64 = 65_536;

/// Checks the log in `sink` against the pinned `verifier`, and against
/// `saved` (a checkpoint note kept from earlier) when given.
///
/// # Errors
///
/// The sink cannot be read.
pub fn verify(
    sink: &dyn AuditSink,
    verifier: &Verifier,
    saved: Option<&str>,
) -> Result<Report, crate::store::StoreError> {
    // Checkpoints first: each is written with its entries, and the log only
    // grows, so every checkpoint read now covers entries read after it.
    // That makes checking a log that a server is writing safe.
    let stored = sink.checkpoints()?;
    let size = sink.size()?;
    let mut problems = Vec::new();
    let mut checkpoints = Vec::new();
    for (at, note) in &stored {
        match verifier.verify(note) {
            Ok(c) if c.size == *at => checkpoints.push(c),
            Ok(c) => problems.push(format!(
                "checkpoint stored for size {at} says size {}",
                c.size
            )),
            Err(e) => problems.push(format!("checkpoint stored for size {at}: {e}")),
        }
    }
    let saved = match saved.map(|n| verifier.verify(n)) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            problems.push(format!("the saved checkpoint: {e}"));
            None
        }
    };
    // Sizes at which a recomputed root must match, with what to say.
    let mut targets: Vec<(u64, Hash, String)> = checkpoints
        .iter()
        .map(|c| {
            (
                c.size,
                c.root,
                format!("the checkpoint stored for size {}", c.size),
            )
        })
        .collect();
    if let Some(c) = &saved {
        if c.size > size {
            problems.push(format!(
                "the log has {size} entries, fewer than the {} of the saved checkpoint: it was truncated",
                c.size
            ));
        } else {
            targets.push((
                c.size,
                c.root,
                format!("the saved checkpoint (size {})", c.size),
            ));
        }
    }
    targets.sort_by_key(|t| t.0);
    let mut targets = targets.into_iter().peekable();

    let mut range = CompactRange::new();
    let mut last_good = 0u64;
    let mut from = 0;
    let check = |range: &CompactRange,
                 targets: &mut std::iter::Peekable<std::vec::IntoIter<(u64, Hash, String)>>,
                 last_good: &mut u64,
                 problems: &mut Vec<String>| {
        while let Some((at, root, what)) = targets.next_if(|t| t.0 == range.size()) {
            if range.root() == root {
                *last_good = at;
            } else {
                problems.push(format!(
                    "the entries do not match {what}: an entry in {}..{at} was changed, or the log rewritten",
                    *last_good
                ));
            }
        }
    };
    check(&range, &mut targets, &mut last_good, &mut problems);
    while from < size {
        let to = (from + PAGE).min(size);
        let entries = sink.read(from, to)?;
        if entries.len() as u64 != to - from {
            problems.push(format!(
                "entries {from}..{to}: only {} could be read",
                entries.len()
            ));
            break;
        }
        for (i, entry) in entries.iter().enumerate() {
            let seq = from + i as u64;
            match Leaf::decode(&entry.leaf) {
                Ok(leaf) => {
                    let detail: Hash = digest(&SHA256, &entry.detail)
                        .as_ref()
                        .try_into()
                        .unwrap_or([0; 32]);
                    if leaf.detail_ref != detail {
                        problems.push(format!(
                            "entry {seq}: its detail record does not match the leaf"
                        ));
                    }
                }
                Err(e) => problems.push(format!("entry {seq}: {e}")),
            }
            range.push(merkle::leaf_hash(&entry.leaf));
            check(&range, &mut targets, &mut last_good, &mut problems);
        }
        from = to;
    }
    for (at, _, what) in targets {
        if at > size {
            problems.push(format!("the log has {size} entries, fewer than {what}"));
        }
    }
    Ok(Report {
        size,
        root: range.root(),
        checkpoints: checkpoints.len(),
        problems,
    })
}

/// An entry's inclusion proof against the tree of the first `size` entries.
///
/// # Errors
///
/// The sink cannot be read, or `seq` is not below `size`, or `size` is
/// beyond the log.
pub fn inclusion_proof(
    sink: &dyn AuditSink,
    seq: u64,
    size: u64,
) -> Result<Vec<Hash>, crate::store::StoreError> {
    let leaves = leaf_hashes(sink, size)?;
    let index = usize::try_from(seq).unwrap_or(usize::MAX);
    merkle::inclusion_proof(&leaves, index).ok_or_else(|| {
        crate::store::StoreError::Unavailable(format!("no entry {seq} in a tree of {size}"))
    })
}

/// The consistency proof from the tree of `old_size` entries to the tree
/// of `new_size`.
///
/// # Errors
///
/// The sink cannot be read, or the sizes are out of order or beyond the log.
pub fn consistency_proof(
    sink: &dyn AuditSink,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, crate::store::StoreError> {
    let leaves = leaf_hashes(sink, new_size)?;
    let old = usize::try_from(old_size).unwrap_or(usize::MAX);
    merkle::consistency_proof(&leaves, old).ok_or_else(|| {
        crate::store::StoreError::Unavailable(format!(
            "no consistency proof from {old_size} to {new_size}"
        ))
    })
}

fn leaf_hashes(sink: &dyn AuditSink, size: u64) -> Result<Vec<Hash>, crate::store::StoreError> {
    let have = sink.size()?;
    if size > have {
        return Err(crate::store::StoreError::Unavailable(format!(
            "the log has {have} entries, not {size}"
        )));
    }
    let mut out = Vec::new();
    let mut from = 0;
    while from < size {
        let to = (from + PAGE).min(size);
        out.extend(
            sink.read(from, to)?
                .iter()
                .map(|e| merkle::leaf_hash(&e.leaf)),
        );
        from = to;
    }
    Ok(out)
}

/// A checkpoint parsed and verified, for callers that hold a note.
///
/// # Errors
///
/// The note does not verify with `verifier`.
pub fn read_checkpoint(verifier: &Verifier, note: &str) -> Result<Checkpoint, String> {
    verifier.verify(note).map_err(|e| e.to_string())
}

/// Proof that one entry is in the log: the entry, its position, the
/// inclusion proof and the signed checkpoint it leads to. Anyone with the
/// verifier key can check it offline ([`check_evidence`]); the detail
/// record travels with it, so the holder sees who asked and in what context.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    /// The entry's position.
    pub seq: u64,
    /// The leaf, base64.
    pub leaf: String,
    /// The detail record, base64 (its exact bytes are committed to).
    pub detail: String,
    /// The tree size of the checkpoint.
    pub tree_size: u64,
    /// The inclusion proof, base64 hashes, deepest first.
    pub proof: Vec<String>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

/// Evidence for entry `seq` against the latest stored checkpoint that
/// covers it.
///
/// # Errors
///
/// The sink cannot be read, there is no such entry, or no stored
/// checkpoint covers it yet.
pub fn prove(sink: &dyn AuditSink, seq: u64) -> Result<Evidence, String> {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let (tree_size, checkpoint) = sink
        .checkpoints()
        .map_err(|e| e.to_string())?
        .into_iter()
        .rev()
        .find(|(size, _)| *size > seq)
        .ok_or_else(|| format!("no checkpoint covers entry {seq}"))?;
    let entry = sink
        .read(seq, seq + 1)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or_else(|| format!("no entry {seq}"))?;
    let proof = inclusion_proof(sink, seq, tree_size).map_err(|e| e.to_string())?;
    Ok(Evidence {
        seq,
        leaf: b64(&entry.leaf),
        detail: b64(&entry.detail),
        tree_size,
        proof: proof.iter().map(|h| b64(h)).collect(),
        checkpoint,
    })
}

/// Checks evidence offline: the checkpoint is signed by `verifier` and is
/// for the evidence's tree size, the leaf is in that tree at its position,
/// and the detail record is the one the leaf commits to. The leaf and its
/// detail record, when all holds.
///
/// # Errors
///
/// What does not hold.
pub fn check_evidence(evidence: &Evidence, verifier: &Verifier) -> Result<(Leaf, Vec<u8>), String> {
    use base64::Engine as _;
    let unb64 = |what: &str, text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| format!("{what} is not base64"))
    };
    let checkpoint = verifier
        .verify(&evidence.checkpoint)
        .map_err(|e| format!("the checkpoint: {e}"))?;
    if checkpoint.size != evidence.tree_size {
        return Err(format!(
            "the checkpoint is for {} entries, the proof for {}",
            checkpoint.size, evidence.tree_size
        ));
    }
    let leaf_bytes = unb64("the leaf", &evidence.leaf)?;
    let detail = unb64("the detail record", &evidence.detail)?;
    let mut proof = Vec::with_capacity(evidence.proof.len());
    for (i, h) in evidence.proof.iter().enumerate() {
        let hash: Hash = unb64("a proof hash", h)?
            .try_into()
            .map_err(|_| format!("proof hash {i} is not 32 bytes"))?;
        proof.push(hash);
    }
    if !merkle::verify_inclusion(
        &merkle::leaf_hash(&leaf_bytes),
        evidence.seq,
        evidence.tree_size,
        &proof,
        &checkpoint.root,
    ) {
        return Err(format!(
            "entry {} is not in the tree the checkpoint signs",
            evidence.seq
        ));
    }
    let leaf = Leaf::decode(&leaf_bytes).map_err(|e| format!("the leaf: {e}"))?;
    if digest(&SHA256, &detail).as_ref() != leaf.detail_ref {
        return Err("the detail record is not the one the leaf commits to".to_owned());
    }
    Ok((leaf, detail))
}
