//! Reading and writing the file formats sources and outputs speak: CSV, JSON lines,
//! Parquet and Arrow IPC. CSV and JSON lines report bad lines by their line number in
//! the file, and can skip them when the block asks to.

use std::io::Cursor;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::{csv, ipc, json};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use super::{CsvOptions, OnError};
use crate::{EngineError, EngineResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Csv,
    Jsonl,
    Parquet,
    Arrow,
}

/// How many rows type inference looks at.
const INFER_ROWS: usize = 1000;
const BATCH_ROWS: usize = 64 * 1024;
/// How many skipped lines a block's notes spell out.
const NOTE_LINES: usize = 5;

/// A decoded file and what the reader wants the author to know (skipped lines).
pub struct Decoded {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub notes: Vec<String>,
}

pub fn decode_file(
    format: FileFormat,
    bytes: Bytes,
    csv: Option<&CsvOptions>,
) -> EngineResult<Decoded> {
    match format {
        FileFormat::Csv => decode_csv(&bytes, csv.cloned().unwrap_or_default()),
        FileFormat::Jsonl => decode_jsonl(&bytes, csv.map(|c| c.on_error).unwrap_or_default()),
        FileFormat::Parquet => {
            let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .map_err(|e| EngineError::Data(format!("not a readable Parquet file: {e}")))?;
            let schema = builder.schema().clone();
            let reader = builder
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| EngineError::Data(format!("not a readable Parquet file: {e}")))?;
            let batches = reader
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| EngineError::Data(format!("Parquet: {e}")))?;
            Ok(Decoded {
                schema,
                batches,
                notes: vec![],
            })
        }
        FileFormat::Arrow => {
            let (schema, batches) = decode_ipc(bytes)?;
            Ok(Decoded {
                schema,
                batches,
                notes: vec![],
            })
        }
    }
}

/// Refuses IPC whose compressed buffers claim too much once inflated; returns whether
/// any buffer is compressed.
pub(crate) fn check_ipc(bytes: &[u8]) -> EngineResult<bool> {
    vitrine_plugins::check_ipc(bytes, vitrine_plugins::inflate_bound(bytes.len()))
        .map_err(|e| EngineError::Data(format!("Arrow IPC file refused: {e}")))
}

/// Arrow IPC in either framing: the file format (magic `ARROW1`) or a bare stream.
pub fn decode_ipc(bytes: Bytes) -> EngineResult<(SchemaRef, Vec<RecordBatch>)> {
    decode_ipc_checked(bytes).map(|d| (d.schema, d.batches))
}

/// What [`decode_ipc_checked`] read.
pub(crate) struct DecodedIpc {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// Some buffer was compressed.
    pub compressed: bool,
}

/// [`decode_ipc`], also telling whether the input had compressed buffers.
pub(crate) fn decode_ipc_checked(bytes: Bytes) -> EngineResult<DecodedIpc> {
    let bad = |e: datafusion::arrow::error::ArrowError| {
        EngineError::Data(format!("not a readable Arrow IPC file: {e}"))
    };
    // Compressed buffers claim what they inflate to, and the reader allocates that
    // before inflating: checked first, so a forged claim is an error, not an abort.
    let compressed = check_ipc(&bytes)?;
    let (schema, batches) = if bytes.starts_with(b"ARROW1") {
        // Inflating is the work: every core takes a share of the batches.
        super::ipc_threads::read_file(bytes, compressed).map_err(bad)?
    } else {
        let reader = ipc::reader::StreamReader::try_new(Cursor::new(bytes), None).map_err(bad)?;
        let schema = reader.schema();
        (schema, reader.collect::<Result<Vec<_>, _>>().map_err(bad)?)
    };
    Ok(DecodedIpc {
        schema,
        batches,
        compressed,
    })
}

pub fn encode_file(
    format: FileFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> EngineResult<Vec<u8>> {
    let mut out = Vec::new();
    match format {
        FileFormat::Csv => {
            let mut w = csv::WriterBuilder::new().with_header(true).build(&mut out);
            for b in batches {
                w.write(b)?;
            }
        }
        FileFormat::Jsonl => {
            let mut w = json::LineDelimitedWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        FileFormat::Parquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let mut w = ArrowWriter::try_new(&mut out, schema.clone(), Some(props))
                .map_err(|e| EngineError::Internal(format!("parquet writer: {e}")))?;
            for b in batches {
                w.write(b)
                    .map_err(|e| EngineError::Internal(format!("parquet writer: {e}")))?;
            }
            w.close()
                .map_err(|e| EngineError::Internal(format!("parquet writer: {e}")))?;
        }
        FileFormat::Arrow => return encode_ipc(schema, batches),
    }
    Ok(out)
}

/// The dataset artifact format: Arrow IPC file framing, uncompressed so reading it back
/// is a memory copy rather than a decode.
/// The file in one piece: its parts (see [`encode_ipc_parts`]) joined.
pub fn encode_ipc(schema: &SchemaRef, batches: &[RecordBatch]) -> EngineResult<Vec<u8>> {
    let file = encode_ipc_parts(schema, batches)?;
    let mut out = Vec::with_capacity(file.size());
    for part in &file.parts {
        out.extend_from_slice(part);
    }
    Ok(out)
}

/// [`encode_ipc`]'s file as its parts (the arrays' own buffers and the framing between
/// them), for hashing and storing without copying the data into one piece first.
pub(crate) fn encode_ipc_parts(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> EngineResult<super::ipc_parts::FileParts> {
    let (schema, batches) = shared_dictionaries(schema, batches)?;
    Ok(super::ipc_parts::write_parts(&schema, &batches)?)
}

/// An Arrow IPC file with its buffers compressed by zstd (level 3): how a bundle carries
/// a dataset, so that its zip entry is stored as is (any zip tool opens it) and any Arrow
/// reader with zstd still reads it. [`crate::Datasets::put_ipc`] stores such a file in
/// the artifact form again.
pub fn compress_ipc(bytes: Bytes) -> EngineResult<Vec<u8>> {
    let (schema, batches) = decode_ipc(bytes)?;
    let options = ipc::writer::IpcWriteOptions::default()
        .try_with_compression(Some(ipc::CompressionType::ZSTD))?;
    // Compressing is the work: every core takes a share of the batches.
    Ok(super::ipc_threads::write_file(&schema, &batches, options)?)
}

/// The IPC file format allows one dictionary per column across all batches. Dictionary
/// columns whose batches carry different dictionaries (as query results may) are
/// turned back into their plain values; columns sharing one dictionary stay as they are.
pub fn shared_dictionaries(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> EngineResult<(SchemaRef, Vec<RecordBatch>)> {
    use datafusion::arrow::array::AsArray;
    let mut plain: Vec<usize> = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if let DataType::Dictionary(..) = f.data_type() {
            let values: Vec<ArrayRef> = batches
                .iter()
                .map(|b| b.column(i).as_any_dictionary().values().clone())
                .collect();
            // The same array, or (as a file reader hands out) new handles on the same
            // buffers: either way one dictionary, and re-encoding read data keeps it.
            let same =
                |a: &ArrayRef, b: &ArrayRef| Arc::ptr_eq(a, b) || a.to_data().ptr_eq(&b.to_data());
            if values.windows(2).any(|w| !same(&w[0], &w[1])) {
                plain.push(i);
            }
        }
    }
    if plain.is_empty() {
        return Ok((schema.clone(), batches.to_vec()));
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match (plain.contains(&i), f.data_type()) {
            (true, DataType::Dictionary(_, v)) => {
                Field::new(f.name(), v.as_ref().clone(), f.is_nullable())
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    let out_schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let mut cols = b.columns().to_vec();
        for &i in &plain {
            cols[i] = datafusion::arrow::compute::cast(&cols[i], out_schema.field(i).data_type())?;
        }
        out.push(RecordBatch::try_new(out_schema.clone(), cols)?);
    }
    Ok((out_schema, out))
}

fn decode_csv(bytes: &[u8], opts: CsvOptions) -> EngineResult<Decoded> {
    let delimiter = opts.delimiter.as_bytes()[0];
    let infer = |b: &[u8]| {
        csv::reader::Format::default()
            .with_header(opts.header)
            .with_delimiter(delimiter)
            .infer_schema(Cursor::new(b), Some(INFER_ROWS))
            .map(|(s, _)| Arc::new(s))
    };
    // Lines with the wrong number of fields are found first: inference itself trips on them.
    let mut early: Vec<String> = Vec::new();
    let mut owned: Option<Vec<u8>> = None;
    let schema: SchemaRef = match &opts.columns {
        Some(cols) => Arc::new(Schema::new(
            cols.iter()
                .map(|c| Field::new(&c.name, c.ty.arrow(), true))
                .collect::<Vec<_>>(),
        )),
        None => match infer(bytes) {
            Ok(s) => s,
            Err(e) => {
                let (clean, problems) = check_csv(bytes, None, opts.header, delimiter)?;
                if problems.is_empty() {
                    return Err(EngineError::Data(format!("cannot read the CSV: {e}")));
                }
                if opts.on_error == OnError::Fail {
                    return Err(EngineError::Data(format!(
                        "{}; set on_error to `skip` to leave bad lines out",
                        problems[0]
                    )));
                }
                early = problems;
                let s = infer(&clean)
                    .map_err(|e| EngineError::Data(format!("cannot read the CSV: {e}")))?;
                owned = Some(clean);
                s
            }
        },
    };
    let bytes: &[u8] = owned.as_deref().unwrap_or(bytes);
    let skipped = |mut problems: Vec<String>| {
        problems.extend(early.iter().cloned());
        if problems.is_empty() {
            return vec![];
        }
        let mut notes = vec![format!("skipped {} malformed lines", problems.len())];
        notes.extend(problems.into_iter().take(NOTE_LINES));
        notes
    };
    match parse_csv(bytes, &schema, opts.header, delimiter) {
        Ok(batches) => Ok(Decoded {
            schema,
            batches,
            notes: skipped(vec![]),
        }),
        // Arrow stops at the first problem with a batch-relative position; a second,
        // record-by-record pass finds every bad line by its line number in the file.
        Err(arrow_err) => {
            let (clean, problems) = check_csv(bytes, Some(&schema), opts.header, delimiter)?;
            if problems.is_empty() {
                return Err(EngineError::Data(format!("CSV: {arrow_err}")));
            }
            let inferred = if opts.columns.is_none() {
                format!(
                    " (column types were inferred from the first {INFER_ROWS} rows; declare `columns` to set them)"
                )
            } else {
                String::new()
            };
            if opts.on_error == OnError::Fail {
                return Err(EngineError::Data(format!(
                    "{}{inferred}; set on_error to `skip` to leave bad lines out",
                    problems[0]
                )));
            }
            let batches = parse_csv(&clean, &schema, opts.header, delimiter)
                .map_err(|e| EngineError::Data(format!("CSV: {e}")))?;
            Ok(Decoded {
                schema,
                batches,
                notes: skipped(problems),
            })
        }
    }
}

fn parse_csv(
    bytes: &[u8],
    schema: &SchemaRef,
    header: bool,
    delimiter: u8,
) -> Result<Vec<RecordBatch>, datafusion::arrow::error::ArrowError> {
    csv::ReaderBuilder::new(schema.clone())
        .with_header(header)
        .with_delimiter(delimiter)
        .with_batch_size(BATCH_ROWS)
        .build(Cursor::new(bytes))?
        .collect()
}

/// Walks every record: wrong field counts and values that do not parse as their column's
/// type become `line N: …` problems; the good records (and the header) are copied out.
/// Without a schema only field counts are checked, against the first record's.
fn check_csv(
    bytes: &[u8],
    schema: Option<&Schema>,
    header: bool,
    delimiter: u8,
) -> EngineResult<(Vec<u8>, Vec<String>)> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut width = schema.map(|s| s.fields().len());
    let mut record = ::csv::ByteRecord::new();
    let mut spans: Vec<(u64, std::ops::Range<usize>)> = Vec::new();
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); width.unwrap_or(0)];
    let mut problems: Vec<(u64, String)> = Vec::new();
    let mut clean = Vec::with_capacity(bytes.len());
    let mut first = header;
    loop {
        let start = reader.position().byte() as usize;
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(EngineError::Data(format!("line {line}: {e}")));
            }
        }
        let end = reader.position().byte() as usize;
        let width = *width.get_or_insert(record.len());
        if first {
            clean.extend_from_slice(&bytes[start..end]);
            first = false;
            continue;
        }
        if record.len() != width {
            problems.push((
                line,
                format!(
                    "line {line}: expected {width} fields, found {}",
                    record.len()
                ),
            ));
            continue;
        }
        if schema.is_some() {
            for (i, f) in record.iter().enumerate() {
                let s = String::from_utf8_lossy(f);
                columns[i].push((!s.is_empty()).then(|| s.into_owned()));
            }
        }
        spans.push((line, start..end));
    }
    let mut bad_rows = vec![None::<String>; spans.len()];
    for (i, field) in schema.iter().flat_map(|s| s.fields().iter()).enumerate() {
        if matches!(field.data_type(), DataType::Utf8) {
            continue;
        }
        let raw: ArrayRef = Arc::new(StringArray::from(std::mem::take(&mut columns[i])));
        let cast = cast_with_options(
            &raw,
            field.data_type(),
            &CastOptions {
                safe: true,
                ..Default::default()
            },
        )?;
        let strings = raw.as_any().downcast_ref::<StringArray>().expect("strings");
        for (row, bad) in bad_rows.iter_mut().enumerate() {
            if raw.is_valid(row) && cast.is_null(row) && bad.is_none() {
                *bad = Some(format!(
                    "column `{}`: `{}` is not a {}",
                    field.name(),
                    strings.value(row),
                    crate::types::type_name(field.data_type())
                ));
            }
        }
    }
    for ((line, span), bad) in spans.into_iter().zip(bad_rows) {
        match bad {
            Some(why) => problems.push((line, format!("line {line}, {why}"))),
            None => {
                clean.extend_from_slice(&bytes[span.clone()]);
                if !bytes[..span.end].ends_with(b"\n") {
                    clean.push(b'\n');
                }
            }
        }
    }
    problems.sort_by_key(|(l, _)| *l);
    Ok((clean, problems.into_iter().map(|(_, p)| p).collect()))
}

fn decode_jsonl(bytes: &[u8], on_error: OnError) -> EngineResult<Decoded> {
    // Each line must be a JSON object; find the bad ones first, by line number.
    let mut problems = Vec::new();
    let mut clean = Vec::with_capacity(bytes.len());
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        match serde_json::from_slice::<serde_json::Value>(trimmed) {
            Ok(serde_json::Value::Object(_)) => {
                clean.extend_from_slice(trimmed);
                clean.push(b'\n');
            }
            Ok(_) => problems.push(format!("line {}: not a JSON object", i + 1)),
            Err(e) => problems.push(format!("line {}: {e}", i + 1)),
        }
    }
    if !problems.is_empty() && on_error == OnError::Fail {
        return Err(EngineError::Data(format!(
            "{}; set on_error to `skip` to leave bad lines out",
            problems[0]
        )));
    }
    let (schema, _) = json::reader::infer_json_schema(Cursor::new(&clean), Some(INFER_ROWS))?;
    let schema = Arc::new(schema);
    let batches = json::ReaderBuilder::new(schema.clone())
        .with_batch_size(BATCH_ROWS)
        .build(Cursor::new(&clean))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EngineError::Data(format!("JSON lines: {e}")))?;
    let mut notes = Vec::new();
    if !problems.is_empty() {
        notes.push(format!("skipped {} malformed lines", problems.len()));
        notes.extend(problems.into_iter().take(NOTE_LINES));
    }
    Ok(Decoded {
        schema,
        batches,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_opts(skip: bool) -> CsvOptions {
        CsvOptions {
            on_error: if skip { OnError::Skip } else { OnError::Fail },
            ..Default::default()
        }
    }

    #[test]
    fn csv_bad_lines_are_named_or_skipped() {
        let typed = b"id,amount\n1,2.5\n2,oops\n3,4\n";
        let declared = CsvOptions {
            columns: Some(vec![
                super::super::ColumnDecl {
                    name: "id".into(),
                    ty: crate::ColumnType::Int64,
                },
                super::super::ColumnDecl {
                    name: "amount".into(),
                    ty: crate::ColumnType::Float64,
                },
            ]),
            ..Default::default()
        };
        let err = decode_csv(typed, declared.clone())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("line 3, column `amount`: `oops` is not a float"),
            "{err}"
        );
        let data = b"id,amount\n1,2.5\n2,oops\n3,4\n4,1,9\n";
        let err = decode_csv(data, csv_opts(false)).err().unwrap().to_string();
        assert!(
            err.starts_with("line 5: expected 2 fields, found 3"),
            "{err}"
        );
        let ok = decode_csv(data, csv_opts(true)).unwrap();
        let rows: usize = ok.batches.iter().map(|b| b.num_rows()).sum();
        // Inference sees `oops`, so `amount` is text and only the short line goes.
        assert_eq!(rows, 3);
        assert_eq!(ok.notes[0], "skipped 1 malformed lines");
        assert!(
            ok.notes
                .contains(&"line 5: expected 2 fields, found 3".to_owned()),
            "{:?}",
            ok.notes
        );
        let ok = decode_csv(
            typed,
            CsvOptions {
                on_error: OnError::Skip,
                ..declared
            },
        )
        .unwrap();
        assert_eq!(ok.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert!(
            ok.notes
                .iter()
                .any(|n| n.starts_with("line 3, column `amount`")),
            "{:?}",
            ok.notes
        );
    }

    #[test]
    fn formats_round_trip() {
        let d = decode_csv(b"a,b\n1,x\n2,y\n", CsvOptions::default()).unwrap();
        for f in [
            FileFormat::Csv,
            FileFormat::Parquet,
            FileFormat::Arrow,
            FileFormat::Jsonl,
        ] {
            let bytes = encode_file(f, &d.schema, &d.batches).unwrap();
            let back = decode_file(f, Bytes::from(bytes), None).unwrap();
            let rows: usize = back.batches.iter().map(|b| b.num_rows()).sum();
            assert_eq!(rows, 2, "{f:?}");
        }
    }

    #[test]
    fn jsonl_reports_line_numbers() {
        let err = decode_jsonl(b"{\"a\":1}\n{\"a\":\n", OnError::Fail)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("line 2:"), "{err}");
    }
}
