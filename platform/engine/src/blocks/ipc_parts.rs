//! An uncompressed Arrow IPC file (the form every dataset and block output is stored in)
//! as the parts it is made of: the arrays' own buffers, and the framing between them.
//! Stored tables used to be copied into one contiguous file before they were hashed and
//! written; for a 100 MB dataset that copy into fresh pages was 45-50 ms of every import,
//! and a copy of every block output of every run. The parts are hashed and written as they
//! are. The file they make is byte for byte what arrow's [`FileWriter`] writes.
//!
//! arrow's [`StreamEncoder`] hands out a stream's messages as such parts. A file is that
//! stream between a header and a footer that says where each message starts, so the
//! stream is walked once to find its messages (their metadata is small; bodies are
//! skipped by length).
//!
//! [`FileWriter`]: datafusion::arrow::ipc::writer::FileWriter

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc;
use datafusion::arrow::ipc::writer::{IpcWriteOptions, StreamEncoder};

use super::ipc_threads::{ALIGNMENT, MAGIC, footer};

/// A file as its parts, in order.
#[derive(Debug, Clone, Default)]
pub struct FileParts {
    pub parts: Vec<Bytes>,
}

impl FileParts {
    /// The file's size in bytes.
    pub fn size(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }
}

impl From<Bytes> for FileParts {
    fn from(b: Bytes) -> FileParts {
        FileParts { parts: vec![b] }
    }
}

/// An arrow buffer lent to `Bytes` as it is: the parts keep the arrays' memory alive.
struct Lent(Buffer);

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// The parts of the IPC file of `batches`, without compression, as arrow's `FileWriter`
/// with default options writes it. Dictionaries must already be one per column (a
/// replacement is refused, as the file format refuses it).
pub(crate) fn write_parts(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<FileParts, ArrowError> {
    let options = IpcWriteOptions::default();
    let mut encoder = StreamEncoder::try_new_with_options(schema, options.clone())?;
    let mut stream = Vec::new();
    for b in batches {
        stream.extend(encoder.encode(b)?);
    }
    stream.extend(encoder.finish()?);

    let mut header = MAGIC.to_vec();
    header.resize(ALIGNMENT, 0);
    let (dictionaries, records) = blocks_of(&stream, ALIGNMENT)?;
    let mut parts = Vec::with_capacity(stream.len() + 2);
    parts.push(Bytes::from(header));
    parts.extend(
        (stream.into_iter())
            .filter(|b| !b.is_empty())
            .map(|b| Bytes::from_owner(Lent(b))),
    );
    parts.push(Bytes::from(footer(schema, &dictionaries, &records)));
    Ok(FileParts { parts })
}

/// Where each dictionary and record batch message of an IPC stream lies once the stream
/// starts at `start` in a file: the footer's blocks. The stream must end with its end
/// marker, and no dictionary may follow the first batch.
fn blocks_of(
    stream: &[Buffer],
    start: usize,
) -> Result<(Vec<ipc::Block>, Vec<ipc::Block>), ArrowError> {
    let mut at = Reader::new(stream);
    let (mut dictionaries, mut records) = (Vec::new(), Vec::new());
    let mut offset = start;
    let mut schema_seen = false;
    loop {
        let prefix = at.take(8)?;
        if prefix[..4] != [0xff; 4] {
            return Err(malformed("a message without its continuation marker"));
        }
        let metadata_len = i32::from_le_bytes(prefix[4..].try_into().expect("4 bytes"));
        let metadata_len =
            usize::try_from(metadata_len).map_err(|_| malformed("a negative length"))?;
        if metadata_len == 0 {
            // The end of the stream: nothing may follow it.
            if !at.is_at_end() {
                return Err(malformed("bytes after the end of the stream"));
            }
            return Ok((dictionaries, records));
        }
        let metadata = at.take(metadata_len)?;
        let message = ipc::root_as_message(&metadata)
            .map_err(|e| malformed(&format!("a message that does not parse: {e}")))?;
        let body = usize::try_from(message.bodyLength())
            .map_err(|_| malformed("a negative body length"))?;
        at.skip(body)?;
        let header_len = 8 + metadata_len;
        let block = ipc::Block::new(offset as i64, header_len as i32, body as i64);
        match message.header_type() {
            ipc::MessageHeader::Schema if !schema_seen => schema_seen = true,
            ipc::MessageHeader::DictionaryBatch if records.is_empty() => dictionaries.push(block),
            ipc::MessageHeader::DictionaryBatch => {
                return Err(ArrowError::InvalidArgumentError(
                    "a file holds one dictionary per column: a later batch brought another one"
                        .into(),
                ));
            }
            ipc::MessageHeader::RecordBatch if schema_seen => records.push(block),
            other => return Err(malformed(&format!("an unexpected {other:?} message"))),
        }
        offset += header_len + body;
    }
}

fn malformed(what: &str) -> ArrowError {
    ArrowError::IpcError(format!("arrow's stream encoder wrote {what}"))
}

/// Reads a stream that lies across buffers: small pieces copied out, bodies skipped.
struct Reader<'a> {
    buffers: &'a [Buffer],
    /// The buffer being read, and how far into it.
    index: usize,
    within: usize,
    /// The bytes not read yet.
    left: usize,
}

impl<'a> Reader<'a> {
    fn new(buffers: &'a [Buffer]) -> Reader<'a> {
        Reader {
            buffers,
            index: 0,
            within: 0,
            left: buffers.iter().map(Buffer::len).sum(),
        }
    }

    fn is_at_end(&self) -> bool {
        self.left == 0
    }

    /// Moves past exhausted buffers.
    fn settle(&mut self) {
        while self.index < self.buffers.len() && self.within == self.buffers[self.index].len() {
            self.index += 1;
            self.within = 0;
        }
    }

    /// The next `n` bytes, copied.
    fn take(&mut self, n: usize) -> Result<Vec<u8>, ArrowError> {
        if n > self.left {
            // Checked before anything is allocated for a length read from the stream.
            return Err(malformed("a length past the end of the stream"));
        }
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            self.settle();
            let Some(b) = self.buffers.get(self.index) else {
                return Err(malformed("a stream that ends inside a message"));
            };
            let k = (n - out.len()).min(b.len() - self.within);
            out.extend_from_slice(&b.as_slice()[self.within..self.within + k]);
            self.within += k;
            self.left -= k;
        }
        Ok(out)
    }

    /// Moves past the next `n` bytes.
    fn skip(&mut self, mut n: usize) -> Result<(), ArrowError> {
        if n > self.left {
            return Err(malformed("a body past the end of the stream"));
        }
        while n > 0 {
            self.settle();
            let Some(b) = self.buffers.get(self.index) else {
                return Err(malformed("a stream that ends inside a message body"));
            };
            let k = n.min(b.len() - self.within);
            self.within += k;
            self.left -= k;
            n -= k;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "ipc_parts_tests.rs"]
mod tests;
