//! The parts of an uncompressed file against arrow's own writer.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::ipc::writer::FileWriter;

use super::*;
use crate::blocks::ipc_threads::read_file;
use crate::blocks::ipc_threads::tests::{batches, dictionary_batches};

fn concat(file: &FileParts) -> Vec<u8> {
    file.parts.iter().flat_map(|p| p.to_vec()).collect()
}

fn arrow_writes(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = FileWriter::try_new(&mut out, schema).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    drop(w);
    out
}

/// The parts make the file arrow's writer writes, byte for byte, whatever the batches:
/// none, one, many, empty, sliced, with dictionary columns; and it reads back.
#[test]
fn the_parts_make_the_file_arrow_writes() {
    let mut cases = Vec::new();
    for (n, rows) in [(0, 0), (1, 10), (3, 1000), (17, 100)] {
        cases.push(batches(n, rows));
    }
    for (n, rows) in [(1, 50), (4, 300)] {
        cases.push(dictionary_batches(n, rows));
    }
    let (schema, whole) = batches(1, 5000);
    // Slices share the whole batch's buffers: only their rows are written.
    cases.push((
        schema,
        vec![
            whole[0].slice(7, 1000),
            whole[0].slice(4000, 0),
            whole[0].slice(4100, 900),
        ],
    ));
    for (schema, input) in cases {
        let parts = write_parts(&schema, &input).unwrap();
        let file = concat(&parts);
        assert_eq!(parts.size(), file.len());
        assert_eq!(
            file,
            arrow_writes(&schema, &input),
            "{} batches",
            input.len()
        );
        let (read_schema, read) = read_file(Bytes::from(file), false).unwrap();
        assert_eq!(read_schema, schema);
        assert_eq!(read, input);
    }
}

/// The arrays' buffers are parts as they are, not copies of them.
#[test]
fn the_parts_are_the_arrays_own_buffers() {
    let (schema, input) = batches(2, 4096);
    let parts = write_parts(&schema, &input).unwrap();
    let ids = input[1].column(0).to_data().buffers()[0].as_ptr();
    assert!(
        parts.parts.iter().any(|p| p.as_ptr() == ids),
        "the id column's values are not among the parts"
    );
}

/// A later batch with another dictionary is refused (a file holds one per column),
/// as arrow's writer refuses it; equal values behind another array are accepted.
#[test]
fn a_second_dictionary_is_refused() {
    let (schema, mut input) = dictionary_batches(3, 40);
    let mut cols = input[2].columns().to_vec();
    let other: ArrayRef = Arc::new(StringArray::from(vec!["Up", "Down", "Side"]));
    cols[1] = cols[1].as_any_dictionary().with_values(other);
    let original = std::mem::replace(
        &mut input[2],
        RecordBatch::try_new(schema.clone(), cols).unwrap(),
    );
    let refused = write_parts(&schema, &input).unwrap_err().to_string();
    assert!(refused.contains("one dictionary per column"), "{refused}");
    input[2] = original;
    let mut cols = input[1].columns().to_vec();
    let copy: ArrayRef = Arc::new(StringArray::from(vec!["East", "West", "North"]));
    cols[1] = cols[1].as_any_dictionary().with_values(copy);
    input[1] = RecordBatch::try_new(schema.clone(), cols).unwrap();
    assert_eq!(
        concat(&write_parts(&schema, &input).unwrap()),
        arrow_writes(&schema, &input)
    );
}

/// A stream cut anywhere, or carrying bytes after its end, is an error, never a panic
/// or a footer pointing past the file.
#[test]
fn a_stream_cut_short_is_an_error() {
    let (schema, input) = batches(2, 100);
    let mut encoder = StreamEncoder::try_new(&schema).unwrap();
    let mut stream = Vec::new();
    for b in &input {
        stream.extend(encoder.encode(b).unwrap());
    }
    stream.extend(encoder.finish().unwrap());
    let (dictionaries, records) = blocks_of(&stream, 64).unwrap();
    assert!(dictionaries.is_empty());
    assert_eq!(records.len(), 2);
    let whole: Vec<u8> = stream.iter().flat_map(|b| b.as_slice().to_vec()).collect();
    for cut in [
        0,
        5,
        8,
        20,
        whole.len() / 2,
        whole.len() - 8,
        whole.len() - 1,
    ] {
        let short = [Buffer::from(&whole[..cut])];
        assert!(blocks_of(&short, 64).is_err(), "cut at {cut}");
    }
    // A length near i32::MAX is refused before anything that size is allocated.
    let mut huge = vec![0xff, 0xff, 0xff, 0xff];
    huge.extend_from_slice(&i32::MAX.to_le_bytes());
    assert!(blocks_of(&[Buffer::from(huge.as_slice())], 64).is_err());
    let mut longer = whole.clone();
    longer.extend_from_slice(&[0; 8]);
    assert!(blocks_of(&[Buffer::from(longer.as_slice())], 64).is_err());
    // One byte per buffer reads the same as one buffer.
    let bytewise: Vec<Buffer> = whole.iter().map(|b| Buffer::from(&[*b][..])).collect();
    let (_, again) = blocks_of(&bytewise, 64).unwrap();
    assert_eq!(
        again.iter().map(|b| b.offset()).collect::<Vec<_>>(),
        records.iter().map(|b| b.offset()).collect::<Vec<_>>()
    );
}
