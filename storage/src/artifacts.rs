use std::path::Path;

use opendal::Operator;
use opendal::services::Fs;

use crate::StorageResult;

/// Content-addressed artifacts (datasets, bundles) behind opendal, so the same code runs on
/// a local directory or an object store.
#[derive(Clone)]
pub struct ArtifactStore {
    op: Operator,
    /// The directory behind `op` when it is the local file system: whole-file reads of
    /// large artifacts go straight to it in one read instead of opendal's chunked reads
    /// and the copy that joins them.
    local_root: Option<std::path::PathBuf>,
}

impl ArtifactStore {
    pub fn local(root: &Path) -> StorageResult<ArtifactStore> {
        let builder = Fs::default().root(&root.to_string_lossy());
        Ok(ArtifactStore {
            op: Operator::new(builder)?,
            local_root: Some(root.to_path_buf()),
        })
    }

    pub async fn put(&self, path: &str, bytes: Vec<u8>) -> StorageResult<()> {
        self.op.write(path, bytes).await?;
        Ok(())
    }

    pub async fn get(&self, path: &str) -> StorageResult<Vec<u8>> {
        Ok(self.op.read(path).await?.to_vec())
    }

    /// The artifact's bytes without a copy into a fresh vector.
    pub async fn get_bytes(&self, path: &str) -> StorageResult<bytes::Bytes> {
        if let Some(root) = &self.local_root
            && !path.split('/').any(|p| p == ".." || p.is_empty())
        {
            let full = root.join(path);
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

    pub async fn exists(&self, path: &str) -> StorageResult<bool> {
        Ok(self.op.exists(path).await?)
    }

    /// Paths of the files under `prefix`, recursively.
    pub async fn list(&self, prefix: &str) -> StorageResult<Vec<String>> {
        let entries = self.op.list_with(prefix).recursive(true).await?;
        Ok(entries
            .into_iter()
            .filter(|e| !e.path().ends_with('/'))
            .map(|e| e.path().to_owned())
            .collect())
    }

    /// When the artifact was last written, in ms since the epoch.
    pub async fn modified_ms(&self, path: &str) -> StorageResult<Option<i64>> {
        let m = self.op.stat(path).await?;
        Ok(m.last_modified().map(|t| t.into_inner().as_millisecond()))
    }

    pub async fn delete(&self, path: &str) -> StorageResult<()> {
        self.op.delete(path).await?;
        Ok(())
    }

    /// Writes, reads back and deletes a probe object: proves the store is writable.
    pub async fn ping(&self) -> StorageResult<()> {
        let probe = format!(".probe/{}", crate::new_uid());
        self.put(&probe, b"ok".to_vec()).await?;
        let back = self.get(&probe).await?;
        self.delete(&probe).await?;
        if back != b"ok" {
            return Err(crate::StorageError::Corrupt(
                "artifact probe read back different bytes".into(),
            ));
        }
        Ok(())
    }
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
