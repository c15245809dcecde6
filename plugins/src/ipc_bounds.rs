//! Arrow IPC from outside the process: a block's output here, and (through
//! [`check_ipc`], which the engine calls) uploaded data files, bundle datasets and a
//! working copy's origin data.
//!
//! The format allows compressed buffers (LZ4 or zstd). Each one starts with the length
//! it claims to inflate to, and arrow-ipc allocates that length before inflating. One
//! message claiming a terabyte made the allocation fail, which aborts the whole process:
//! a crash anyone able to upload a file, import a bundle or run a block could cause.
//! [`check_ipc`] reads every message's metadata first (the same messages the readers
//! will decode: the footer's blocks for the file framing, the messages in order for a
//! stream) and refuses claims beyond a bound before anything is inflated.

use arrow_ipc::{Block, MessageHeader, RecordBatch};

/// The most a whole input may inflate to: [`MAX_RATIO`] times its size, but never less
/// than [`MIN_INFLATED`] (a tiny file of one constant column inflates a lot) nor more than
/// [`MAX_INFLATED`].
pub fn inflate_bound(input_len: usize) -> u64 {
    (input_len as u64)
        .saturating_mul(MAX_RATIO)
        .clamp(MIN_INFLATED, MAX_INFLATED)
}

/// The bundle reader's ratio limit, for the same reason.
pub const MAX_RATIO: u64 = 1_000;
pub const MIN_INFLATED: u64 = 64 << 20;
pub const MAX_INFLATED: u64 = 8 << 30;

/// Checks that the compressed buffers of `bytes` (Arrow IPC, file or stream framing)
/// claim at most `max_inflated` bytes together; returns whether any buffer is
/// compressed. Uncompressed input passes whatever its size. What this cannot read is left
/// to the decoder, which refuses it.
pub fn check_ipc(bytes: &[u8], max_inflated: u64) -> Result<bool, String> {
    let mut claimed = Claimed::default();
    if bytes.starts_with(b"ARROW1") {
        for (offset, body) in file_blocks(bytes)? {
            check_message(bytes, offset, Some(body), &mut claimed, max_inflated)?;
        }
        return Ok(claimed.compressed);
    }
    let mut at = 0usize;
    while at < bytes.len() {
        match check_message(bytes, at, None, &mut claimed, max_inflated)? {
            Some(next) => at = next,
            None => break,
        }
    }
    Ok(claimed.compressed)
}

/// What the compressed buffers seen so far claim.
#[derive(Default)]
struct Claimed {
    bytes: u64,
    compressed: bool,
}

/// The message offsets and metadata lengths the file's footer lists: what a file reader
/// reads, whatever lies between them.
fn file_blocks(bytes: &[u8]) -> Result<Vec<(usize, usize)>, String> {
    let n = bytes.len();
    if n < 16 || !bytes.ends_with(b"ARROW1") {
        return Ok(Vec::new());
    }
    let footer_len = i32::from_le_bytes(bytes[n - 10..n - 6].try_into().expect("4 bytes"));
    let Some(start) = usize::try_from(footer_len)
        .ok()
        .and_then(|l| (n - 10).checked_sub(l))
    else {
        return Ok(Vec::new());
    };
    let footer = arrow_ipc::root_as_footer(&bytes[start..n - 10])
        .map_err(|e| format!("unreadable Arrow IPC footer: {e}"))?;
    let blocks: Vec<Block> = footer
        .dictionaries()
        .into_iter()
        .flatten()
        .chain(footer.recordBatches().into_iter().flatten())
        .copied()
        .collect();
    blocks
        .iter()
        .map(|b| {
            let offset = usize::try_from(b.offset()).map_err(|_| "negative block offset")?;
            let meta = usize::try_from(b.metaDataLength()).map_err(|_| "negative block length")?;
            Ok((offset, meta))
        })
        .collect::<Result<_, &str>>()
        .map_err(str::to_owned)
}

/// Checks the message at `at`; returns where the next one starts (`None` at the end of
/// the stream). `block_meta`: the metadata length a file's footer gives for it.
fn check_message(
    bytes: &[u8],
    at: usize,
    block_meta: Option<usize>,
    claimed: &mut Claimed,
    max: u64,
) -> Result<Option<usize>, String> {
    let word = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?))
    };
    // A continuation marker and then the length, or (before format 0.15) the length alone.
    let (len, meta_start) = match word(at) {
        Some(0xFFFF_FFFF) => (word(at + 4), at + 8),
        other => (other, at + 4),
    };
    let Some(len) = len.map(|l| l as usize).filter(|l| *l > 0) else {
        return Ok(None);
    };
    let Some(meta) = bytes.get(meta_start..meta_start.saturating_add(len)) else {
        return Ok(None); // cut short: the decoder says so
    };
    let message = arrow_ipc::root_as_message(meta)
        .map_err(|e| format!("unreadable Arrow IPC message: {e}"))?;
    let body_start = match block_meta {
        Some(m) => at.saturating_add(m),
        None => meta_start + len,
    };
    let body_len = usize::try_from(message.bodyLength()).map_err(|_| "negative body length")?;
    let batch = match message.header_type() {
        MessageHeader::RecordBatch => message.header_as_record_batch(),
        MessageHeader::DictionaryBatch => {
            message.header_as_dictionary_batch().and_then(|d| d.data())
        }
        _ => None,
    };
    if let Some(batch) = batch {
        let body = bytes
            .get(body_start..body_start.saturating_add(body_len))
            .unwrap_or(&[]);
        check_batch(&batch, body, claimed, max)?;
    }
    Ok(Some(body_start.saturating_add(body_len)))
}

fn check_batch(
    batch: &RecordBatch,
    body: &[u8],
    claimed: &mut Claimed,
    max: u64,
) -> Result<(), String> {
    if batch.compression().is_none() {
        return Ok(());
    }
    claimed.compressed = true;
    for b in batch.buffers().into_iter().flatten() {
        if b.length() == 0 {
            continue;
        }
        let start = usize::try_from(b.offset()).unwrap_or(usize::MAX);
        let Some(prefix) = body.get(start..start.saturating_add(8)) else {
            return Err("a compressed buffer lies outside its message".into());
        };
        let inflated = i64::from_le_bytes(prefix.try_into().expect("8 bytes"));
        // -1: stored as is; 0: empty.
        if inflated > 0 {
            claimed.bytes = claimed.bytes.saturating_add(inflated as u64);
            if claimed.bytes > max {
                return Err(format!(
                    "its compressed buffers claim more than {max} bytes once inflated"
                ));
            }
        }
    }
    Ok(())
}

/// Compressed IPC for tests, honest or forged (unit tests here, the e2e suite).
#[cfg(any(test, feature = "testing"))]
pub mod samples {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch};
    use arrow_ipc::CompressionType;
    use arrow_ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
    use arrow_schema::{DataType, Field, Schema};

    /// 1,000 rows of one int64 column.
    pub fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let values = Int64Array::from_iter_values((0..1000).map(|i| i % 7));
        RecordBatch::try_new(schema, vec![Arc::new(values)]).unwrap()
    }

    fn zstd() -> IpcWriteOptions {
        IpcWriteOptions::default()
            .try_with_compression(Some(CompressionType::ZSTD))
            .unwrap()
    }

    /// [`batch`] as an IPC file, buffers compressed with zstd.
    pub fn compressed_file() -> Vec<u8> {
        let b = batch();
        let mut out = Vec::new();
        let mut w = FileWriter::try_new_with_options(&mut out, &b.schema(), zstd()).unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
        drop(w);
        out
    }

    /// [`batch`] as an IPC stream, buffers compressed with zstd.
    pub fn compressed_stream() -> Vec<u8> {
        let b = batch();
        let mut out = Vec::new();
        let mut w = StreamWriter::try_new_with_options(&mut out, &b.schema(), zstd()).unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
        drop(w);
        out
    }

    /// The same input, its values buffer claiming `claim` bytes instead of 8,000.
    pub fn claiming(mut bytes: Vec<u8>, claim: i64) -> Vec<u8> {
        let at = bytes
            .windows(8)
            .position(|w| w == 8000i64.to_le_bytes())
            .expect("the values buffer's length prefix");
        bytes[at..at + 8].copy_from_slice(&claim.to_le_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use arrow_ipc::writer::StreamWriter;

    use super::samples::{batch, claiming, compressed_file as file, compressed_stream as stream};
    use super::*;

    #[test]
    fn honest_compressed_files_and_streams_pass() {
        for bytes in [file(), stream()] {
            assert!(
                check_ipc(&bytes, inflate_bound(bytes.len())).unwrap(),
                "compressed"
            );
            // And the bound is what decides.
            assert!(check_ipc(&bytes, 100).is_err());
        }
    }

    #[test]
    fn a_buffer_claiming_a_terabyte_is_refused_before_anything_inflates() {
        for bytes in [claiming(file(), 1 << 40), claiming(stream(), 1 << 40)] {
            let e = check_ipc(&bytes, inflate_bound(bytes.len())).unwrap_err();
            assert!(e.contains("claim more than"), "{e}");
        }
    }

    /// A block's output goes through the check before the stream decoder sees it.
    #[test]
    fn a_blocks_forged_output_is_an_error_not_an_abort() {
        let e = crate::tables::from_ipc("out", claiming(stream(), 1 << 40)).unwrap_err();
        assert!(e.to_string().contains("output `out` is refused"), "{e}");
        let t = crate::tables::from_ipc("out", stream()).unwrap();
        assert_eq!(t.batches[0].num_rows(), 1000);
    }

    #[test]
    fn uncompressed_input_and_garbage_are_left_to_the_decoder() {
        let b = batch();
        let mut plain = Vec::new();
        let mut w = StreamWriter::try_new(&mut plain, &b.schema()).unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
        drop(w);
        assert!(!check_ipc(&plain, 1).unwrap(), "not compressed");
        assert!(!check_ipc(b"not arrow at all", 1).unwrap());
        assert!(!check_ipc(b"ARROW1\0\0", 1).unwrap());
        assert!(!check_ipc(&[], 1).unwrap());
    }

    #[test]
    fn bounds_scale_with_the_input_within_limits() {
        assert_eq!(inflate_bound(10), MIN_INFLATED);
        assert_eq!(inflate_bound(1 << 20), 1000 << 20);
        assert_eq!(inflate_bound(1 << 30), MAX_INFLATED);
    }
}
