//! The threaded IPC paths against arrow's own one-thread writer and reader.

use super::*;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::array::{ArrayRef, DictionaryArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{Field, Int8Type, Int32Type, Schema};

pub(crate) fn batches(n: usize, rows: usize) -> (SchemaRef, Vec<RecordBatch>) {
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
pub(crate) fn dictionary_batches(n: usize, rows: usize) -> (SchemaRef, Vec<RecordBatch>) {
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
                    DictionaryArray::<Int8Type>::try_new(region.into(), regions.clone()).unwrap(),
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
    let bytes = Bytes::from(written.clone());
    let file = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
    let (_, in_place) = read_file(bytes.clone(), false).unwrap();
    let values = in_place[2].column(0).to_data().buffers()[0].as_ptr() as usize;
    assert!(file.contains(&values), "the arrays point into the file");
    for cut in [0, 9, 10, 100, written.len() / 2, written.len() - 1] {
        assert!(
            read_file(Bytes::from(written[..cut].to_vec()), false).is_err(),
            "cut at {cut}"
        );
    }
    // Every byte of the footer and trailer flipped in turn: refused or read, never a
    // panic.
    for i in written.len().saturating_sub(400)..written.len() {
        let mut forged = written.clone();
        forged[i] ^= 0x5a;
        let _ = read_file(Bytes::from(forged), false);
    }
}
