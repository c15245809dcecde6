use std::path::{Path, PathBuf};

use opendal::Operator;
use opendal::services::Fs;

use crate::StorageResult;

/// One artifact, named by what it is. [`Artifact::path`] is the one place an artifact's
/// path is made: nothing else in Vitrine builds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact<'a> {
    /// A dataset's Arrow IPC file, by content hash.
    Dataset(&'a str),
    /// An uploaded source file, by content hash.
    Upload(&'a str),
    /// A plugin's component, by content hash.
    Plugin(&'a str),
    /// A file waiting to be downloaded or delivered (bundle, data file, report file), by
    /// export uid.
    Export(&'a str),
}

/// The kinds of [`Artifact`], for listing one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    Dataset,
    Upload,
    Plugin,
    Export,
}

impl ArtifactKind {
    fn prefix(self) -> &'static str {
        match self {
            ArtifactKind::Dataset => "datasets/",
            ArtifactKind::Upload => "uploads/",
            ArtifactKind::Plugin => "plugins/",
            ArtifactKind::Export => "exports/",
        }
    }

    /// The key (hash or uid) of an artifact of this kind stored at `path`.
    fn key_of(self, path: &str) -> Option<&str> {
        let rest = path.strip_prefix(self.prefix())?;
        let key = match self {
            ArtifactKind::Dataset => rest.rsplit('/').next()?.strip_suffix(".arrow")?,
            ArtifactKind::Upload => rest.rsplit('/').next()?,
            ArtifactKind::Plugin => rest.strip_suffix(".wasm")?,
            ArtifactKind::Export => rest,
        };
        (!key.is_empty()).then_some(key)
    }
}

impl Artifact<'_> {
    /// Where the artifact lives in the store. Content-hashed kinds fan out by the hash's
    /// first two characters, so no directory grows past a few thousand entries.
    pub fn path(&self) -> String {
        match *self {
            Artifact::Dataset(h) => format!("datasets/{}/{h}.arrow", fan(h)),
            Artifact::Upload(h) => format!("uploads/{}/{h}", fan(h)),
            Artifact::Plugin(h) => format!("plugins/{h}.wasm"),
            Artifact::Export(uid) => format!("exports/{uid}"),
        }
    }
}

fn fan(hash: &str) -> &str {
    hash.get(..2).unwrap_or("__")
}

/// What a node keeps for itself beside the shared artifacts: caches derived from them,
/// never shared between nodes (compiled plugin code is valid only for the engine build
/// and CPU that made it), so they live on the node's own disk whatever holds the
/// artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeCache {
    /// Plugins compiled to native code, keyed by component hash and engine.
    CompiledPlugins,
}

/// Where the artifacts and this node's caches live.
#[derive(Debug, Clone)]
pub struct ArtifactConfig {
    /// What holds the artifacts every node shares.
    pub backend: ArtifactBackend,
    /// The directory this node's caches go under.
    pub node_dir: PathBuf,
}

/// What holds the shared artifacts.
#[derive(Debug, Clone)]
pub enum ArtifactBackend {
    /// A local directory (one machine, or a shared file system).
    Fs { root: PathBuf },
    /// An S3-compatible object store.
    S3(S3Artifacts),
}

/// An S3 bucket (or a prefix in one). Credentials left unset are taken the way AWS
/// tools take them: the `AWS_…` variables, the shared config files, an instance role.
#[derive(Clone)]
pub struct S3Artifacts {
    pub bucket: String,
    /// A prefix inside the bucket, e.g. `vitrine/` (empty: the bucket's root).
    pub prefix: String,
    pub region: String,
    /// The store's URL for S3-compatible servers (MinIO, Ceph, …); unset: AWS.
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Artifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Artifacts")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ArtifactConfig {
    /// The layout of a data directory: `artifacts/`, and the node's caches beside it.
    pub fn in_data_dir(dir: &Path) -> ArtifactConfig {
        ArtifactConfig {
            backend: ArtifactBackend::Fs {
                root: dir.join("artifacts"),
            },
            node_dir: dir.to_path_buf(),
        }
    }
}

/// Where writes in progress live, inside the root (so the final rename stays on one file
/// system); no artifact kind lists it.
const PARTIAL_DIR: &str = ".partial";

/// Whether a local file is forced to disk before it is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    Synced,
    Transient,
}

/// Writes `parts` to `target`: into `.partial/` under `root` beside the other writes in
/// progress, then renamed into place when whole, so a reader never sees a part of it.
fn write_local(
    root: &Path,
    target: &Path,
    parts: &[bytes::Bytes],
    durability: Durability,
) -> std::io::Result<()> {
    use std::io::{IoSlice, Write};
    let partial = root.join(PARTIAL_DIR);
    std::fs::create_dir_all(&partial)?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let temp = partial.join(crate::new_uid());
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        let parts: Vec<&bytes::Bytes> = parts.iter().filter(|p| !p.is_empty()).collect();
        // As many parts per system call as it takes (the usual limit is 1,024).
        for group in parts.chunks(1024) {
            let mut slices: Vec<IoSlice> = group.iter().map(|p| IoSlice::new(p)).collect();
            let mut rest = &mut slices[..];
            while !rest.is_empty() {
                let n = file.write_vectored(rest)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                IoSlice::advance_slices(&mut rest, n);
            }
        }
        if durability == Durability::Synced {
            file.sync_all()?;
        }
        std::fs::rename(&temp, target)
    };
    let written = write();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Artifacts behind opendal, so the same code runs on a local directory or an object
/// store; and the place of the node's own caches ([`NodeCache`]).
#[derive(Clone)]
pub struct ArtifactStore {
    op: Operator,
    /// The directory behind `op` when it is the local file system: whole-file reads of
    /// large artifacts go straight to it in one read instead of opendal's chunked reads
    /// and the copy that joins them.
    local_root: Option<PathBuf>,
    node_dir: PathBuf,
}

impl ArtifactStore {
    pub fn open(config: &ArtifactConfig) -> StorageResult<ArtifactStore> {
        let (op, local_root) = match &config.backend {
            ArtifactBackend::Fs { root } => {
                // Every write goes to a file of its own under `.partial/` and is renamed
                // into place when whole. Two blocks that produce equal data write the
                // same content-addressed artifact at once; written in place, one
                // truncated the file under the other, which then failed, and a crash
                // could leave a torn artifact.
                let partial = root.join(PARTIAL_DIR);
                let builder = Fs::default()
                    .root(&root.to_string_lossy())
                    .atomic_write_dir(&partial.to_string_lossy());
                (Operator::new(builder)?, Some(root.clone()))
            }
            // An object appears whole or not at all: S3 needs no `.partial` dance.
            ArtifactBackend::S3(s3) => (Operator::new(s3_builder(s3))?, None),
        };
        Ok(ArtifactStore {
            op,
            local_root,
            node_dir: config.node_dir.clone(),
        })
    }

    /// The directory of one of this node's caches (created by whoever fills it).
    pub fn node_cache(&self, cache: NodeCache) -> PathBuf {
        match cache {
            NodeCache::CompiledPlugins => self.node_dir.join("plugin-cache"),
        }
    }

    /// Writes an artifact whole and synced to disk. Shared bytes (`bytes::Bytes`) are
    /// written as they are, without a copy: a dataset is hundreds of megabytes.
    pub async fn put(&self, a: Artifact<'_>, bytes: impl Into<bytes::Bytes>) -> StorageResult<()> {
        self.put_parts(a, vec![bytes.into()]).await
    }

    /// Writes a file given as its parts in order (a dataset whose parts are its arrays'
    /// own buffers), as [`put`](Self::put) writes it, without joining the parts first. On
    /// a local directory the parts go to the file in a few vectored writes; through
    /// opendal's file writer each part, thousands for a large dataset, would be a write
    /// of its own.
    pub async fn put_parts(&self, a: Artifact<'_>, parts: Vec<bytes::Bytes>) -> StorageResult<()> {
        self.put_local_or(a, parts, Durability::Synced).await
    }

    async fn put_at(&self, path: &str, bytes: bytes::Bytes) -> StorageResult<()> {
        self.op.write(path, bytes).await?;
        Ok(())
    }

    /// Writes a file that can be made again (an export waiting for its download): whole
    /// or not at all, as [`put`](Self::put) writes, but not forced to disk before the
    /// answer. Syncing a 17 MB bundle was a fifth of its export; a file lost to a crash
    /// is asked for again, while a dataset or a plugin that records point at must
    /// survive one.
    pub async fn put_transient(
        &self,
        a: Artifact<'_>,
        bytes: impl Into<bytes::Bytes>,
    ) -> StorageResult<()> {
        self.put_local_or(a, vec![bytes.into()], Durability::Transient)
            .await
    }

    /// Writes `parts` as one file: in the local directory by [`write_local`], or as one
    /// object (an object store makes it whole and durable in one request).
    async fn put_local_or(
        &self,
        a: Artifact<'_>,
        parts: Vec<bytes::Bytes>,
        durability: Durability,
    ) -> StorageResult<()> {
        let path = a.path();
        let (Some(root), Some(target)) = (self.local_root.clone(), self.local_path(&path)) else {
            self.op.write(&path, opendal::Buffer::from(parts)).await?;
            return Ok(());
        };
        let failed = |why: String| {
            crate::StorageError::Artifacts(opendal::Error::new(
                opendal::ErrorKind::Unexpected,
                format!("writing artifact {path}: {why}"),
            ))
        };
        tokio::task::spawn_blocking(move || write_local(&root, &target, &parts, durability))
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(e.to_string()))
    }

    pub async fn get(&self, a: Artifact<'_>) -> StorageResult<Vec<u8>> {
        self.get_at(&a.path()).await
    }

    async fn get_at(&self, path: &str) -> StorageResult<Vec<u8>> {
        Ok(self.op.read(path).await?.to_vec())
    }

    /// The artifact's bytes without a copy into a fresh vector.
    pub async fn get_bytes(&self, a: Artifact<'_>) -> StorageResult<bytes::Bytes> {
        let path = &a.path();
        if let Some(full) = self.local_path(path) {
            return match tokio::task::spawn_blocking(move || read_parallel(&full)).await {
                Ok(Ok(v)) => Ok(bytes::Bytes::from(v)),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(crate::StorageError::NotFound("artifact"))
                }
                Ok(Err(e)) => Err(crate::StorageError::Corrupt(format!(
                    "artifact {path}: {e}"
                ))),
                Err(e) => Err(crate::StorageError::Corrupt(format!(
                    "artifact reader: {e}"
                ))),
            };
        }
        Ok(self.op.read(path).await?.to_bytes())
    }

    /// Where `path` lies on the local file system, when the store is a local directory
    /// and the path stays inside it.
    fn local_path(&self, path: &str) -> Option<PathBuf> {
        let root = self.local_root.as_ref()?;
        (!path.split('/').any(|p| p == ".." || p.is_empty())).then(|| root.join(path))
    }

    pub async fn exists(&self, a: Artifact<'_>) -> StorageResult<bool> {
        Ok(self.op.exists(&a.path()).await?)
    }

    /// The keys (hashes or uids) of every stored artifact of one kind.
    pub async fn list(&self, kind: ArtifactKind) -> StorageResult<Vec<String>> {
        let entries = self.op.list_with(kind.prefix()).recursive(true).await?;
        Ok(entries
            .iter()
            .filter_map(|e| kind.key_of(e.path()))
            .map(str::to_owned)
            .collect())
    }

    /// When the artifact was last written, in ms since the epoch.
    pub async fn modified_ms(&self, a: Artifact<'_>) -> StorageResult<Option<i64>> {
        let m = self.op.stat(&a.path()).await?;
        Ok(m.last_modified().map(|t| t.into_inner().as_millisecond()))
    }

    pub async fn delete(&self, a: Artifact<'_>) -> StorageResult<()> {
        self.delete_at(&a.path()).await
    }

    async fn delete_at(&self, path: &str) -> StorageResult<()> {
        self.op.delete(path).await?;
        Ok(())
    }

    /// Writes, reads back and deletes a probe object: proves the store is writable.
    pub async fn ping(&self) -> StorageResult<()> {
        let probe = format!(".probe/{}", crate::new_uid());
        self.put_at(&probe, bytes::Bytes::from_static(b"ok"))
            .await?;
        let back = self.get_at(&probe).await?;
        self.delete_at(&probe).await?;
        if back != b"ok" {
            return Err(crate::StorageError::Corrupt(
                "artifact probe read back different bytes".into(),
            ));
        }
        Ok(())
    }
}

fn s3_builder(s3: &S3Artifacts) -> opendal::services::S3 {
    // opendal's HTTP transport for object stores is installed process-wide; installing
    // it again is harmless.
    opendal::install_default();
    let mut b = opendal::services::S3::default()
        .bucket(&s3.bucket)
        .region(&s3.region)
        .root(&format!("/{}", s3.prefix.trim_matches('/')));
    if let Some(e) = &s3.endpoint {
        b = b.endpoint(e);
    }
    if let (Some(k), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
        b = b.access_key_id(k).secret_access_key(secret);
    }
    b
}

/// Reads a whole file with one thread per core, each filling its own part of the buffer.
/// Reading a large artifact is bound by copying pages into fresh memory, which one core
/// does at about 1 GB/s here; the cores together do it proportionally faster.
fn read_parallel(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if len < (16 << 20) || threads == 1 {
        return std::fs::read(path);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        let chunk = len.div_ceil(threads);
        std::thread::scope(|s| -> std::io::Result<()> {
            let readers: Vec<_> = buf
                .chunks_mut(chunk)
                .enumerate()
                .map(|(i, part)| {
                    let file = &file;
                    s.spawn(move || file.read_exact_at(part, (i * chunk) as u64))
                })
                .collect();
            for r in readers {
                r.join()
                    .map_err(|_| std::io::Error::other("reader thread panicked"))??;
            }
            Ok(())
        })?;
        Ok(buf)
    }
    #[cfg(not(unix))]
    std::fs::read(path)
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn every_kind_lists_back_the_key_it_was_stored_under() {
        let hash = "ab12cd";
        for (a, kind) in [
            (Artifact::Dataset(hash), ArtifactKind::Dataset),
            (Artifact::Upload(hash), ArtifactKind::Upload),
            (Artifact::Plugin(hash), ArtifactKind::Plugin),
            (Artifact::Export(hash), ArtifactKind::Export),
        ] {
            assert_eq!(kind.key_of(&a.path()), Some(hash), "{a:?}");
        }
        assert_eq!(Artifact::Dataset(hash).path(), "datasets/ab/ab12cd.arrow");
        assert_eq!(ArtifactKind::Dataset.key_of("datasets/ab/notes.txt"), None);
    }
}

#[cfg(test)]
mod write_tests {
    use super::*;

    /// Two blocks producing equal data write the same content-addressed artifact at the
    /// same moment. Each write must succeed and the artifact must be whole: a writer that
    /// truncated the file under another made that one fail ("writer got too much data").
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_of_one_artifact_all_succeed_and_leave_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(&ArtifactConfig::in_data_dir(dir.path())).unwrap();
        let bytes: Vec<u8> = (0..(256 * 1024)).map(|i| (i % 251) as u8).collect();
        for round in 0..20 {
            let hash = format!("ab{round:04}");
            let writers: Vec<_> = (0..8)
                .map(|_| {
                    let (store, bytes, hash) = (store.clone(), bytes.clone(), hash.clone());
                    tokio::spawn(async move { store.put(Artifact::Dataset(&hash), bytes).await })
                })
                .collect();
            for w in writers {
                w.await.unwrap().unwrap();
            }
            assert_eq!(store.get(Artifact::Dataset(&hash)).await.unwrap(), bytes);
        }
        assert_eq!(store.list(ArtifactKind::Dataset).await.unwrap().len(), 20);
    }
}

#[cfg(test)]
mod transient_tests {
    use super::*;

    /// A transient write reads back whole, replaces an earlier one, leaves nothing in
    /// the directory of writes in progress, and is deleted like any other artifact.
    #[tokio::test]
    async fn a_transient_file_reads_back_whole_and_leaves_no_partial_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(&ArtifactConfig::in_data_dir(dir.path())).unwrap();
        let uid = "01exportuid";
        let first: Vec<u8> = (0..(3 << 20)).map(|i| (i % 253) as u8).collect();
        store
            .put_transient(Artifact::Export(uid), first.clone())
            .await
            .unwrap();
        assert_eq!(store.get_bytes(Artifact::Export(uid)).await.unwrap(), first);
        store
            .put_transient(Artifact::Export(uid), vec![7u8; 10])
            .await
            .unwrap();
        assert_eq!(
            store.get(Artifact::Export(uid)).await.unwrap(),
            vec![7u8; 10]
        );
        assert_eq!(
            store.list(ArtifactKind::Export).await.unwrap(),
            vec![uid.to_owned()]
        );
        let partial = dir.path().join("artifacts").join(PARTIAL_DIR);
        let left = std::fs::read_dir(&partial).map_or(0, |d| d.count());
        assert_eq!(left, 0, "nothing left in {partial:?}");
        store.delete(Artifact::Export(uid)).await.unwrap();
        assert!(!store.exists(Artifact::Export(uid)).await.unwrap());
    }

    /// A file written as its parts (more than one system call's worth, empty ones among
    /// them) reads back as their concatenation and leaves nothing in progress behind; a
    /// target that cannot be made is an error that leaves nothing either.
    #[tokio::test]
    async fn a_file_written_as_parts_reads_back_as_their_concatenation() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(&ArtifactConfig::in_data_dir(dir.path())).unwrap();
        let parts: Vec<bytes::Bytes> = (0..3000usize)
            .map(|i| bytes::Bytes::from(vec![(i % 251) as u8; i % 7 * 100]))
            .collect();
        let whole: Vec<u8> = parts.iter().flat_map(|p| p.to_vec()).collect();
        store
            .put_parts(Artifact::Dataset("abc"), parts.clone())
            .await
            .unwrap();
        assert_eq!(store.get(Artifact::Dataset("abc")).await.unwrap(), whole);
        let partial = dir.path().join("artifacts").join(PARTIAL_DIR);
        let left = || std::fs::read_dir(&partial).map_or(0, |d| d.count());
        assert_eq!(left(), 0);
        // A directory where the file should go: the rename fails.
        std::fs::create_dir_all(dir.path().join("artifacts/datasets/ta/taken.arrow/x")).unwrap();
        let refused = store.put_parts(Artifact::Dataset("taken"), parts).await;
        assert!(refused.is_err());
        assert_eq!(left(), 0, "the partial file is removed");
    }
}
