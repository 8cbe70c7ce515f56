//! One behavioural suite that every [`GovernanceSink`] must pass.
//!
//! Backends call [`run`] from their tests with a fresh, empty sink.
//! Failures come back as a message naming the check; the suite never
//! panics.

use super::GovernanceSink;
use crate::store::conformance::Failure;
use crate::store::StoreError;

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(Failure(format!($($msg)+)));
        }
    };
}

fn ok<T>(r: Result<T, StoreError>, what: &str) -> Result<T, Failure> {
    r.map_err(|e| Failure(format!("{what}: unexpected error: {e}")))
}

/// Runs every check on `sink`, which must be empty.
///
/// # Errors
///
/// The first check that fails.
pub fn run(sink: &dyn GovernanceSink) -> Result<(), Failure> {
    check!(ok(sink.size(), "size")? == 0, "a fresh sink is empty");
    check!(
        ok(sink.read(0, 10), "read")?.is_empty(),
        "a fresh sink reads nothing"
    );

    // Appends only at the end.
    let records: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
    check!(
        matches!(sink.append(1, b"one"), Err(StoreError::Conflict)),
        "append at 1 of an empty sink is a Conflict"
    );
    for (i, r) in records.iter().enumerate() {
        ok(sink.append(i as u64, r), "append")?;
    }
    check!(
        ok(sink.size(), "size")? == 5,
        "five records after five appends"
    );
    check!(
        matches!(sink.append(3, b"other"), Err(StoreError::Conflict)),
        "append at an existing seq is a Conflict"
    );
    check!(
        matches!(sink.append(7, b"gap"), Err(StoreError::Conflict)),
        "append past the end is a Conflict"
    );
    check!(
        ok(sink.size(), "size")? == 5,
        "a refused append writes nothing"
    );
    check!(
        ok(sink.read(0, 100), "read")? == records,
        "read returns the records in order, unchanged"
    );
    check!(
        Some(ok(sink.read(2, 2), "read")?.as_slice()) == records.get(2..4),
        "read(2, 2) returns records 2 and 3"
    );
    check!(
        ok(sink.read(5, 10), "read")?.is_empty(),
        "read past the end is empty"
    );
    check!(
        ok(sink.read(99, 10), "read")?.is_empty(),
        "read far past the end is empty"
    );

    // A large record survives unchanged.
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    ok(sink.append(5, &big), "append a large record")?;
    check!(
        ok(sink.read(5, 1), "read")? == vec![big],
        "a large record reads back unchanged"
    );

    // Pending records.
    check!(
        ok(sink.pending(), "pending")?.is_empty(),
        "no pending records at first"
    );
    let (a, b) = ([0xaa; 32], [0x11; 32]);
    ok(sink.put_pending(&a, b"first"), "put_pending")?;
    ok(sink.put_pending(&b, b"second"), "put_pending")?;
    check!(
        ok(sink.pending(), "pending")? == vec![(b, b"second".to_vec()), (a, b"first".to_vec())],
        "pending records are listed by hash"
    );
    ok(
        sink.put_pending(&a, b"first, signed twice"),
        "put_pending again",
    )?;
    check!(
        ok(sink.pending(), "pending")?
            == vec![
                (b, b"second".to_vec()),
                (a, b"first, signed twice".to_vec())
            ],
        "put_pending replaces a pending record"
    );
    ok(sink.remove_pending(&b), "remove_pending")?;
    ok(
        sink.remove_pending(&b),
        "remove_pending of a removed record",
    )?;
    check!(
        ok(sink.pending(), "pending")? == vec![(a, b"first, signed twice".to_vec())],
        "remove_pending removes only that record"
    );
    ok(sink.remove_pending(&a), "remove_pending")?;
    check!(
        ok(sink.pending(), "pending")?.is_empty(),
        "every pending record removed"
    );

    // Compare-and-swap of a pending record.
    check!(
        matches!(
            sink.swap_pending(&a, Some(b"anything"), b"x"),
            Err(StoreError::Conflict)
        ),
        "swap_pending of an absent record expecting one is a Conflict"
    );
    ok(
        sink.swap_pending(&a, None, b"v1"),
        "swap_pending of an absent record",
    )?;
    check!(
        matches!(sink.swap_pending(&a, None, b"x"), Err(StoreError::Conflict)),
        "swap_pending expecting no record where there is one is a Conflict"
    );
    check!(
        matches!(
            sink.swap_pending(&a, Some(b"v0"), b"x"),
            Err(StoreError::Conflict)
        ),
        "swap_pending expecting other bytes is a Conflict"
    );
    ok(sink.swap_pending(&a, Some(b"v1"), b"v2"), "swap_pending")?;
    check!(
        ok(sink.pending(), "pending")? == vec![(a, b"v2".to_vec())],
        "a refused swap writes nothing, an accepted one replaces the record"
    );
    ok(sink.remove_pending(&a), "remove_pending")?;
    check!(
        ok(sink.size(), "size")? == 6,
        "pending records are not in the chain"
    );
    Ok(())
}
