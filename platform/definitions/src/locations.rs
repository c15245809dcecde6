//! Where a resource location keeps its files, as GraphQL types: a directory on the server
//! or an S3-compatible bucket. An input becomes the JSON the engine's `LocationKind`
//! parses (with its checks: an absolute path to an existing directory); an output is
//! read from the stored definition with the secret key left out, only said to be set.

use async_graphql::{Enum, ID, InputObject, Json, OneofObject, SimpleObject};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vitrine_services::records::LocationRecord;
use vitrine_services::values::LocationKind;
use vitrine_services::{ApiError, ApiResult};

use crate::{from_json, to_json};

/// A directory on the server's file system.
#[derive(SimpleObject, InputObject, Clone, Debug, Serialize, Deserialize)]
#[graphql(input_name = "FsStorageInput")]
pub struct FsStorage {
    /// An absolute path to a directory on the server.
    pub root: String,
}

/// An S3-compatible bucket, as clients see it: the secret key never leaves the server.
#[derive(SimpleObject, Clone, Debug, Deserialize)]
pub struct S3Storage {
    pub bucket: String,
    /// The service's URL, for a store other than AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    pub region: String,
    /// A prefix inside the bucket.
    #[serde(default)]
    pub root: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Whether a secret access key is set (it is never shown).
    #[serde(skip)]
    pub has_secret_access_key: bool,
}

/// An S3-compatible bucket and the credentials to reach it.
#[derive(InputObject, Clone, Debug, Serialize)]
pub struct S3StorageInput {
    pub bucket: String,
    /// The service's URL, for a store other than AWS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `us-east-1` when left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A prefix inside the bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Kept on the server; never answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[graphql(secret)]
    pub secret_access_key: Option<String>,
}

/// Where a location keeps its files: exactly one field is set.
#[derive(SimpleObject, Default, Debug)]
pub struct LocationStorage {
    pub fs: Option<FsStorage>,
    pub s3: Option<S3Storage>,
}

/// Where a location keeps its files: set exactly one field.
#[derive(OneofObject)]
pub enum LocationStorageInput {
    Fs(FsStorage),
    S3(S3StorageInput),
}

impl LocationStorageInput {
    /// The definition as the engine parses it (`{"kind": "fs", "root": …}`).
    pub fn to_json(&self) -> ApiResult<Value> {
        let (kind, mut v) = match self {
            LocationStorageInput::Fs(f) => ("fs", to_json("location", f)?),
            LocationStorageInput::S3(s) => ("s3", to_json("location", s)?),
        };
        if let Some(o) = v.as_object_mut() {
            o.insert("kind".into(), json!(kind));
        }
        Ok(v)
    }
}

/// What `createResourceLocation` was given: the typed `storage` or the deprecated
/// `definition` JSON, exactly one; with the typed kind, to word errors in its terms.
pub fn location_argument(
    storage: Option<LocationStorageInput>,
    definition: Option<async_graphql::Json<Value>>,
) -> ApiResult<(Value, Option<&'static str>)> {
    match (storage, definition) {
        (Some(s), None) => {
            let kind = match s {
                LocationStorageInput::Fs(_) => "fs",
                LocationStorageInput::S3(_) => "s3",
            };
            Ok((s.to_json()?, Some(kind)))
        }
        (None, Some(d)) => Ok((d.0, None)),
        _ => Err(ApiError::invalid(
            "storage: give `storage`, or the deprecated `definition`, not both",
        )),
    }
}

/// An error about a typed location's definition, in the typed input's terms:
/// `definition.root: …` becomes `storage.fs.root: …`.
pub fn location_in_typed_terms(mut e: ApiError, kind: Option<&str>) -> ApiError {
    if let Some(kind) = kind
        && let Some(rest) = e.message.strip_prefix("definition")
    {
        let rest = rest.replace("secret_access_key", "secretAccessKey");
        let rest = rest.replace("access_key_id", "accessKeyId");
        e.message = format!("storage.{kind}{rest}");
    }
    e
}

impl LocationStorage {
    /// A stored definition, secrets left out. An unknown kind answers neither field.
    pub fn of(definition: &Value) -> ApiResult<Self> {
        // Through the engine's type, so defaults (the region) are written out.
        let mut v = serde_json::from_value::<LocationKind>(definition.clone())
            .ok()
            .and_then(|k| serde_json::to_value(k).ok())
            .unwrap_or_else(|| definition.clone());
        let Some(o) = v.as_object_mut() else {
            return Ok(LocationStorage::default());
        };
        let kind = o.remove("kind");
        let secret = o.remove("secret_access_key");
        Ok(match kind.as_ref().and_then(Value::as_str) {
            Some("fs") => LocationStorage {
                fs: Some(from_json("location", v)?),
                s3: None,
            },
            Some("s3") => {
                let mut s3: S3Storage = from_json("location", v)?;
                s3.has_secret_access_key = secret.is_some_and(|s| !s.is_null());
                LocationStorage {
                    fs: None,
                    s3: Some(s3),
                }
            }
            _ => LocationStorage::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_written_as_the_engine_reads_it_and_read_without_its_secret() {
        let input = LocationStorageInput::S3(S3StorageInput {
            bucket: "data".into(),
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: None,
            root: None,
            access_key_id: Some("key".into()),
            secret_access_key: Some("hunter2".into()),
        });
        let stored = input.to_json().unwrap();
        assert_eq!(
            stored,
            json!({"kind": "s3", "bucket": "data", "endpoint": "http://127.0.0.1:9000",
                   "access_key_id": "key", "secret_access_key": "hunter2"})
        );
        let read = LocationStorage::of(&stored).unwrap();
        let s3 = read.s3.unwrap();
        assert!(s3.has_secret_access_key);
        assert_eq!(s3.access_key_id.as_deref(), Some("key"));
        assert_eq!(s3.region, "us-east-1", "the default is written out");
        assert!(read.fs.is_none());
        let fs = LocationStorageInput::Fs(FsStorage {
            root: "/srv".into(),
        });
        assert_eq!(fs.to_json().unwrap(), json!({"kind": "fs", "root": "/srv"}));
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LocationAccess {
    Read,
    Write,
    /// Revokes the folder's grant.
    None,
}

impl From<vitrine_core::LocationAccess> for LocationAccess {
    fn from(a: vitrine_core::LocationAccess) -> Self {
        match a {
            vitrine_core::LocationAccess::Read => LocationAccess::Read,
            vitrine_core::LocationAccess::Write => LocationAccess::Write,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum BoostScope {
    Instance,
    Folder,
    Project,
    /// A resource location's default.
    Location,
}

#[derive(SimpleObject)]
pub struct LocationGrant {
    pub folder_id: ID,
    /// `READ` or `WRITE` (write includes read); a revoked grant is not listed.
    pub access: LocationAccess,
}

/// Where workflows read files from.
#[derive(SimpleObject)]
pub struct ResourceLocation {
    pub id: ID,
    pub name: String,
    /// The definition with secrets masked, as JSON.
    #[graphql(deprecation = "read `storage`, typed")]
    pub definition: Json<Value>,
    /// Where the files are; the secret key is never answered.
    pub storage: LocationStorage,
    pub grants: Vec<LocationGrant>,
    pub created_at: DateTime<Utc>,
}

impl From<LocationRecord> for ResourceLocation {
    fn from(r: LocationRecord) -> Self {
        ResourceLocation {
            id: ID(r.uid.into()),
            name: r.name,
            // Parsed and re-rendered so secrets never reach a client.
            definition: Json(
                LocationKind::parse(&r.definition)
                    .map(|k| k.public())
                    .unwrap_or(Value::Null),
            ),
            storage: LocationStorage::of(&r.definition).unwrap_or_default(),
            grants: r
                .grants
                .into_iter()
                .map(|g| LocationGrant {
                    folder_id: ID(g.folder_uid.into()),
                    access: g.access.into(),
                })
                .collect(),
            created_at: crate::time(r.created_ms),
        }
    }
}
