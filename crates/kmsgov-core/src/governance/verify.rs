//! Offline verification of a whole chain, from its genesis, against pinned
//! keys: what `kmsgov governance verify` runs.

use super::chain::{hex, Chain};
use super::record::{Hash32, Record};

/// A chain that verified.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// The number of records.
    pub records: u64,
    /// The hash of the last record (zero when empty).
    pub head: Hash32,
    /// The RFC 6962 root over the records.
    pub root: Hash32,
    /// The state they built.
    pub chain: Chain,
}

/// The first record that does not verify, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    /// Its position (its seq, when it is where its seq says).
    pub seq: u64,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record {}: {}", self.seq, self.reason)
    }
}

impl std::error::Error for VerifyFailure {}

/// Verifies `records` (the encoded records, by position from genesis):
/// every record parses and fits the chain its predecessors built (links,
/// compare-and-swap, thresholds, signatures), genesis is signed by `pins`,
/// and, given `expected_head` (a seq and record hash seen earlier), the
/// chain still holds that record at that seq (so it was neither truncated
/// nor rewritten after it).
///
/// # Errors
///
/// The first record that does not verify, or the pinned head that is
/// missing.
pub fn verify_chain(
    records: &[Vec<u8>],
    pins: &[[u8; 32]],
    expected_head: Option<(u64, Hash32)>,
) -> Result<VerifyReport, VerifyFailure> {
    if pins.is_empty() {
        return Err(VerifyFailure {
            seq: 0,
            reason: "no pinned key: the genesis signer set cannot be trusted".into(),
        });
    }
    let mut chain = Chain::new(None, pins);
    let mut hashes = Vec::with_capacity(records.len());
    for (i, bytes) in records.iter().enumerate() {
        let seq = i as u64;
        let hash = chain.apply(bytes).map_err(|e| VerifyFailure {
            seq,
            reason: e.to_string(),
        })?;
        hashes.push(hash);
    }
    if let Some((seq, hash)) = expected_head {
        let held = usize::try_from(seq).ok().and_then(|i| hashes.get(i));
        match held {
            None => {
                return Err(VerifyFailure {
                    seq,
                    reason: format!(
                        "missing: the chain has {} records, but the pinned head is record {seq} (truncated)",
                        records.len()
                    ),
                })
            }
            Some(h) if *h != hash => {
                return Err(VerifyFailure {
                    seq,
                    reason: format!(
                        "its hash is {}, not the pinned head's {} (history rewritten)",
                        hex(h),
                        hex(&hash)
                    ),
                })
            }
            Some(_) => {}
        }
    }
    Ok(VerifyReport {
        records: chain.size(),
        head: chain.head_hash(),
        root: chain.root(),
        chain,
    })
}

/// Splits a file of records written one after another (each
/// self-delimiting) into the records' bytes.
///
/// # Errors
///
/// The bytes at some position are not a record: its index and why.
pub fn split_records(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, VerifyFailure> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (_, used) = Record::parse_prefix(bytes).map_err(|e| VerifyFailure {
            seq: out.len() as u64,
            reason: format!("unreadable record: {e}"),
        })?;
        let (record, rest) = bytes.split_at(used.min(bytes.len()));
        out.push(record.to_vec());
        bytes = rest;
    }
    Ok(out)
}
