//! Reports whatever an earlier call left behind in its memory, as one row: how many
//! calls this instance saw before (a static counter) and how many bytes of a fresh heap
//! block still hold the mark every call writes there. Each call gets a new instance
//! whose memory is reset to the component's image, so both must always be zero: the
//! host's tests call it over and over to prove that reusing pooled memory leaks nothing
//! from one block call into the next.

use std::alloc::{Layout, alloc};
use std::sync::atomic::{AtomicU64, Ordering};

use vitrine_sdk::{Block, Column, Error, Inputs, Metadata, Outputs, Port, Table, Value, Values};

/// The mark, and how much heap it covers: more than a page, in the heap the allocator
/// grows the memory for (the block's data segment alone would not show a reset heap).
const MARK: u8 = 0xA5;
const BLOCK: usize = 256 << 10;

static CALLS: AtomicU64 = AtomicU64::new(0);

struct Residue;

impl Block for Residue {
    fn describe() -> Metadata {
        Metadata::new(
            "residue",
            "1.0.0",
            "Reports what earlier calls left in memory",
        )
        .input(Port::new("in", "any table"))
        .output(Port::new("out", "one row: earlier_calls, marked_bytes"))
    }

    fn transform(_config: Value, _inputs: Inputs) -> Result<Outputs, Error> {
        let earlier_calls = CALLS.fetch_add(1, Ordering::SeqCst) as i64;
        let layout = Layout::from_size_align(BLOCK, 8).expect("layout");
        // SAFETY: the block is allocated, never freed (the instance ends with the call),
        // and read through volatile loads before it is written: it is read as raw bytes
        // precisely to see what it held before this call.
        let marked_bytes = unsafe {
            let block = alloc(layout);
            assert!(!block.is_null(), "out of memory");
            let marked = (0..BLOCK)
                .filter(|&i| std::ptr::read_volatile(block.add(i)) == MARK)
                .count();
            std::ptr::write_bytes(block, MARK, BLOCK);
            marked as i64
        };
        let table = Table::new(1)
            .with_column(Column::new(
                "earlier_calls",
                Values::Int64(vec![earlier_calls]),
            ))?
            .with_column(Column::new(
                "marked_bytes",
                Values::Int64(vec![marked_bytes]),
            ))?;
        Ok(Outputs::new().table("out", table))
    }
}

vitrine_sdk::export_block!(Residue);
