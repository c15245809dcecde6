use std::path::Path;

use opendal::Operator;
use opendal::services::Fs;

use crate::StorageResult;

/// Content-addressed artifacts (datasets, bundles) behind opendal, so the same code runs on
/// a local directory or an object store.
#[derive(Clone)]
pub struct ArtifactStore {
    op: Operator,
}

impl ArtifactStore {
    pub fn local(root: &Path) -> StorageResult<ArtifactStore> {
        let builder = Fs::default().root(&root.to_string_lossy());
        Ok(ArtifactStore {
            op: Operator::new(builder)?,
        })
    }

    pub async fn put(&self, path: &str, bytes: Vec<u8>) -> StorageResult<()> {
        self.op.write(path, bytes).await?;
        Ok(())
    }

    pub async fn get(&self, path: &str) -> StorageResult<Vec<u8>> {
        Ok(self.op.read(path).await?.to_vec())
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
