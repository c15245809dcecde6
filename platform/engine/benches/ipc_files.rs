//! A dataset as a bundle carries it: an Arrow IPC file with zstd-compressed buffers,
//! written (export) and read back (import) by Vitrine on every core, against arrow's own
//! writer and reader on one, in the same run. The data is the bundle bench's as a stored
//! artifact holds it: 1.4M rows of ids, customer and product names, a region with four
//! values (dictionary-encoded, as datasets store text with few values) and amounts, in
//! batches of 8,192 rows.
//! `cargo bench --workspace --bench ipc_files`.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use datafusion::arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int8Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int8Type, Schema};
use datafusion::arrow::ipc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("customer", DataType::Utf8, false),
        Field::new("product", DataType::Utf8, false),
        Field::new(
            "region",
            DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8)),
            false,
        ),
        Field::new("sales", DataType::Float64, false),
    ]));
    let regions: ArrayRef = Arc::new(StringArray::from(vec!["West", "East", "Central", "South"]));
    let batches: Vec<RecordBatch> = (0..171usize)
        .map(|b| {
            let rows = (b * 8192)..(b * 8192 + 8192);
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(rows.clone().map(|i| i as i64))),
                Arc::new(StringArray::from_iter_values(
                    rows.clone()
                        .map(|i| format!("customer-{:08}", (i * 7919) % 1_000_003)),
                )),
                Arc::new(StringArray::from_iter_values(rows.clone().map(|i| {
                    format!("product-{:06}-{:04}", (i * 31) % 100_000, i % 9973)
                }))),
                Arc::new(
                    DictionaryArray::<Int8Type>::try_new(
                        Int8Array::from_iter_values(rows.clone().map(|i| (i % 4) as i8)),
                        regions.clone(),
                    )
                    .unwrap(),
                ),
                Arc::new(Float64Array::from_iter_values(
                    rows.map(|i| (i % 10_000) as f64 * 1.37),
                )),
            ];
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        })
        .collect();
    let artifact = {
        let mut out = Vec::new();
        let mut w = ipc::writer::FileWriter::try_new(&mut out, &schema).unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
        drop(w);
        Bytes::from(out)
    };
    let zstd = || {
        ipc::writer::IpcWriteOptions::default()
            .try_with_compression(Some(ipc::CompressionType::ZSTD))
            .unwrap()
    };

    let mut packed = Vec::new();
    let one_writer = best_of(5, || {
        let mut out = Vec::new();
        let mut w =
            ipc::writer::FileWriter::try_new_with_options(&mut out, &schema, zstd()).unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
        drop(w);
        packed = out;
    });
    let mut ours = Vec::new();
    let vitrine_writer = best_of(5, || {
        ours = vitrine_engine::blocks::compress_ipc(artifact.clone()).unwrap();
    });
    assert_eq!(ours, packed, "the same file, byte for byte");
    let packed = Bytes::from(packed);
    let one_reader = best_of(5, || {
        let r = ipc::reader::FileReader::try_new(Cursor::new(packed.clone()), None).unwrap();
        assert_eq!(r.map(|b| b.unwrap().num_rows()).sum::<usize>(), 171 * 8192);
    });
    let vitrine_reader = best_of(5, || {
        let (_, read) = vitrine_engine::blocks::decode_ipc(packed.clone()).unwrap();
        assert_eq!(read.len(), 171);
    });
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "dataset: {:.1} MB as Arrow IPC, {:.1} MB with zstd buffers; {cores} cores",
        artifact.len() as f64 / 1e6,
        packed.len() as f64 / 1e6
    );
    println!(
        "write (export): arrow's writer {:.0} ms | vitrine (decode + every core) {:.0} ms | ratio {:.2}x",
        one_writer.as_secs_f64() * 1e3,
        vitrine_writer.as_secs_f64() * 1e3,
        vitrine_writer.as_secs_f64() / one_writer.as_secs_f64()
    );
    println!(
        "read (import):  arrow's reader {:.0} ms | vitrine (checks + every core) {:.0} ms | ratio {:.2}x",
        one_reader.as_secs_f64() * 1e3,
        vitrine_reader.as_secs_f64() * 1e3,
        vitrine_reader.as_secs_f64() / one_reader.as_secs_f64()
    );
}
