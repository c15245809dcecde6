//! A project's datasets as the API shows them: what each publish block wrote.

use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};
use vitrine_services::records::DatasetRecord;
use vitrine_services::values::ColumnInfo;

#[derive(SimpleObject, Clone)]
pub struct DatasetColumn {
    pub name: String,
    /// `text`, `int64`, `float64`, `boolean`, `date`, `timestamp`, or another type's exact name (`int32`, `decimal`).
    #[graphql(name = "type")]
    pub ty: String,
    pub nullable: bool,
}

impl From<ColumnInfo> for DatasetColumn {
    fn from(c: ColumnInfo) -> Self {
        DatasetColumn {
            name: c.name,
            ty: c.ty,
            nullable: c.nullable,
        }
    }
}

/// What a publish block wrote: a named table of the project.
#[derive(SimpleObject)]
pub struct Dataset {
    pub id: ID,
    pub name: String,
    /// The publish block that produces it.
    pub block: String,
    pub rows: i64,
    pub bytes: i64,
    /// BLAKE3 of the Arrow IPC artifact (what `b3sum` prints for its Arrow download):
    /// equal content, equal hash. Datasets stored before BLAKE3 carry their SHA-256.
    pub content_hash: String,
    pub published_at: DateTime<Utc>,
    pub columns: Vec<DatasetColumn>,
    /// The data connections its rows were read through (their connection roles apply).
    pub connections: Vec<String>,
}

impl From<DatasetRecord> for Dataset {
    fn from(r: DatasetRecord) -> Self {
        let columns: Vec<ColumnInfo> = serde_json::from_value(r.schema).unwrap_or_default();
        Dataset {
            id: ID(r.uid.into()),
            name: r.name,
            block: r.block_id,
            rows: r.rows,
            bytes: r.bytes,
            content_hash: r.content_hash,
            published_at: crate::time(r.published_ms),
            columns: columns.into_iter().map(Into::into).collect(),
            connections: r.connections,
        }
    }
}
