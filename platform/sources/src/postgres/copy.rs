//! The binary COPY format, parsed as it streams: an 11-byte signature, flags and a
//! header extension, then per row a field count and each field as a length (-1 for
//! null) and its bytes, and a field count of -1 at the end. PostgreSQL sends rows in
//! CopyData messages that need not align with rows, so a row cut across two messages is
//! carried over; a whole row inside one message is decoded straight from it.

use bytes::{Buf, Bytes, BytesMut};

use super::types::Column;
use crate::{SourceError, SourceResult};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

pub(super) struct CopyParser {
    columns: Vec<Column>,
    /// Bytes of a row (or of the header) not yet complete.
    carry: BytesMut,
    header_done: bool,
    /// The trailer (-1) was read.
    pub done: bool,
    /// Rows appended since the last batch.
    pub rows: usize,
}

fn malformed(what: &str) -> SourceError {
    SourceError::Query(format!("the server sent malformed COPY data: {what}"))
}

impl CopyParser {
    pub fn new(columns: Vec<Column>) -> CopyParser {
        CopyParser {
            columns,
            carry: BytesMut::new(),
            header_done: false,
            done: false,
            rows: 0,
        }
    }

    pub fn columns_mut(&mut self) -> &mut [Column] {
        &mut self.columns
    }

    /// Feeds one CopyData message; stops taking rows once `stop_after` rows are pending
    /// (the caller then finishes a batch and feeds the rest again), returning what is
    /// left of the message.
    pub fn feed(&mut self, mut chunk: Bytes, stop_after: usize) -> SourceResult<Bytes> {
        if !self.carry.is_empty() {
            self.carry.extend_from_slice(&chunk);
            let joined = std::mem::take(&mut self.carry).freeze();
            chunk = joined;
        }
        if !self.header_done {
            match header_len(&chunk)? {
                Some(n) => {
                    chunk.advance(n);
                    self.header_done = true;
                }
                None => {
                    self.carry.extend_from_slice(&chunk);
                    return Ok(Bytes::new());
                }
            }
        }
        while !self.done && self.rows < stop_after && !chunk.is_empty() {
            match self.row(&chunk)? {
                Some(used) => chunk.advance(used),
                None => {
                    // An incomplete row: keep it for the next message.
                    self.carry.extend_from_slice(&chunk);
                    return Ok(Bytes::new());
                }
            }
        }
        Ok(chunk)
    }

    /// Decodes one row (or the trailer) from the start of `buf`; `None` when `buf` holds
    /// only part of it, in which case nothing was appended.
    fn row(&mut self, buf: &[u8]) -> SourceResult<Option<usize>> {
        if buf.len() < 2 {
            return Ok(None);
        }
        let fields = i16::from_be_bytes([buf[0], buf[1]]);
        if fields == -1 {
            self.done = true;
            return Ok(Some(2));
        }
        if fields as usize != self.columns.len() {
            return Err(malformed(&format!(
                "a row of {fields} fields where {} were described",
                self.columns.len()
            )));
        }
        // Find the row's end first, so that a partial row appends nothing.
        let mut pos = 2;
        for _ in 0..fields {
            let Some(len) = buf.get(pos..pos + 4) else {
                return Ok(None);
            };
            let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
            pos += 4;
            if len > 0 {
                pos += len as usize;
            } else if len < -1 {
                return Err(malformed("a negative field length"));
            }
            if pos > buf.len() {
                return Ok(None);
            }
        }
        let mut at = 2;
        for column in &mut self.columns {
            let len = i32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"));
            at += 4;
            if len < 0 {
                column.append(None)?;
            } else {
                let end = at + len as usize;
                column.append(Some(&buf[at..end]))?;
                at = end;
            }
        }
        self.rows += 1;
        Ok(Some(pos))
    }
}

/// The header's length once all of it is in `buf`.
fn header_len(buf: &[u8]) -> SourceResult<Option<usize>> {
    if buf.len() < SIGNATURE.len() + 8 {
        return Ok(None);
    }
    if &buf[..SIGNATURE.len()] != SIGNATURE {
        return Err(malformed("no binary COPY signature"));
    }
    let ext = i32::from_be_bytes(
        buf[SIGNATURE.len() + 4..SIGNATURE.len() + 8]
            .try_into()
            .expect("4 bytes"),
    );
    if ext < 0 {
        return Err(malformed("a negative header extension"));
    }
    let n = SIGNATURE.len() + 8 + ext as usize;
    Ok((buf.len() >= n).then_some(n))
}
