//! Arrow IPC files with compressed buffers, written and read on several threads. zstd is
//! most of what a project bundle's export and import cost (a bundle carries each dataset
//! as such a file), and arrow's own writer and reader work through the batches one at a
//! time. Batches compress independently, so each thread encodes (or decodes) every n-th
//! batch and the file is framed in batch order: the output is byte for byte what the
//! one-thread [`FileWriter`] writes.
//!
//! Dictionary columns (stored artifacts encode text with few distinct values so) hold one
//! dictionary per column for the whole file, which the writer emits before the first
//! batch. Every writing thread knows the first batch's dictionaries from the start, so
//! only that batch carries them and a batch with another dictionary is refused, as
//! arrow's writer refuses it; dictionaries nested inside other types are written on one
//! thread. Reading decodes the dictionaries once, before the threads share the batches,
//! so every batch read shares them as one reader's batches do.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc;
use datafusion::arrow::ipc::convert::IpcSchemaEncoder;
use datafusion::arrow::ipc::writer::{
    DictionaryHandling, DictionaryTracker, EncodedData, FileWriter, IpcDataGenerator,
    IpcWriteContext, IpcWriteOptions, write_message,
};

/// The file format's magic, at both ends of a file.
pub(super) const MAGIC: &[u8; 6] = b"ARROW1";
/// The writer's default alignment, which the header is padded to.
pub(super) const ALIGNMENT: usize = 64;
/// End of stream: the continuation marker and a zero length.
const EOS: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// How many threads `batches` batches are worth: one per core, at most 8, never more
/// than the batches.
fn threads_for(batches: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(8).min(batches)
}

/// Whether threads can share a file's batches: a dictionary is fine as a whole column
/// (its values plain), not nested inside another type.
fn threadable(schema: &SchemaRef) -> bool {
    schema.fields().iter().all(|f| match f.data_type() {
        DataType::Dictionary(_, values) => !has_dictionary(values),
        t => !has_dictionary(t),
    })
}

/// The indices of a schema's dictionary columns.
fn dictionary_columns(schema: &SchemaRef) -> Vec<usize> {
    (schema.fields().iter().enumerate())
        .filter(|(_, f)| matches!(f.data_type(), DataType::Dictionary(..)))
        .map(|(i, _)| i)
        .collect()
}

fn has_dictionary(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(..) => true,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => has_dictionary(f.data_type()),
        DataType::Struct(fs) => fs.iter().any(|f| has_dictionary(f.data_type())),
        DataType::Union(fs, _) => fs.iter().any(|(_, f)| has_dictionary(f.data_type())),
        DataType::RunEndEncoded(a, b) => {
            has_dictionary(a.data_type()) || has_dictionary(b.data_type())
        }
        _ => false,
    }
}

/// A batch encoded, with the dictionaries that go before it (the first batch's only).
type Encoded = (Vec<EncodedData>, EncodedData);

/// One thread's share of the batches: every `threads`-th from `first`, encoded.
fn encode_share(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    first: usize,
    threads: usize,
    options: &IpcWriteOptions,
) -> Result<Vec<(usize, Encoded)>, ArrowError> {
    let generator = IpcDataGenerator::default();
    // The dictionary ids, numbered as the file's schema message numbers them; the tracker
    // refuses a dictionary that differs from the one it knows, as arrow's writer does.
    let mut tracker = DictionaryTracker::new(true);
    generator.schema_to_bytes_with_dictionary_tracker(schema, &mut tracker, options);
    if first > 0 {
        // The file's dictionaries are the first batch's, which another thread emits.
        let ids = tracker.dict_id().to_vec();
        for (column, id) in dictionary_columns(schema).into_iter().zip(ids) {
            tracker.insert_column(id, batches[0].column(column), DictionaryHandling::Resend)?;
        }
    }
    let mut context = IpcWriteContext::default();
    (batches.iter().enumerate().skip(first).step_by(threads))
        .map(|(i, b)| Ok((i, generator.encode(b, &mut tracker, options, &mut context)?)))
        .collect()
}

/// An IPC file of `batches` written by arrow's own writer, on this thread.
pub(crate) fn write_one_thread(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    options: IpcWriteOptions,
) -> Result<Vec<u8>, ArrowError> {
    let mut out = Vec::new();
    let mut w = FileWriter::try_new_with_options(&mut out, schema, options)?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    drop(w);
    Ok(out)
}

/// An IPC file of `batches` written with `options` (compression, typically), on every
/// core. Dictionaries are handled as arrow's default options handle them (one per
/// column for the whole file, another one refused: the file format allows no other), so
/// `options` keep the default dictionary handling.
pub(crate) fn write_file(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    options: IpcWriteOptions,
) -> Result<Vec<u8>, ArrowError> {
    let threads = threads_for(batches.len());
    if threads < 2 || !threadable(schema) {
        return write_one_thread(schema, batches, options);
    }
    let encoded = on_threads(threads, |t| {
        encode_share(schema, batches, t, threads, &options)
    })?;

    // Framed as FileWriter frames it: padded magic, the schema, the batches, the end of
    // stream, and a footer that says where each batch starts.
    let body: usize = (encoded.iter())
        .flat_map(|(dictionaries, batch)| dictionaries.iter().chain([batch]))
        .map(|d| d.ipc_message.len() + d.arrow_data.len() + 16)
        .sum();
    let mut out = Vec::with_capacity(body + 4096);
    out.extend_from_slice(MAGIC);
    out.resize(ALIGNMENT, 0);
    let mut tracker = DictionaryTracker::new(true);
    let schema_message = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
        schema,
        &mut tracker,
        &options,
    );
    write_message(&mut out, schema_message, &options)?;
    let mut dictionary_blocks = Vec::new();
    let mut blocks = Vec::with_capacity(encoded.len());
    for (dictionaries, data) in encoded {
        for dictionary in dictionaries {
            let offset = out.len();
            let (header, body) = write_message(&mut out, dictionary, &options)?;
            dictionary_blocks.push(ipc::Block::new(offset as i64, header as i32, body as i64));
        }
        let offset = out.len();
        let (header, body) = write_message(&mut out, data, &options)?;
        blocks.push(ipc::Block::new(offset as i64, header as i32, body as i64));
    }
    out.write_all(&EOS)?;
    out.write_all(&footer(schema, &dictionary_blocks, &blocks))?;
    Ok(out)
}

/// The end of an IPC file whose messages lie at `dictionaries` and `records`: the footer,
/// its length and the magic, as arrow's `FileWriter` writes them (the schema's dictionary
/// ids numbered as its schema message numbers them).
pub(super) fn footer(
    schema: &SchemaRef,
    dictionaries: &[ipc::Block],
    records: &[ipc::Block],
) -> Vec<u8> {
    let mut tracker = DictionaryTracker::new(true);
    IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
        schema,
        &mut tracker,
        &IpcWriteOptions::default(),
    );
    tracker.clear();
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let dictionaries = fbb.create_vector(dictionaries);
    let records = fbb.create_vector(records);
    let schema_fb = IpcSchemaEncoder::new()
        .with_dictionary_tracker(&mut tracker)
        .schema_to_fb_offset(&mut fbb, schema);
    let root = {
        let mut footer = ipc::FooterBuilder::new(&mut fbb);
        footer.add_version(ipc::MetadataVersion::V5);
        footer.add_schema(schema_fb);
        footer.add_dictionaries(dictionaries);
        footer.add_recordBatches(records);
        footer.finish()
    };
    fbb.finish(root, None);
    let footer = fbb.finished_data();
    let mut out = Vec::with_capacity(footer.len() + 10);
    out.extend_from_slice(footer);
    out.extend_from_slice(&(footer.len() as i32).to_le_bytes());
    out.extend_from_slice(MAGIC);
    out
}

/// The batches of an IPC file, their arrays pointing into `bytes` wherever a buffer is
/// not compressed: arrow's `FileReader` copies every message into a zeroed buffer first,
/// 45-65 ms against 14 ms for the checks alone on a 100 MB dataset. The footer is read
/// once and every block must lie within the file; the dictionaries are decoded once, so
/// every batch shares them. With `inflate` (the file has compressed buffers) each thread
/// decodes every n-th batch. The arrays are checked as arrow's reader checks them.
pub(crate) fn read_file(
    bytes: Bytes,
    inflate: bool,
) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    without_panics(|| read_unguarded(bytes, inflate))
}

/// arrow's IPC reader panics on some forged metadata (a type it does not know, for one)
/// where it could answer an error; a file from outside is an error, never a panic.
fn without_panics<T>(read: impl FnOnce() -> Result<T, ArrowError>) -> Result<T, ArrowError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| {
        Err(ArrowError::IpcError(
            "the file's metadata is not Arrow's (the reader gave up)".into(),
        ))
    })
}

fn read_unguarded(
    bytes: Bytes,
    inflate: bool,
) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    let bad = |why: &str| ArrowError::IpcError(why.to_owned());
    let buffer = Buffer::from(bytes);
    let Some(trailer_start) = buffer.len().checked_sub(10) else {
        return Err(bad("the file is too short"));
    };
    let trailer = buffer[trailer_start..].try_into().expect("10 bytes");
    let footer_len = ipc::reader::read_footer_length(trailer)?;
    let footer_start = (trailer_start.checked_sub(footer_len))
        .ok_or_else(|| bad("the footer is longer than the file"))?;
    let footer = ipc::root_as_footer(&buffer[footer_start..trailer_start])
        .map_err(|e| ArrowError::IpcError(format!("unreadable footer: {e}")))?;
    let schema = Arc::new(ipc::convert::fb_to_schema(
        footer
            .schema()
            .ok_or_else(|| bad("the footer has no schema"))?,
    ));
    let block_data = |block: &ipc::Block| {
        let len = usize::try_from(block.bodyLength())
            .ok()
            .zip(usize::try_from(block.metaDataLength()).ok())
            .and_then(|(body, meta)| body.checked_add(meta));
        let start = usize::try_from(block.offset()).ok();
        match (start, len) {
            (Some(start), Some(len)) if start.checked_add(len) <= Some(footer_start) => {
                Ok(buffer.slice_with_length(start, len))
            }
            _ => Err(bad("a block lies outside the file")),
        }
    };
    let mut decoder = ipc::reader::FileDecoder::new(schema.clone(), footer.version());
    for block in footer.dictionaries().iter().flatten() {
        decoder.read_dictionary(block, &block_data(block)?)?;
    }
    let blocks: Vec<ipc::Block> = footer.recordBatches().iter().flatten().copied().collect();
    let read = |i: usize| decoder.read_record_batch(&blocks[i], &block_data(&blocks[i])?);
    let threads = if inflate {
        threads_for(blocks.len())
    } else {
        1
    };
    let batches = if threads < 2 {
        (0..blocks.len()).map(read).collect::<Result<Vec<_>, _>>()?
    } else {
        on_threads(threads, |t| {
            (t..blocks.len())
                .step_by(threads)
                .map(|i| Ok((i, read(i)?)))
                .collect()
        })?
    };
    Ok((schema, batches.into_iter().flatten().collect()))
}

/// Runs `share(t)` for each `t` below `threads`, each on a thread of its own, and puts
/// the numbered items they return back in order.
fn on_threads<T: Send>(
    threads: usize,
    share: impl Fn(usize) -> Result<Vec<(usize, T)>, ArrowError> + Sync,
) -> Result<Vec<T>, ArrowError> {
    let mut all = std::thread::scope(|s| {
        let running: Vec<_> = (0..threads)
            .map(|t| {
                let share = &share;
                s.spawn(move || share(t))
            })
            .collect();
        let mut all = Vec::new();
        for thread in running {
            let part = (thread.join())
                .map_err(|_| ArrowError::ComputeError("an IPC thread panicked".into()))?;
            all.extend(part?);
        }
        Ok::<_, ArrowError>(all)
    })?;
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, item)| item).collect())
}

#[cfg(test)]
#[path = "ipc_threads_tests.rs"]
pub(super) mod tests;
