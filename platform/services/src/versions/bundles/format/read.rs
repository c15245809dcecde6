//! Reading a bundle, trusting nothing (see the parent module's docs): entries counted
//! while they inflate, stored datasets kept where they lie in the archive (their
//! checksums taken while the history is read) and compressed ones spooled to temporary
//! files, then every reference checked.

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read, Seek, Write};

use sha2::{Digest, Sha256};
use vitrine_core::RevisionContent;
use zip::{CompressionMethod, ZipArchive};

use super::{
    Bundle, BundleData, BundleLimits, BundleRevision, CONTENT, FORMAT, MANIFEST, Manifest,
    RATIO_FLOOR, REVISIONS, VERSION, invalid,
};
use crate::{ApiError, ApiResult};

fn allowed(name: &str) -> bool {
    matches!(name, MANIFEST | CONTENT | REVISIONS)
        || name
            .strip_prefix("datasets/")
            .and_then(|n| n.strip_suffix(".arrow"))
            .is_some_and(|n| !n.is_empty() && n.len() <= 6 && n.bytes().all(|c| c.is_ascii_digit()))
}

struct Counting<W> {
    inner: W,
    written: u64,
    hash: Sha256,
}

/// Counts and hashes what passes through on its way to `inner`.
impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// An entry as read: JSON in memory, a dataset with its SHA-256 (where it is kept).
enum Entry {
    Json(Vec<u8>),
    Data {
        data: BundleData,
        sha256: String,
    },
    /// Kept in place, its checksums still to be taken (an [`InPlace`]).
    Kept,
}

/// A stored dataset entry kept in place, not yet read: its checksums are taken on a
/// thread of their own while the JSON entries are parsed (for a large dataset, hashing
/// it was half of reading a bundle, with the other core idle).
struct InPlace {
    name: String,
    data: BundleData,
    /// The CRC-32 the archive's directory gives.
    crc32: u32,
}

impl InPlace {
    /// The entry's SHA-256, once its CRC-32 matches the directory's.
    fn checksum(&self) -> ApiResult<String> {
        let mut sha = Sha256::new();
        let mut crc = crc32fast::Hasher::new();
        let damaged =
            |e: std::io::Error| invalid(format!("entry `{}` cannot be read: {e}", self.name));
        match &self.data {
            BundleData::Memory(bytes) => {
                sha.update(bytes);
                crc.update(bytes);
            }
            BundleData::Spooled { file, offset, len } => {
                use std::os::unix::fs::FileExt;
                let mut block = vec![0; 1 << 20];
                let mut done = 0u64;
                while done < *len {
                    let n = (*len - done).min(block.len() as u64) as usize;
                    file.read_exact_at(&mut block[..n], offset + done)
                        .map_err(damaged)?;
                    sha.update(&block[..n]);
                    crc.update(&block[..n]);
                    done += n as u64;
                }
            }
        }
        if crc.finalize() != self.crc32 {
            return Err(invalid(format!(
                "entry `{}` does not match its CRC-32 checksum (the file was damaged)",
                self.name
            )));
        }
        Ok(hex::encode(sha.finalize()))
    }
}

/// Where the archive being read is, so that a dataset entry stored without compression
/// (as bundles store them) is read again in place when it is loaded, not first copied
/// out into a temporary file: for a large upload that copy was a second write of every
/// byte.
pub enum Archive {
    /// In memory: entries become slices of it.
    Memory(bytes::Bytes),
    /// A file of this process's own (an upload's temporary file): entries are kept as
    /// their place in it.
    File(std::fs::File),
    /// Entries are copied out.
    Elsewhere,
}

impl Archive {
    /// The entry `name` of `len` bytes at `offset`, kept where it is.
    fn entry(&self, name: &str, offset: u64, len: u64) -> ApiResult<BundleData> {
        match self {
            Archive::Memory(bytes) => {
                let end = offset
                    .checked_add(len)
                    .and_then(|end| usize::try_from(end).ok())
                    .filter(|end| *end <= bytes.len())
                    .ok_or_else(|| invalid(format!("entry `{name}` lies outside the archive")))?;
                Ok(BundleData::Memory(bytes.slice(offset as usize..end)))
            }
            Archive::File(file) => Ok(BundleData::Spooled {
                file: file
                    .try_clone()
                    .map_err(|e| ApiError::internal("bundle reader", e))?,
                offset,
                len,
            }),
            Archive::Elsewhere => Err(ApiError::internal(
                "bundle reader",
                format!("entry `{name}` has no archive to be kept in"),
            )),
        }
    }
}

fn is_json(name: &str) -> bool {
    matches!(name, MANIFEST | CONTENT | REVISIONS)
}

/// Unpacks and checks a bundle of `archive_len` bytes (see the module docs). Runs in a
/// blocking thread.
pub fn read(bytes: &[u8], limits: &BundleLimits) -> ApiResult<Bundle> {
    read_from(
        Cursor::new(bytes),
        bytes.len() as u64,
        limits,
        &Archive::Elsewhere,
    )
}

/// [`read`] from a file or anything else that seeks, `archive_len` bytes long, which is
/// also at `archive` (see [`Archive`]).
pub fn read_from<R: Read + Seek>(
    src: R,
    archive_len: u64,
    limits: &BundleLimits,
    archive: &Archive,
) -> ApiResult<Bundle> {
    if archive_len > limits.max_bytes {
        return Err(invalid(format!(
            "the bundle is {archive_len} bytes; this instance takes bundles up to {} bytes",
            limits.max_bytes
        )));
    }
    let mut zip = ZipArchive::new(src).map_err(|e| {
        invalid(format!(
            "not a Vitrine bundle (not a readable zip archive: {e})"
        ))
    })?;
    if zip.len() > limits.max_entries {
        return Err(invalid(format!(
            "the bundle has {} entries; at most {} are accepted",
            zip.len(),
            limits.max_entries
        )));
    }
    // What the whole archive may produce: bounded absolutely and by its own size.
    let total_budget = limits.max_unpacked.min(
        archive_len
            .saturating_mul(limits.max_ratio)
            .max(RATIO_FLOOR),
    );
    let mut entries: HashMap<String, Entry> = HashMap::new();
    let mut kept = Vec::new();
    let mut unpacked = 0u64;
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| invalid(format!("entry {i}: {e}")))?;
        let name = f
            .name()
            .map_err(|e| invalid(format!("entry {i}: unreadable name: {e}")))?
            .into_owned();
        if f.is_symlink() {
            return Err(invalid(format!(
                "entry `{name}` is a link; bundles hold files only"
            )));
        }
        if !allowed(&name) {
            return Err(invalid(format!(
                "entry `{name}` is not part of a Vitrine bundle (paths that could escape, and unknown files, are refused)"
            )));
        }
        if f.encrypted() {
            return Err(invalid(format!("entry `{name}` is encrypted")));
        }
        if !matches!(
            f.compression(),
            CompressionMethod::Deflated | CompressionMethod::Stored | CompressionMethod::Zstd
        ) {
            return Err(invalid(format!(
                "entry `{name}` uses compression {:?}; bundles use deflate (or zstd, as earlier builds wrote)",
                f.compression()
            )));
        }
        if entries.contains_key(&name) {
            return Err(invalid(format!("entry `{name}` appears twice")));
        }
        let packed = f.compressed_size().max(1);
        // Never trust the header's size: read at most what the limits leave, then judge.
        let left = total_budget.saturating_sub(unpacked);
        let by_ratio = packed.saturating_mul(limits.max_ratio).max(1 << 20);
        let by_kind = if is_json(&name) {
            limits.max_json_bytes
        } else {
            u64::MAX
        };
        let budget = left.min(by_ratio).min(by_kind);
        let too_much = |produced: u64| {
            if produced > left {
                invalid(format!(
                    "the bundle unpacks to more than {total_budget} bytes (at most {} times its size, and {} bytes in all)",
                    limits.max_ratio, limits.max_unpacked
                ))
            } else if produced > by_kind {
                invalid(format!(
                    "entry `{name}` unpacks to more than {by_kind} bytes"
                ))
            } else {
                invalid(format!(
                    "entry `{name}` unpacks to more than {} times its packed size (a decompression bomb?)",
                    limits.max_ratio
                ))
            }
        };
        let in_place = match (f.compression(), archive) {
            (_, Archive::Elsewhere) => None,
            (CompressionMethod::Stored, _) if !is_json(&name) => f.data_start(),
            _ => None,
        };
        if let Some(at) = in_place {
            // Stored: what it unpacks to is what it packs, as the directory says.
            let len = f.size();
            if f.compressed_size() != len {
                return Err(invalid(format!(
                    "entry `{name}` is stored, yet its sizes differ"
                )));
            }
            if len > budget {
                return Err(too_much(len));
            }
            unpacked += len;
            let data = archive.entry(&name, at, len)?;
            entries.insert(name.clone(), Entry::Kept);
            kept.push(InPlace {
                name,
                data,
                crc32: f.crc32(),
            });
            continue;
        }
        let entry = if is_json(&name) {
            let mut out = Vec::new();
            (&mut f)
                .take(budget + 1)
                .read_to_end(&mut out)
                .map_err(|e| invalid(format!("entry `{name}`: {e}")))?;
            if out.len() as u64 > budget {
                return Err(too_much(out.len() as u64));
            }
            unpacked += out.len() as u64;
            Entry::Json(out)
        } else {
            // A compressed dataset entry (or any, when the archive is not ours to keep
            // entries in) is inflated into a temporary file, hashed on the way.
            let spool = std::io::BufWriter::new(
                tempfile::tempfile()
                    .map_err(|e| ApiError::internal("bundle reader: temporary file", e))?,
            );
            let mut sink = Counting {
                inner: spool,
                written: 0,
                hash: Sha256::new(),
            };
            std::io::copy(&mut (&mut f).take(budget + 1), &mut sink)
                .map_err(|e| invalid(format!("entry `{name}`: {e}")))?;
            if sink.written > budget {
                return Err(too_much(sink.written));
            }
            unpacked += sink.written;
            let len = sink.written;
            let sha256 = hex::encode(sink.hash.finalize());
            let file = sink
                .inner
                .into_inner()
                .map_err(|e| ApiError::internal("bundle reader: temporary file", e.error()))?;
            let data = BundleData::Spooled {
                file,
                offset: 0,
                len,
            };
            Entry::Data { data, sha256 }
        };
        entries.insert(name, entry);
    }
    // The entries kept in place are checked on another thread while the history is read.
    let (checksums, history) = std::thread::scope(|s| {
        let checksums = s.spawn(|| {
            (kept.iter())
                .map(InPlace::checksum)
                .collect::<ApiResult<Vec<_>>>()
        });
        let history = read_history(&mut entries, limits);
        (checksums.join(), history)
    });
    let checksums = checksums
        .map_err(|_| ApiError::internal("bundle reader", "the checksum thread panicked"))?;
    let (manifest, head, revisions) = history?;
    for (k, sha256) in kept.into_iter().zip(checksums?) {
        let data = k.data;
        entries.insert(k.name, Entry::Data { data, sha256 });
    }
    let mut data = Vec::with_capacity(manifest.datasets.len());
    let mut names = BTreeMap::new();
    for d in &manifest.datasets {
        if names.insert(d.name.clone(), ()).is_some() {
            return Err(invalid(format!(
                "{MANIFEST}: dataset `{}` is listed twice",
                d.name
            )));
        }
        let Some(Entry::Data {
            data: entry,
            sha256,
        }) = entries.remove(&d.entry)
        else {
            return Err(invalid(format!(
                "{MANIFEST}: dataset `{}` refers to `{}`, which the bundle does not hold",
                d.name, d.entry
            )));
        };
        if sha256 != d.sha256 {
            return Err(invalid(format!(
                "dataset `{}`: `{}` does not match its checksum (the file was altered or damaged)",
                d.name, d.entry
            )));
        }
        data.push(entry);
    }
    if let Some(extra) = entries.keys().next() {
        return Err(invalid(format!(
            "entry `{extra}` is not referred to by the manifest"
        )));
    }
    Ok(Bundle {
        manifest,
        head,
        revisions,
        data,
    })
}

/// The manifest, head content and history of a bundle's JSON entries (taken out of
/// `entries`), checked against each other.
fn read_history(
    entries: &mut HashMap<String, Entry>,
    limits: &BundleLimits,
) -> ApiResult<(Manifest, RevisionContent, Vec<BundleRevision>)> {
    let take = |entries: &mut HashMap<String, Entry>, name: &str| match entries.remove(name) {
        Some(Entry::Json(b)) => Ok(b),
        _ => Err(invalid(format!("the bundle has no `{name}`"))),
    };
    let manifest: Manifest = parse_json(MANIFEST, &take(&mut *entries, MANIFEST)?)?;
    if manifest.format != FORMAT {
        return Err(invalid(format!(
            "{MANIFEST}: format is `{}`, not `{FORMAT}`",
            manifest.format
        )));
    }
    if manifest.version > VERSION || manifest.version == 0 {
        return Err(invalid(format!(
            "{MANIFEST}: format version {} was written by a newer Vitrine ({}); this instance reads versions up to {VERSION}",
            manifest.version, manifest.made_by
        )));
    }
    if let Some(security) = &manifest.security {
        security.check()?;
    }
    let head: RevisionContent = parse_json(CONTENT, &take(&mut *entries, CONTENT)?)?;
    let lines = take(&mut *entries, REVISIONS)?;
    let mut revisions: Vec<BundleRevision> = Vec::new();
    for (n, line) in lines.split(|c| *c == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if revisions.len() >= limits.max_revisions {
            return Err(invalid(format!(
                "{REVISIONS}: more than {} revisions",
                limits.max_revisions
            )));
        }
        revisions.push(parse_json(&format!("{REVISIONS} line {}", n + 1), line)?);
    }
    check_history(&manifest, &head, &revisions)?;
    Ok((manifest, head, revisions))
}

/// Revisions run `history_from..=head` without gaps, each parent is the one before,
/// and the head content is the newest revision's.
fn check_history(m: &Manifest, head: &RevisionContent, revs: &[BundleRevision]) -> ApiResult<()> {
    if m.head == 0 {
        if !revs.is_empty() {
            return Err(invalid(format!(
                "{MANIFEST}: head is 0 but the bundle has revisions"
            )));
        }
        return Ok(());
    }
    if m.history_from < 1 || m.history_from > m.head {
        return Err(invalid(format!(
            "{MANIFEST}: history_from {} is outside 1..={}",
            m.history_from, m.head
        )));
    }
    let expected = (m.head - m.history_from + 1) as usize;
    if revs.len() != expected {
        return Err(invalid(format!(
            "{REVISIONS}: holds {} revisions; the manifest says {} (from {} to {})",
            revs.len(),
            expected,
            m.history_from,
            m.head
        )));
    }
    for (i, r) in revs.iter().enumerate() {
        let number = m.history_from + i as i64;
        if r.number != number {
            return Err(invalid(format!(
                "{REVISIONS}: revision {} is where revision {number} belongs",
                r.number
            )));
        }
        let parent = (number > 1).then_some(number - 1);
        if r.parent != parent {
            return Err(invalid(format!(
                "{REVISIONS}: revision {number} names parent {:?}; it must be {parent:?}",
                r.parent
            )));
        }
    }
    if revs.last().is_some_and(|r| &r.content != head) {
        return Err(invalid(format!(
            "{CONTENT}: differs from revision {} (the head)",
            m.head
        )));
    }
    Ok(())
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.to_string().contains("recursion limit") {
            invalid(format!("{what}: nested too deeply"))
        } else {
            invalid(format!("{what}: {e}"))
        }
    })
}
