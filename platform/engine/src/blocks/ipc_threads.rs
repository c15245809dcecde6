//! Arrow IPC files with compressed buffers, written and read on several threads. zstd is
//! most of what a project bundle's export and import cost (a bundle carries each dataset
//! as such a file), and arrow's own writer and reader work through the batches one at a
//! time. Batches compress independently, so each thread encodes (or decodes) every n-th
//! batch and the file is framed in batch order: the output is byte for byte what the
//! one-thread [`FileWriter`] writes.
//!
//! Dictionary columns are the exception: a file holds one dictionary per column, which
//! the writer emits before the first batch that needs it, and one reader hands the same
//! dictionary to every batch (several readers would each make their own copy, and the
//! batches would no longer share it). Such files are written and read on one thread.

use std::io::{Cursor, Write};

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc;
use datafusion::arrow::ipc::convert::IpcSchemaEncoder;
use datafusion::arrow::ipc::writer::{
    DictionaryTracker, EncodedData, FileWriter, IpcDataGenerator, IpcWriteContext, IpcWriteOptions,
    write_message,
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

fn has_dictionaries(schema: &SchemaRef) -> bool {
    schema
        .fields()
        .iter()
        .any(|f| has_dictionary(f.data_type()))
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

/// One thread's share of the batches: every `threads`-th from `first`, encoded.
fn encode_share(
    batches: &[RecordBatch],
    first: usize,
    threads: usize,
    options: &IpcWriteOptions,
) -> Result<Vec<(usize, EncodedData)>, ArrowError> {
    let generator = IpcDataGenerator::default();
    // No dictionaries reach here, so each thread's tracker stays empty.
    let mut tracker = DictionaryTracker::new(true);
    let mut context = IpcWriteContext::default();
    (batches.iter().enumerate().skip(first).step_by(threads))
        .map(|(i, b)| {
            let (_, data) = generator.encode(b, &mut tracker, options, &mut context)?;
            Ok((i, data))
        })
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
/// core.
pub(crate) fn write_file(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    options: IpcWriteOptions,
) -> Result<Vec<u8>, ArrowError> {
    let threads = threads_for(batches.len());
    if threads < 2 || has_dictionaries(schema) {
        return write_one_thread(schema, batches, options);
    }
    let encoded = on_threads(threads, |t| encode_share(batches, t, threads, &options))?;

    // Framed as FileWriter frames it: padded magic, the schema, the batches, the end of
    // stream, and a footer that says where each batch starts.
    let body: usize = (encoded.iter())
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
    let mut blocks = Vec::with_capacity(encoded.len());
    for data in encoded {
        let offset = out.len();
        let (header, body) = write_message(&mut out, data, &options)?;
        blocks.push(ipc::Block::new(offset as i64, header as i32, body as i64));
    }
    out.write_all(&EOS)?;

    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let dictionaries = fbb.create_vector::<ipc::Block>(&[]);
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
/// thread reads (and inflates) every n-th batch; otherwise reading is cheap and stays on
/// this thread.
pub(crate) fn read_file(
    bytes: Bytes,
    inflate: bool,
) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    let reader = ipc::reader::FileReader::try_new(Cursor::new(bytes.clone()), None)?;
    let schema = reader.schema();
    let count = reader.num_batches();
    let threads = if inflate { threads_for(count) } else { 1 };
    if threads < 2 || has_dictionaries(&schema) {
        return Ok((schema, reader.collect::<Result<Vec<_>, _>>()?));
    }
    drop(reader);
    let batches = on_threads(threads, |t| read_share(&bytes, t, threads, count))?;
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
    use datafusion::arrow::datatypes::{Field, Int32Type, Schema};
    use std::sync::Arc;

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

    /// A dictionary column is written and read on one thread: its dictionary comes
    /// first, and every batch read back shares it.
    #[test]
    fn dictionary_columns_are_written_as_arrow_writes_them() {
        let values = Arc::new(StringArray::from(vec!["East", "West"]));
        let schema = Arc::new(Schema::new(vec![Field::new(
            "region",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        )]));
        let input: Vec<RecordBatch> = (0..4)
            .map(|b| {
                let keys = (0..100).map(|r| (r + b) % 2).collect::<Vec<i32>>();
                let dict =
                    DictionaryArray::<Int32Type>::try_new(keys.into(), values.clone()).unwrap();
                RecordBatch::try_new(schema.clone(), vec![Arc::new(dict)]).unwrap()
            })
            .collect();
        let written = write_file(&schema, &input, zstd()).unwrap();
        assert_eq!(written, one_thread(&schema, &input));
        let (_, read) = read_file_on_threads(Bytes::from(written)).unwrap();
        assert_eq!(read, input);
        let data: Vec<_> = read.iter().map(|b| b.column(0).to_data()).collect();
        assert!(
            data.windows(2)
                .all(|w| w[0].child_data()[0].ptr_eq(&w[1].child_data()[0])),
            "every batch shares the one dictionary"
        );
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
}
