//! Pages of lists, whatever API lists them: `first`/`after` checked into a storage
//! [`PageRequest`], and the opaque cursors clients hold (a row's uid inside, so a cursor
//! is no handle on anything else).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{ApiError, ApiResult, PageRequest};

pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 100;

pub fn encode(uid: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("c1:{uid}"))
}

pub fn decode(cursor: &str) -> ApiResult<String> {
    let bad = || ApiError::invalid("after: not a cursor issued by this API");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix("c1:")
        .filter(|u| !u.is_empty() && u.len() <= 64)
        .map(str::to_owned)
        .ok_or_else(bad)
}

/// Validates `first`/`after` into a storage page request.
pub fn page(first: Option<i32>, after: Option<String>) -> ApiResult<PageRequest> {
    let first = match first {
        None => DEFAULT_PAGE,
        Some(n) if n < 0 => return Err(ApiError::invalid("first: must not be negative")),
        Some(n) if n as usize > MAX_PAGE => {
            return Err(ApiError::invalid(format!("first: at most {MAX_PAGE}")));
        }
        Some(n) => n as usize,
    };
    Ok(PageRequest {
        after: after.as_deref().map(decode).transpose()?,
        first,
    })
}

/// Like [`page`], but asks storage for one row past the page so the connection can tell
/// whether more follow. Returns the request and the page size the client asked for.
pub fn page_ahead(first: Option<i32>, after: Option<String>) -> ApiResult<(PageRequest, usize)> {
    let mut p = page(first, after)?;
    let n = p.first;
    p.first += 1;
    Ok((p, n))
}

/// A row a connection lists: its cursor is made from its id.
pub trait Keyed {
    fn key(&self) -> String;
}

macro_rules! keyed {
    ($($row:ty => $($field:ident).+;)*) => {
        $(impl Keyed for $row {
            fn key(&self) -> String {
                self.$($field).+.to_string()
            }
        })*
    };
}

keyed! {
    crate::records::UserRecord => uid;
    crate::records::GroupRecord => uid;
    crate::records::RevisionRecord => uid;
    crate::records::TaskRecord => uid;
    crate::records::AuditRecord => uid;
    crate::records::ShareLinkRecord => uid;
    crate::FolderView => record.uid;
    crate::ProjectView => record.uid;
    crate::TaskRunView => run.uid;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = encode("0193-abc");
        assert_eq!(decode(&c).unwrap(), "0193-abc");
        assert!(decode("not base64 !").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("x:1")).is_err());
        assert!(page(Some(101), None).is_err());
        assert!(page(Some(-1), None).is_err());
        assert_eq!(page(None, None).unwrap().first, DEFAULT_PAGE);
    }
}
