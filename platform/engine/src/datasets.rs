//! Block outputs and datasets as content-addressed Arrow IPC artifacts, an in-memory
//! cache of decoded tables, and garbage collection of artifacts nothing references.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use parking_lot::Mutex;
use vitrine_storage::{Artifact, ArtifactKind, Store};

use crate::blocks::files::encode_ipc_parts;
use crate::blocks::ipc_parts::FileParts;
use crate::cache::Lru;
use crate::{EngineError, EngineResult};

/// A decoded dataset, shared by every query that reads it (cloning shares the batches).
#[derive(Debug, Clone)]
pub struct Table {
    pub schema: SchemaRef,
    pub batches: Arc<Vec<RecordBatch>>,
    pub bytes: usize,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// Stored artifacts and the cache of decoded ones.
pub struct Datasets {
    store: Store,
    cache: Mutex<Lru<String, Table>>,
    /// Artifacts written by runs still in flight, which GC must not touch even though no
    /// record points at them yet.
    pins: Mutex<Pins>,
    /// Writers hold it shared from "pin, is it there?" to the write; a collection holds
    /// it exclusively from "is it pinned?" to the delete. Otherwise a writer could find
    /// an artifact present, skip writing it, and see it deleted a moment later.
    artifact_lock: tokio::sync::RwLock<()>,
}

/// Pin counts. While a collection pass runs, unpins wait until it ends: an artifact
/// pinned at any moment of the pass is spared, whether or not its record was written
/// before the pass read the references.
#[derive(Default)]
struct Pins {
    counts: HashMap<String, usize>,
    collecting: bool,
    deferred: Vec<String>,
}

impl Pins {
    fn release(&mut self, hash: &str) {
        if let Some(n) = self.counts.get_mut(hash) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(hash);
            }
        }
    }
}

/// An artifact's name: the BLAKE3 of its bytes, in hex (what `b3sum` prints for the
/// file). Every block output and dataset is hashed once, on the path of each run and
/// import, so the hash is the fast one; it is still a cryptographic hash, because equal
/// names are taken for equal content (an import stores nothing new when the name exists).
/// Artifacts written before this carry their SHA-256 and are still read by that name.
fn content_hash(file: &FileParts) -> String {
    crate::content_hash::content_hash(&file.parts)
}

impl Datasets {
    pub fn new(store: Store, cache_bytes: usize) -> Datasets {
        Datasets {
            store,
            cache: Mutex::new(Lru::new("tables", cache_bytes)),
            pins: Mutex::new(Pins::default()),
            artifact_lock: tokio::sync::RwLock::new(()),
        }
    }

    /// Writes a table as an artifact; returns its content hash and size. Identical
    /// content lands on the same path, so a re-run that changes nothing stores nothing new.
    pub async fn put(
        &self,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> EngineResult<(String, usize)> {
        let schema = schema.clone();
        let batches = batches.to_vec();
        let (hash, file) = tokio::task::spawn_blocking(move || {
            let (schema, batches) = dictionary_encode(&schema, &batches);
            let file = encode_ipc_parts(&schema, &batches)?;
            let hash = content_hash(&file);
            Ok::<_, EngineError>((hash, file))
        })
        .await
        .map_err(|e| EngineError::Internal(format!("encoder task: {e}")))??;
        let size = file.size();
        self.keep(&hash, file).await?;
        Ok((hash, size))
    }

    /// Stores `file` under its hash unless that artifact exists, pinned until the
    /// caller's records point at it.
    async fn keep(&self, hash: &str, file: FileParts) -> EngineResult<()> {
        let path = Artifact::Dataset(hash);
        let _writing = self.artifact_lock.read().await;
        self.pin(hash);
        if !self.store.artifacts().exists(path).await? {
            self.store.artifacts().put_parts(path, file.parts).await?;
        }
        Ok(())
    }

    /// Stores an Arrow IPC file that came from outside (a bundle, a working copy's
    /// origin) under its own hash, once it decodes; returns the hash, its row count and
    /// the stored artifact's size.
    /// The hash is computed here, never taken from the sender. A file with compressed
    /// buffers (how bundles carry data) is written again in the artifact form first, so a
    /// dataset keeps one content hash however it travelled. The artifact is pinned until
    /// the caller's records point at it ([`unpin`](Self::unpin)).
    pub async fn put_ipc(&self, bytes: bytes::Bytes) -> EngineResult<(String, usize, u64)> {
        let started = std::time::Instant::now();
        let (hash, rows, file, steps) = tokio::task::spawn_blocking(move || {
            let read = crate::blocks::files::decode_ipc_checked(bytes.clone())?;
            let decoded = started.elapsed();
            let rows = read.batches.iter().map(|b| b.num_rows()).sum::<usize>();
            let file = match read.compressed {
                true => encode_ipc_parts(&read.schema, &read.batches)?,
                false => FileParts::from(bytes),
            };
            let encoded = started.elapsed();
            let hash = content_hash(&file);
            Ok::<_, EngineError>((hash, rows, file, [decoded, encoded, started.elapsed()]))
        })
        .await
        .map_err(|e| EngineError::Internal(format!("decoder task: {e}")))??;
        let size = file.size();
        self.keep(&hash, file).await?;
        // Where storing an outside file's time goes: the bundle bench shows it with
        // `VITRINE_BENCH_LOG=vitrine_engine=debug`.
        tracing::debug!(
            bytes = size,
            decode_ms = steps[0].as_millis() as u64,
            encode_ms = (steps[1] - steps[0]).as_millis() as u64,
            hash_ms = (steps[2] - steps[1]).as_millis() as u64,
            write_ms = (started.elapsed() - steps[2]).as_millis() as u64,
            "ipc file stored"
        );
        Ok((hash, rows, size as u64))
    }

    pub async fn exists(&self, hash: &str) -> EngineResult<bool> {
        Ok(self
            .store
            .artifacts()
            .exists(Artifact::Dataset(hash))
            .await?)
    }

    /// The decoded-table cache's lookups so far.
    pub(crate) fn cache_stats(&self) -> crate::CacheStats {
        self.cache.lock().stats()
    }

    /// The decoded table behind `hash`, from the cache or the artifact store.
    pub async fn get(&self, hash: &str) -> EngineResult<Arc<Table>> {
        if let Some(t) = self.cache.lock().get(hash) {
            return Ok(t);
        }
        let bytes = self
            .store
            .artifacts()
            .get_bytes(Artifact::Dataset(hash))
            .await
            .map_err(|e| match e.code() {
                vitrine_core::ErrorCode::Internal | vitrine_core::ErrorCode::NotFound => {
                    EngineError::NotFound(format!("dataset artifact {hash}"))
                }
                _ => e.into(),
            })?;
        let size = bytes.len();
        let (schema, batches) = tokio::task::spawn_blocking(move || decode_zero_copy(bytes))
            .await
            .map_err(|e| EngineError::Internal(format!("decoder task: {e}")))??;
        let table = Arc::new(Table {
            schema,
            batches: Arc::new(batches),
            bytes: size,
        });
        self.cache
            .lock()
            .insert(hash.to_owned(), table.clone(), size);
        Ok(table)
    }

    pub fn pin(&self, hash: &str) {
        *self.pins.lock().counts.entry(hash.to_owned()).or_default() += 1;
    }

    /// How many holds keep `hash` from collection now.
    pub fn pins_of(&self, hash: &str) -> usize {
        self.pins.lock().counts.get(hash).copied().unwrap_or(0)
    }

    pub fn unpin(&self, hashes: &[String]) {
        let mut p = self.pins.lock();
        if p.collecting {
            p.deferred.extend(hashes.iter().cloned());
            return;
        }
        for h in hashes {
            p.release(h);
        }
    }

    /// Deletes artifacts no block result or dataset references. With a shared database
    /// another process may be mid-run, so only artifacts older than `grace_ms` go.
    /// One pass at a time (the engine's collector calls it).
    pub(crate) async fn collect_garbage(&self, grace_ms: i64) -> EngineResult<usize> {
        self.pins.lock().collecting = true;
        let result = self.sweep(grace_ms).await;
        let mut p = self.pins.lock();
        p.collecting = false;
        for h in std::mem::take(&mut p.deferred) {
            p.release(&h);
        }
        result
    }

    async fn sweep(&self, grace_ms: i64) -> EngineResult<usize> {
        let referenced: HashSet<String> = self.store.referenced_hashes().await?;
        let now = vitrine_storage::now_ms();
        let mut deleted = 0;
        for hash in self.store.artifacts().list(ArtifactKind::Dataset).await? {
            let hash = hash.as_str();
            let path = Artifact::Dataset(hash);
            if referenced.contains(hash) {
                continue;
            }
            if grace_ms > 0 {
                let modified = self
                    .store
                    .artifacts()
                    .modified_ms(path)
                    .await?
                    .unwrap_or(now);
                if now - modified < grace_ms {
                    continue;
                }
            }
            let _deleting = self.artifact_lock.write().await;
            if self.pins.lock().counts.contains_key(hash) {
                continue;
            }
            self.store.artifacts().delete(path).await?;
            self.cache.lock().remove(hash);
            deleted += 1;
        }
        if deleted > 0 {
            tracing::info!(deleted, "collected unreferenced dataset artifacts");
        }
        Ok(deleted)
    }
}

/// Decodes an artifact whose arrays point into `bytes` instead of copies of it: reading
/// a dataset back costs little more than reading the file.
fn decode_zero_copy(bytes: Bytes) -> EngineResult<(SchemaRef, Vec<RecordBatch>)> {
    crate::blocks::ipc_threads::read_file(bytes, false)
        .map_err(|e| EngineError::Internal(format!("dataset artifact is unreadable: {e}")))
}

/// Text columns with few distinct values are stored dictionary-encoded: an artifact of
/// ten million rows over a thousand customers shrinks by the strings it no longer
/// repeats, and reading it back costs that much less. The IPC file format allows one
/// dictionary per column, so it is built over all batches.
pub(crate) fn dictionary_encode(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> (SchemaRef, Vec<RecordBatch>) {
    use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Int8Type, Int16Type, Int32Type, Schema};

    // Dictionaries that came from upstream are undone first, so each text column gets
    // exactly one dictionary, built here.
    let plain = |f: &Field| match f.data_type() {
        DataType::Dictionary(_, v) => Field::new(f.name(), v.as_ref().clone(), f.is_nullable()),
        _ => f.clone(),
    };
    let schema: SchemaRef = Arc::new(Schema::new_with_metadata(
        schema.fields().iter().map(|f| plain(f)).collect::<Vec<_>>(),
        schema.metadata().clone(),
    ));
    let batches: Vec<RecordBatch> = batches
        .iter()
        .map(|b| {
            let cols = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| {
                    if c.data_type() == f.data_type() {
                        c.clone()
                    } else {
                        datafusion::arrow::compute::cast(c, f.data_type())
                            .expect("dictionary to its values")
                    }
                })
                .collect();
            RecordBatch::try_new(schema.clone(), cols).expect("same shape")
        })
        .collect();
    let (schema, batches) = (&schema, &batches[..]);
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if rows < 4096 {
        return (schema.clone(), batches.to_vec());
    }
    // At most one distinct value per 16 rows, so keys always save space.
    let cap = (rows / 16).min(1 << 20);
    let mut fields: Vec<Field> = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<Vec<ArrayRef>> = batches.iter().map(|b| b.columns().to_vec()).collect();
    for (i, f) in schema.fields().iter().enumerate() {
        if f.data_type() != &DataType::Utf8 {
            fields.push(f.as_ref().clone());
            continue;
        }
        let mut ids: HashMap<&str, i32> = HashMap::new();
        let mut fits = true;
        'scan: for b in batches {
            for v in b.column(i).as_string::<i32>().iter().flatten() {
                if !ids.contains_key(v) {
                    if ids.len() >= cap {
                        fits = false;
                        break 'scan;
                    }
                    let id = ids.len() as i32;
                    ids.insert(v, id);
                }
            }
        }
        if !fits {
            fields.push(f.as_ref().clone());
            continue;
        }
        let mut values = vec![""; ids.len()];
        for (v, id) in &ids {
            values[*id as usize] = v;
        }
        let values: ArrayRef = Arc::new(StringArray::from(values));
        // The narrowest key that holds every id: a thousand customers need two bytes a row.
        let key = match ids.len() {
            n if n <= i8::MAX as usize => DataType::Int8,
            n if n <= i16::MAX as usize => DataType::Int16,
            _ => DataType::Int32,
        };
        for (bi, b) in batches.iter().enumerate() {
            let strings = b.column(i).as_string::<i32>();
            columns[bi][i] = match key {
                DataType::Int8 => keyed::<Int8Type>(strings, &ids, &values),
                DataType::Int16 => keyed::<Int16Type>(strings, &ids, &values),
                _ => keyed::<Int32Type>(strings, &ids, &values),
            };
        }
        fields.push(Field::new(
            f.name(),
            DataType::Dictionary(Box::new(key), Box::new(DataType::Utf8)),
            f.is_nullable(),
        ));
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let batches = columns
        .into_iter()
        .map(|c| RecordBatch::try_new(schema.clone(), c).expect("same shape"))
        .collect();
    (schema, batches)
}

/// One batch's keys into the shared dictionary `values`.
fn keyed<K>(
    strings: &datafusion::arrow::array::StringArray,
    ids: &HashMap<&str, i32>,
    values: &datafusion::arrow::array::ArrayRef,
) -> datafusion::arrow::array::ArrayRef
where
    K: datafusion::arrow::datatypes::ArrowDictionaryKeyType,
    K::Native: TryFrom<i32>,
{
    use datafusion::arrow::array::{DictionaryArray, PrimitiveArray};
    let keys: PrimitiveArray<K> = strings
        .iter()
        .map(|v| {
            v.map(|s| {
                K::Native::try_from(ids[s])
                    .ok()
                    .expect("the key type holds every id")
            })
        })
        .collect();
    Arc::new(DictionaryArray::<K>::try_new(keys, values.clone()).expect("keys index the values"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    /// A dataset as a bundle carries it (compressed buffers) and back in the artifact
    /// form is the artifact, byte for byte, dictionaries over several batches included:
    /// an imported project keeps its content hashes.
    #[test]
    fn compressed_ipc_comes_back_as_the_same_artifact_bytes() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, false),
        ]));
        let batch = |start: i64| {
            let ids = start..start + 5000;
            let regions = ids
                .clone()
                .map(|i| ["West", "East", "Central"][(i % 3) as usize]);
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(ids)),
                    Arc::new(StringArray::from_iter_values(regions)),
                ],
            )
            .unwrap()
        };
        let (schema, batches) = dictionary_encode(&schema, &[batch(0), batch(5000)]);
        let artifact = crate::blocks::files::encode_ipc(&schema, &batches).unwrap();
        let packed = crate::blocks::compress_ipc(bytes::Bytes::from(artifact.clone())).unwrap();
        assert!(
            packed.len() * 3 < artifact.len(),
            "{} of {}",
            packed.len(),
            artifact.len()
        );
        assert!(
            crate::blocks::files::check_ipc(&packed).unwrap(),
            "compressed"
        );
        let (schema, batches) = crate::blocks::decode_ipc(bytes::Bytes::from(packed)).unwrap();
        assert_eq!(
            crate::blocks::files::encode_ipc(&schema, &batches).unwrap(),
            artifact
        );
    }

    #[test]
    fn low_cardinality_text_is_dictionary_encoded_and_round_trips() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("region", DataType::Utf8, true),
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = |start: usize| {
            let regions: Vec<Option<&str>> = (0..5000)
                .map(|i| {
                    if i % 7 == 0 {
                        None
                    } else {
                        Some(["West", "East"][i % 2])
                    }
                })
                .collect();
            let ids: Vec<String> = (start..start + 5000).map(|i| format!("id-{i}")).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(regions)),
                    Arc::new(StringArray::from(ids)),
                    Arc::new(Int64Array::from_iter_values(0..5000)),
                ],
            )
            .unwrap()
        };
        let batches = vec![batch(0), batch(5000)];
        let (enc_schema, enc) = dictionary_encode(&schema, &batches);
        assert!(matches!(
            enc_schema.field(0).data_type(),
            DataType::Dictionary(..)
        ));
        assert_eq!(
            enc_schema.field(1).data_type(),
            &DataType::Utf8,
            "unique ids stay plain"
        );
        let bytes = crate::blocks::files::encode_ipc(&enc_schema, &enc).unwrap();
        let (_, back) = decode_zero_copy(Bytes::from(bytes)).unwrap();
        let text = datafusion::arrow::compute::cast(back[1].column(0), &DataType::Utf8).unwrap();
        let orig = batches[1].column(0).as_string::<i32>();
        let text = text.as_string::<i32>();
        for i in 0..orig.len() {
            assert_eq!(orig.is_null(i), text.is_null(i));
            if orig.is_valid(i) {
                assert_eq!(orig.value(i), text.value(i));
            }
        }
    }
}
