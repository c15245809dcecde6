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
//! arrow's writer refuses it. Every reading thread decodes the dictionaries itself; the
//! batches read are then given the first reader's, so they share one dictionary as one
//! reader's batches do. Dictionaries nested inside other types stay on one thread.

use std::io::{Cursor, Write};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{AsArray, RecordBatch};
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
const MAGIC: &[u8; 6] = b"ARROW1";
/// The writer's default alignment, which the header is padded to.
const ALIGNMENT: usize = 64;
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
/// core. Dictionaries are handled as `options` have them by default: one per column,
/// a different one refused (the only way the file format allows).
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
    let generator = IpcDataGenerator::default();
    let schema_message =
        generator.schema_to_bytes_with_dictionary_tracker(schema, &mut tracker, &options);
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

    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let dictionaries = fbb.create_vector(&dictionary_blocks);
    let records = fbb.create_vector(&blocks);
    tracker.clear();
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
    out.write_all(footer)?;
    out.write_all(&(footer.len() as i32).to_le_bytes())?;
    out.write_all(MAGIC)?;
    Ok(out)
}

/// The batches of an IPC file. With `inflate`, the file has compressed buffers and each
/// thread reads (and inflates) every n-th batch; otherwise the arrays point into `bytes`
/// ([`read_in_place`]).
pub(crate) fn read_file(
    bytes: Bytes,
    inflate: bool,
) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    if !inflate {
        return read_in_place(bytes);
    }
    without_panics(|| read_on_threads(bytes))
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

fn read_on_threads(bytes: Bytes) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    let reader = ipc::reader::FileReader::try_new(Cursor::new(bytes.clone()), None)?;
    let schema = reader.schema();
    let count = reader.num_batches();
    let threads = threads_for(count);
    if threads < 2 || !threadable(&schema) {
        return Ok((schema, reader.collect::<Result<Vec<_>, _>>()?));
    }
    drop(reader);
    let mut batches = on_threads(threads, |t| read_share(&bytes, t, threads, count))?;
    share_dictionaries(&schema, &mut batches)?;
    Ok((schema, batches))
}

/// Gives every batch the first batch's dictionaries. Each thread's reader decoded the
/// file's one dictionary per column for itself, so they hold the same values, and keys
/// that index one index the other.
fn share_dictionaries(schema: &SchemaRef, batches: &mut [RecordBatch]) -> Result<(), ArrowError> {
    let columns = dictionary_columns(schema);
    let Some(first) = batches.first().cloned() else {
        return Ok(());
    };
    for batch in batches.iter_mut().skip(1) {
        let mut arrays = batch.columns().to_vec();
        for &c in &columns {
            let shared = first.column(c).as_any_dictionary().values();
            let own = arrays[c].as_any_dictionary();
            if own.values().len() != shared.len() || own.values().data_type() != shared.data_type()
            {
                return Err(ArrowError::IpcError(format!(
                    "column {c}: the file's dictionary read differently by two readers"
                )));
            }
            arrays[c] = own.with_values(shared.clone());
        }
        *batch = RecordBatch::try_new(batch.schema(), arrays)?;
    }
    Ok(())
}

/// The batches of an IPC file without compressed buffers, their arrays pointing into
/// `bytes` instead of copies of it: arrow's reader copies every message into a zeroed
/// buffer first, which cost three times the checks themselves on a 100 MB dataset. The
/// arrays are checked as the reader checks them; the footer's blocks must lie within
/// the file.
pub(crate) fn read_in_place(bytes: Bytes) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    without_panics(|| read_in_place_unguarded(bytes))
}

fn read_in_place_unguarded(bytes: Bytes) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
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
    let mut batches = Vec::new();
    for block in footer.recordBatches().iter().flatten() {
        if let Some(b) = decoder.read_record_batch(block, &block_data(block)?)? {
            batches.push(b);
        }
    }
    Ok((schema, batches))
}

/// One thread's share of a file's `count` batches: every `threads`-th from `first`, read
/// through a reader of its own.
fn read_share(
    bytes: &Bytes,
    first: usize,
    threads: usize,
    count: usize,
) -> Result<Vec<(usize, RecordBatch)>, ArrowError> {
    let mut reader = ipc::reader::FileReader::try_new(Cursor::new(bytes.clone()), None)?;
    let mut share = Vec::new();
    for i in (first..count).step_by(threads) {
        reader.set_index(i)?;
        let batch = reader
            .next()
            .ok_or_else(|| ArrowError::IpcError(format!("batch {i} of {count} is missing")))??;
        share.push((i, batch));
    }
    Ok(share)
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
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        ArrayRef, DictionaryArray, Float64Array, Int64Array, StringArray,
    };
    use datafusion::arrow::datatypes::{Field, Int8Type, Int32Type, Schema};

    fn batches(n: usize, rows: usize) -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
        ]));
        let out = (0..n)
            .map(|b| {
                let base = (b * rows) as i64;
                let cols: Vec<ArrayRef> = vec![
                    Arc::new(Int64Array::from_iter_values(base..base + rows as i64)),
                    Arc::new(StringArray::from_iter((0..rows).map(|r| {
                        (r % 7 != 0).then(|| format!("customer-{:06}", (r * 31) % 1000))
                    }))),
                    Arc::new(Float64Array::from_iter(
                        (0..rows).map(|r| (r % 5 != 0).then_some(r as f64 * 1.5)),
                    )),
                ];
                RecordBatch::try_new(schema.clone(), cols).unwrap()
            })
            .collect();
        (schema, out)
    }

    fn zstd() -> IpcWriteOptions {
        IpcWriteOptions::default()
            .try_with_compression(Some(ipc::CompressionType::ZSTD))
            .unwrap()
    }

    fn read_file_on_threads(bytes: Bytes) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
        read_file(bytes, true)
    }

    fn one_thread(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<u8> {
        write_one_thread(schema, batches, zstd()).unwrap()
    }

    /// Several threads frame the file exactly as arrow's writer does, and reading on
    /// several threads gives the batches back in order.
    #[test]
    fn threads_write_what_one_writer_writes_and_read_it_back_in_order() {
        for (n, rows) in [(1, 10), (2, 1000), (7, 3000), (33, 100)] {
            let (schema, input) = batches(n, rows);
            let written = write_file(&schema, &input, zstd()).unwrap();
            assert_eq!(written, one_thread(&schema, &input), "{n} batches");
            let (read_schema, read) = read_file_on_threads(Bytes::from(written)).unwrap();
            assert_eq!(read_schema, schema);
            assert_eq!(read, input, "{n} batches");
        }
        // No batches at all.
        let (schema, _) = batches(0, 0);
        let written = write_file(&schema, &[], zstd()).unwrap();
        assert_eq!(
            read_file_on_threads(Bytes::from(written)).unwrap().1.len(),
            0
        );
    }

    /// Batches keyed into one shared dictionary per column: `region` (Int8 keys) and
    /// `segment` (Int32 keys), beside plain columns.
    fn dictionary_batches(n: usize, rows: usize) -> (SchemaRef, Vec<RecordBatch>) {
        let dict = |key: DataType| DataType::Dictionary(Box::new(key), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", dict(DataType::Int8), false),
            Field::new("name", DataType::Utf8, true),
            Field::new("segment", dict(DataType::Int32), true),
        ]));
        let regions: ArrayRef = Arc::new(StringArray::from(vec!["East", "West", "North"]));
        let segments: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..500).map(|s| format!("segment-{s:03}")),
        ));
        let out = (0..n)
            .map(|b| {
                let base = b * rows;
                let region: Vec<i8> = (0..rows).map(|r| ((r + b) % 3) as i8).collect();
                let segment: Vec<Option<i32>> = (0..rows)
                    .map(|r| (r % 11 != 0).then_some(((r * 7 + b) % 500) as i32))
                    .collect();
                let cols: Vec<ArrayRef> = vec![
                    Arc::new(Int64Array::from_iter_values(
                        (base..base + rows).map(|i| i as i64),
                    )),
                    Arc::new(
                        DictionaryArray::<Int8Type>::try_new(region.into(), regions.clone())
                            .unwrap(),
                    ),
                    Arc::new(StringArray::from_iter_values(
                        (0..rows).map(|r| format!("name-{}", (r * 13) % 997)),
                    )),
                    Arc::new(
                        DictionaryArray::<Int32Type>::try_new(segment.into(), segments.clone())
                            .unwrap(),
                    ),
                ];
                RecordBatch::try_new(schema.clone(), cols).unwrap()
            })
            .collect();
        (schema, out)
    }

    fn share_one_dictionary(batches: &[RecordBatch], column: usize) -> bool {
        let data: Vec<_> = batches.iter().map(|b| b.column(column).to_data()).collect();
        data.windows(2)
            .all(|w| w[0].child_data()[0].ptr_eq(&w[1].child_data()[0]))
    }

    /// Dictionary columns go on threads too: the file is what arrow's writer writes (the
    /// dictionaries once, before the first batch), and every batch read back shares the
    /// one dictionary of its column, as one reader's batches do.
    #[test]
    fn dictionary_columns_are_written_as_arrow_writes_them() {
        for (n, rows) in [(2, 100), (4, 100), (9, 700)] {
            let (schema, input) = dictionary_batches(n, rows);
            let written = write_file(&schema, &input, zstd()).unwrap();
            assert_eq!(written, one_thread(&schema, &input), "{n} batches");
            let (_, read) = read_file_on_threads(Bytes::from(written)).unwrap();
            assert_eq!(read, input, "{n} batches");
            for column in [1, 3] {
                assert!(share_one_dictionary(&read, column), "column {column}");
            }
        }
    }

    /// A batch whose dictionary differs from the first batch's is refused on threads as
    /// arrow's writer refuses it (a file holds one dictionary per column), whichever
    /// thread encodes it.
    #[test]
    fn a_second_dictionary_is_refused_as_arrow_refuses_it() {
        let (schema, mut input) = dictionary_batches(6, 50);
        for replaced in [1, 4] {
            let mut cols = input[replaced].columns().to_vec();
            let other: ArrayRef = Arc::new(StringArray::from(vec!["Up", "Down", "Side"]));
            cols[1] = cols[1].as_any_dictionary().with_values(other);
            let original = std::mem::replace(
                &mut input[replaced],
                RecordBatch::try_new(schema.clone(), cols).unwrap(),
            );
            let threaded = write_file(&schema, &input, zstd()).unwrap_err().to_string();
            let single = write_one_thread(&schema, &input, zstd())
                .unwrap_err()
                .to_string();
            assert!(threaded.contains("Dictionary replacement"), "{threaded}");
            assert_eq!(threaded, single);
            input[replaced] = original;
        }
        // Equal values behind another array are the same dictionary, as for arrow.
        let mut cols = input[3].columns().to_vec();
        let copy: ArrayRef = Arc::new(StringArray::from(vec!["East", "West", "North"]));
        cols[1] = cols[1].as_any_dictionary().with_values(copy);
        input[3] = RecordBatch::try_new(schema.clone(), cols).unwrap();
        assert_eq!(
            write_file(&schema, &input, zstd()).unwrap(),
            one_thread(&schema, &input)
        );
    }

    /// A dictionary nested in a list stays on one thread and still round-trips.
    #[test]
    fn nested_dictionaries_are_written_and_read_on_one_thread() {
        use datafusion::arrow::array::{ListArray, StringDictionaryBuilder};
        let item = Field::new(
            "item",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        );
        let schema = Arc::new(Schema::new(vec![Field::new(
            "tags",
            DataType::List(Arc::new(item.clone())),
            true,
        )]));
        assert!(!threadable(&schema));
        let mut values = StringDictionaryBuilder::<Int32Type>::new();
        for i in 0..40 {
            values.append_value(["a", "b"][i % 2]);
        }
        let values = values.finish();
        let list = ListArray::new(
            Arc::new(item),
            datafusion::arrow::buffer::OffsetBuffer::from_lengths([2; 20]),
            Arc::new(values),
            None,
        );
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(list)]).unwrap();
        let input = vec![batch.clone(), batch];
        let written = write_file(&schema, &input, zstd()).unwrap();
        assert_eq!(written, one_thread(&schema, &input));
        assert_eq!(read_file_on_threads(Bytes::from(written)).unwrap().1, input);
    }

    /// A file cut short or with a bad footer is an error from every thread's reader,
    /// never a panic.
    #[test]
    fn a_damaged_file_is_an_error() {
        let (schema, input) = batches(6, 500);
        let written = write_file(&schema, &input, zstd()).unwrap();
        assert!(read_file_on_threads(Bytes::from(written[..written.len() / 2].to_vec())).is_err());
        let mut bad = written.clone();
        let at = bad.len() - 10;
        bad[at] ^= 0xff;
        assert!(read_file_on_threads(Bytes::from(bad)).is_err());
    }

    /// A file without compressed buffers is read in place: the same batches, and a
    /// damaged or forged footer (blocks outside the file, a length past its start) is an
    /// error, never a panic.
    #[test]
    fn an_uncompressed_file_is_read_in_place_and_its_footer_checked() {
        let (schema, input) = dictionary_batches(5, 300);
        let written = write_one_thread(&schema, &input, IpcWriteOptions::default()).unwrap();
        let (read_schema, read) = read_file(Bytes::from(written.clone()), false).unwrap();
        assert_eq!(read_schema, schema);
        assert_eq!(read, input);
        assert!(share_one_dictionary(&read, 1));
        let base = written.as_ptr() as usize..written.as_ptr() as usize + written.len();
        let bytes = Bytes::from(written.clone());
        let at = bytes.as_ptr() as usize;
        let (_, in_place) = read_in_place(bytes.clone()).unwrap();
        let values = in_place[2].column(0).to_data().buffers()[0].as_ptr() as usize;
        assert!(
            (at..at + bytes.len()).contains(&values),
            "the arrays point into the file ({base:?})"
        );
        for cut in [0, 9, 10, 100, written.len() / 2, written.len() - 1] {
            assert!(
                read_in_place(Bytes::from(written[..cut].to_vec())).is_err(),
                "cut at {cut}"
            );
        }
        // Every byte of the footer and trailer flipped in turn: refused or read, never a
        // panic.
        for i in written.len().saturating_sub(400)..written.len() {
            let mut forged = written.clone();
            forged[i] ^= 0x5a;
            let _ = read_in_place(Bytes::from(forged));
        }
    }
}
