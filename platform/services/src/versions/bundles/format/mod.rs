//! The project bundle file: a zip archive (JSON entries compressed with deflate, dataset
//! entries stored, so `unzip` and every zip library open it; bundles written before read
//! with zstd or deflate dataset entries too) holding
//!
//! - `manifest.json`: format name and version, the project, the datasets, and (from
//!   version 2) what governs who sees what: access filters, abilities, share policy;
//! - `content.json`: the head content (workflow, reports, parameters);
//! - `revisions.jsonl`: the history, one revision per line, oldest first;
//! - `datasets/N.arrow`: each dataset as an Arrow IPC file, its buffers compressed with
//!   zstd (any Arrow reader opens it; importing writes it back uncompressed).
//!
//! Reading trusts nothing: the archive's size, entry count, the bytes each entry and all
//! of them actually produce (counted while inflating, never taken from headers; a stored
//! entry's size is its packed size, which must lie inside the archive, and its CRC-32 is
//! checked over exactly those bytes) and the compression ratio are bounded; the JSON
//! entries are read into memory under a limit of their own, stored dataset entries stay
//! where they lie and compressed ones are spooled to temporary files (checksummed on the
//! way), so memory stays bounded whatever the archive claims. Only the names above are accepted, so
//! no path can escape and no link is followed; unknown or future format versions are
//! refused; every reference (dataset entries, checksums, revision numbers and parents, the
//! head) must hold. Nothing here writes anywhere but temporary files.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

use serde::{Deserialize, Serialize};
use vitrine_core::{ErrorCode, RevisionContent};
use vitrine_storage::PushedFrom;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::{ApiError, ApiResult};

mod read;
pub use read::{Archive, read, read_from};

pub const FORMAT: &str = "vitrine-bundle";
/// The format version this build writes and the newest it reads. Version 2 carries the
/// project's access filters: a build that reads only version 1 refuses such a bundle
/// rather than import its data without them.
pub const VERSION: u32 = 2;

/// Access filters one bundle may carry, and rules per filter.
pub const MAX_BUNDLE_FILTERS: usize = 1_000;
pub const MAX_FILTER_RULES: usize = 32;

pub(super) const MANIFEST: &str = "manifest.json";
pub(super) const CONTENT: &str = "content.json";
pub(super) const REVISIONS: &str = "revisions.jsonl";

/// What a bundle may weigh before it is refused.
#[derive(Debug, Clone)]
pub struct BundleLimits {
    /// The bundle file itself.
    pub max_bytes: u64,
    /// Entries in the archive.
    pub max_entries: usize,
    /// Everything unpacked, all entries together.
    pub max_unpacked: u64,
    /// Unpacked size over packed size: per entry (for entries over 1 MiB unpacked), and
    /// for the whole archive (beyond [`RATIO_FLOOR`]).
    pub max_ratio: u64,
    /// One JSON entry (manifest, content, history), which is read into memory.
    pub max_json_bytes: u64,
    /// Revisions in the history.
    pub max_revisions: usize,
}

impl Default for BundleLimits {
    fn default() -> Self {
        BundleLimits {
            max_bytes: 2 << 30,
            max_entries: 10_000,
            max_unpacked: 8 << 30,
            max_ratio: 1_000,
            max_json_bytes: 256 << 20,
            max_revisions: 1_000_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// `vitrine X.Y.Z`: what wrote the file.
    pub made_by: String,
    pub created_ms: i64,
    pub project: BundleProject,
    /// The number of the newest revision (0 for a project without history).
    pub head: i64,
    /// The number of the oldest revision included (1 for a whole history).
    pub history_from: i64,
    pub datasets: Vec<BundleDataset>,
    /// Absent from version 1 bundles, which were made before it travelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<BundleSecurity>,
}

/// What governs who sees what in the project. It travels with the data, so a project made
/// from a bundle (or a working copy) never shows more rows than its origin did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BundleSecurity {
    #[serde(default)]
    pub access_filters: Vec<BundleAccessFilter>,
    /// Abilities the project sets itself (the rest follow the instance's defaults).
    #[serde(default)]
    pub abilities: BTreeMap<String, bool>,
    #[serde(default)]
    pub refuse_exposing_edits: bool,
}

/// One dataset's access filter: a row shows when every rule's column holds one of the
/// viewer's values of the rule's attribute.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleAccessFilter {
    pub dataset: String,
    pub rules: Vec<BundleRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleRule {
    pub column: String,
    pub attribute: String,
}

impl BundleSecurity {
    /// Refuses what this instance could not store as the project's own settings.
    pub(super) fn check(&self) -> ApiResult<()> {
        let at = |what: String| invalid(format!("{MANIFEST}: security.{what}"));
        if self.access_filters.len() > MAX_BUNDLE_FILTERS {
            return Err(at(format!(
                "access_filters: more than {MAX_BUNDLE_FILTERS}"
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, f) in self.access_filters.iter().enumerate() {
            let here = |why: String| at(format!("access_filters[{i}]: {why}"));
            vitrine_engine::workflow::check_ident(&f.dataset).map_err(here)?;
            if !seen.insert(f.dataset.as_str()) {
                return Err(here(format!("dataset `{}` has two filters", f.dataset)));
            }
            if f.rules.is_empty() || f.rules.len() > MAX_FILTER_RULES {
                return Err(here(format!("needs 1 to {MAX_FILTER_RULES} rules")));
            }
            for r in &f.rules {
                vitrine_core::AttributeKey::parse(&r.attribute).map_err(|e| here(e.reason))?;
                if r.column.is_empty() || r.column.len() > 256 {
                    return Err(here("a rule's column must be 1 to 256 characters".into()));
                }
            }
        }
        for name in self.abilities.keys() {
            name.parse::<vitrine_core::Ability>()
                .map_err(|e| at(format!("abilities: {}", e.reason)))?;
        }
        Ok(())
    }

    /// The attributes the filters select rows with.
    pub fn attributes(&self) -> std::collections::BTreeSet<&str> {
        let rules = self.access_filters.iter().flat_map(|f| &f.rules);
        rules.map(|r| r.attribute.as_str()).collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleProject {
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub description: String,
    /// The project's id where the bundle was made.
    #[serde(default)]
    pub uid: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleDataset {
    pub name: String,
    /// The publishing block in the workflow.
    pub block_id: String,
    /// The entry holding the data (`datasets/N.arrow`).
    pub entry: String,
    /// SHA-256 of the entry's bytes, hex.
    pub sha256: String,
    pub rows: i64,
    pub bytes: i64,
    #[serde(default)]
    pub schema: serde_json::Value,
}

/// One revision as a bundle carries it: numbers instead of ids, authors by name (user
/// ids mean nothing on another instance).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleRevision {
    pub number: i64,
    pub parent: Option<i64>,
    pub author_name: String,
    pub message: String,
    pub created_ms: i64,
    #[serde(default)]
    pub pushed_from: Option<PushedFrom>,
    pub content: RevisionContent,
}

/// What a small archive may unpack to whatever its ratio: tiny bundles of small JSON
/// compress better than any ratio a real dataset reaches.
pub const RATIO_FLOOR: u64 = 64 << 20;

/// One dataset's bytes: in memory (a bundle being written, or read from memory), or in
/// a file (a bundle read: `len` bytes at `offset` of the uploaded archive itself, or of
/// a temporary file), loaded one at a time when it is stored.
#[derive(Debug)]
pub enum BundleData {
    Memory(bytes::Bytes),
    Spooled {
        file: std::fs::File,
        offset: u64,
        len: u64,
    },
}

impl BundleData {
    pub fn len(&self) -> u64 {
        match self {
            BundleData::Memory(b) => b.len() as u64,
            BundleData::Spooled { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, read from their file when spooled: at their offset, without moving
    /// the file's cursor, which its other handles share.
    pub fn load(&self) -> std::io::Result<bytes::Bytes> {
        use std::os::unix::fs::FileExt;
        match self {
            BundleData::Memory(b) => Ok(b.clone()),
            BundleData::Spooled { file, offset, len } => {
                let len = usize::try_from(*len).map_err(std::io::Error::other)?;
                let mut out = vec![0; len];
                file.read_exact_at(&mut out, *offset)?;
                Ok(out.into())
            }
        }
    }
}

/// A bundle: what [`write`] packs and [`read`] gives back.
#[derive(Debug)]
pub struct Bundle {
    pub manifest: Manifest,
    pub head: RevisionContent,
    pub revisions: Vec<BundleRevision>,
    /// Each dataset, in the manifest's order.
    pub data: Vec<BundleData>,
}

pub(super) fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidBundle, msg)
}

/// Packs a bundle. JSON entries are compressed with deflate, the method every zip tool
/// reads. Data entries are stored as they come: Arrow IPC files whose buffers are
/// compressed already (see `Versions::bundle_of`), which deflate would only slow down.
pub fn write(b: &Bundle) -> ApiResult<Vec<u8>> {
    let json = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .large_file(true);
    let data = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(true);
    let fail = |e: &dyn std::fmt::Display| ApiError::internal("bundle writer", e.to_string());
    let mut z = ZipWriter::new(Cursor::new(Vec::new()));
    let mut put = |name: &str, opts: SimpleFileOptions, bytes: &[u8]| -> ApiResult<()> {
        z.start_file(name, opts).map_err(|e| fail(&e))?;
        z.write_all(bytes).map_err(|e| fail(&e))
    };
    put(
        MANIFEST,
        json,
        &serde_json::to_vec_pretty(&b.manifest).map_err(|e| fail(&e))?,
    )?;
    put(
        CONTENT,
        json,
        &serde_json::to_vec(&b.head).map_err(|e| fail(&e))?,
    )?;
    let mut lines = Vec::new();
    for r in &b.revisions {
        serde_json::to_writer(&mut lines, r).map_err(|e| fail(&e))?;
        lines.push(b'\n');
    }
    put(REVISIONS, json, &lines)?;
    for (d, bytes) in b.manifest.datasets.iter().zip(&b.data) {
        put(&d.entry, data, &bytes.load().map_err(|e| fail(&e))?)?;
    }
    Ok(z.finish().map_err(|e| fail(&e))?.into_inner())
}

/// The entry name for the `i`th dataset.
pub fn dataset_entry(i: usize) -> String {
    format!("datasets/{i}.arrow")
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    fn sample() -> Bundle {
        let head = RevisionContent {
            workflow: serde_json::json!({"blocks": []}),
            reports: vec![],
            parameters: Default::default(),
        };
        let data = bytes::Bytes::from_static(b"not really arrow");
        Bundle {
            manifest: Manifest {
                format: FORMAT.into(),
                version: VERSION,
                made_by: "vitrine test".into(),
                created_ms: 1,
                project: BundleProject {
                    name: "P".into(),
                    slug: "p".into(),
                    description: String::new(),
                    uid: None,
                },
                head: 1,
                history_from: 1,
                datasets: vec![BundleDataset {
                    name: "d".into(),
                    block_id: "b".into(),
                    entry: dataset_entry(0),
                    sha256: hex::encode(Sha256::digest(&data)),
                    rows: 0,
                    bytes: data.len() as i64,
                    schema: serde_json::Value::Null,
                }],
                security: Some(BundleSecurity::default()),
            },
            revisions: vec![BundleRevision {
                number: 1,
                parent: None,
                author_name: "a".into(),
                message: "m".into(),
                created_ms: 1,
                pushed_from: None,
                content: head.clone(),
            }],
            head,
            data: vec![BundleData::Memory(data)],
        }
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            z.start_file(*name, SimpleFileOptions::default()).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    fn refusal(bytes: &[u8], limits: &BundleLimits) -> String {
        let e = read(bytes, limits).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidBundle, "{}", e.message);
        e.message
    }

    #[test]
    fn round_trip() {
        let b = sample();
        let back = read(&write(&b).unwrap(), &BundleLimits::default()).unwrap();
        assert_eq!(back.manifest, b.manifest);
        assert_eq!(back.head, b.head);
        assert_eq!(back.revisions, b.revisions);
        assert_eq!(back.data.len(), b.data.len());
        for (x, y) in back.data.iter().zip(&b.data) {
            assert_eq!(x.load().unwrap(), y.load().unwrap());
        }
    }

    #[test]
    fn hostile_archives_are_refused() {
        let l = BundleLimits::default();
        assert!(refusal(b"PK\x03\x04 nonsense", &l).contains("not a Vitrine bundle"));
        assert!(refusal(&zip_of(&[("../../etc/passwd", b"x")]), &l).contains("could escape"));
        assert!(refusal(&zip_of(&[("/abs", b"x")]), &l).contains("could escape"));
        assert!(refusal(&zip_of(&[("datasets/../../x.arrow", b"x")]), &l).contains("could escape"));
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        z.add_symlink("manifest.json", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        let link = z.finish().unwrap().into_inner();
        assert!(refusal(&link, &l).contains("is a link"));
        // 64 MiB of zeros packs to a few KiB.
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        z.start_file(
            "manifest.json",
            SimpleFileOptions::default().compression_method(CompressionMethod::Zstd),
        )
        .unwrap();
        z.write_all(&vec![b' '; 64 << 20]).unwrap();
        let bomb = z.finish().unwrap().into_inner();
        assert!(bomb.len() < 1 << 20);
        assert!(refusal(&bomb, &l).contains("decompression bomb"));
        let small = BundleLimits {
            max_entries: 2,
            ..BundleLimits::default()
        };
        assert!(refusal(&write(&sample()).unwrap(), &small).contains("entries"));
    }

    #[test]
    fn many_small_bombs_are_bounded_by_what_they_produce_in_all() {
        // Hundreds of entries, each a megabyte of zeros packed to a few hundred bytes:
        // every one passes the per-entry ratio floor, the archive as a whole does not.
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        let zeros = vec![0u8; 1 << 20];
        for i in 0..300 {
            z.start_file(
                dataset_entry(i),
                SimpleFileOptions::default()
                    .compression_method(CompressionMethod::Zstd)
                    .compression_level(Some(19)),
            )
            .unwrap();
            z.write_all(&zeros).unwrap();
        }
        let bomb = z.finish().unwrap().into_inner();
        assert!(bomb.len() < 200 << 10, "{}", bomb.len());
        let e = refusal(&bomb, &BundleLimits::default());
        assert!(e.contains("unpacks to more than"), "{e}");
        // And a single entry claiming a small size in its header is counted as it
        // inflates, not by the header.
        let small = BundleLimits {
            max_unpacked: 4 << 20,
            ..BundleLimits::default()
        };
        let e = refusal(&bomb, &small);
        assert!(e.contains("4194304"), "{e}");
    }

    #[test]
    fn versions_references_and_depth_are_checked() {
        let l = BundleLimits::default();
        let mut b = sample();
        b.manifest.version = VERSION + 1;
        assert!(refusal(&write(&b).unwrap(), &l).contains("newer Vitrine"));
        let mut b = sample();
        b.manifest.datasets[0].sha256 = "00".repeat(32);
        assert!(refusal(&write(&b).unwrap(), &l).contains("checksum"));
        let mut b = sample();
        b.manifest.datasets[0].entry = dataset_entry(7);
        b.data.clear();
        assert!(refusal(&write(&b).unwrap(), &l).contains("does not hold"));
        let mut b = sample();
        b.revisions[0].number = 2;
        assert!(refusal(&write(&b).unwrap(), &l).contains("belongs"));
        let mut b = sample();
        b.head.parameters.insert("x".into(), serde_json::json!(1));
        assert!(refusal(&write(&b).unwrap(), &l).contains("differs"));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let manifest = serde_json::to_vec(&sample().manifest).unwrap();
        let bytes = zip_of(&[
            ("manifest.json", &manifest),
            ("content.json", deep.as_bytes()),
            ("revisions.jsonl", b""),
        ]);
        assert!(refusal(&bytes, &l).contains("nested too deeply"));
    }

    /// A stored dataset entry (how bundles are written) is kept as its place in the
    /// archive, a slice of it in memory or an offset in its file, never copied out; one
    /// compressed by another tool is still copied out to a temporary file. Either loads
    /// as the entry's bytes.
    #[test]
    fn stored_datasets_are_read_in_place_and_others_copied_out() {
        let b = sample();
        let want = b.data[0].load().unwrap();
        let archive = bytes::Bytes::from(write(&b).unwrap());
        let l = BundleLimits::default();
        let len = archive.len() as u64;
        let from_memory = read_from(
            Cursor::new(&archive[..]),
            len,
            &l,
            &Archive::Memory(archive.clone()),
        )
        .unwrap();
        let BundleData::Memory(slice) = &from_memory.data[0] else {
            panic!("a stored entry read from memory is a slice of it")
        };
        assert_eq!(slice, &want);
        assert!(archive.as_ptr_range().contains(&slice.as_ptr()));

        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&archive).unwrap();
        let from_file = |file: &std::fs::File| {
            let mut reader = file.try_clone().unwrap();
            std::io::Seek::rewind(&mut reader).unwrap();
            let len = reader.metadata().unwrap().len();
            let archive = Archive::File(file.try_clone().unwrap());
            read_from(std::io::BufReader::new(reader), len, &l, &archive).unwrap()
        };
        let read = from_file(&file);
        let BundleData::Spooled { offset, len, .. } = &read.data[0] else {
            panic!("a stored entry read from a file stays in it")
        };
        assert!(*offset > 0 && *len == want.len() as u64, "{offset} {len}");
        assert_eq!(read.data[0].load().unwrap(), want);
        // Loading twice reads the same bytes: the file's shared cursor is not used.
        assert_eq!(read.data[0].load().unwrap(), want);

        // A byte of the kept entry damaged in place fails its CRC-32, in memory or a file.
        let at = slice.as_ptr() as usize - archive.as_ptr() as usize + want.len() / 2;
        let mut damaged = archive.to_vec();
        damaged[at] ^= 0x01;
        let damaged = bytes::Bytes::from(damaged);
        let e = read_from(
            Cursor::new(&damaged[..]),
            damaged.len() as u64,
            &l,
            &Archive::Memory(damaged.clone()),
        )
        .unwrap_err();
        assert!(e.message.contains("CRC-32"), "{}", e.message);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&damaged).unwrap();
        let mut reader = file.try_clone().unwrap();
        std::io::Seek::rewind(&mut reader).unwrap();
        let whole = damaged.len() as u64;
        let e = read_from(reader, whole, &l, &Archive::File(file)).unwrap_err();
        assert!(e.message.contains("CRC-32"), "{}", e.message);

        let deflated = {
            let mut z = zip::ZipArchive::new(Cursor::new(&archive[..])).unwrap();
            let mut out = ZipWriter::new(Cursor::new(Vec::new()));
            for i in 0..z.len() {
                let mut f = z.by_index(i).unwrap();
                let name = f.name().unwrap().into_owned();
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
                let options =
                    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
                out.start_file(name, options).unwrap();
                out.write_all(&bytes).unwrap();
            }
            out.finish().unwrap().into_inner()
        };
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&deflated).unwrap();
        let read = from_file(&file);
        let BundleData::Spooled { offset, .. } = &read.data[0] else {
            panic!("a compressed entry is copied out")
        };
        assert_eq!(*offset, 0);
        assert_eq!(read.data[0].load().unwrap(), want);
    }
}
