//! Relay cursors: opaque to clients, a uid inside.

use crate::services::{PageRequest, records};
use async_graphql::OutputType;
use async_graphql::connection::{Connection, Edge};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{ApiError, ApiResult};

pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 100;

pub fn encode(uid: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("c1:{uid}"))
}

fn decode(cursor: &str) -> ApiResult<String> {
    let bad = || ApiError::invalid("after: not a cursor issued by this API");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix("c1:")
        .filter(|u| !u.is_empty() && u.len() <= 64)
        .map(str::to_owned)
        .ok_or_else(bad)
}

/// Validates `first`/`after` into a storage page request.
/// A list field's complexity: what one item costs, times how many items it may return
/// (the page asked for, or the default page), so `first: 100` of an expensive item counts
/// as a hundred of them.
pub fn list_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let n = first.map_or(DEFAULT_PAGE, |n| (n.max(0) as usize).min(MAX_PAGE));
    n.max(1).saturating_mul(child_complexity).saturating_add(1)
}

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
    records::UserRecord => uid;
    records::GroupRecord => uid;
    records::RevisionRecord => uid;
    records::TaskRecord => uid;
    records::AuditRecord => uid;
    records::ShareLinkRecord => uid;
    crate::services::FolderView => record.uid;
    crate::services::ProjectView => record.uid;
    crate::services::TaskRunView => run.uid;
}

/// Builds a connection of [`Keyed`] rows; see [`connection_by`].
pub fn connection<T: Keyed, N: OutputType>(
    rows: Vec<T>,
    first: usize,
    more: Option<bool>,
    has_previous: bool,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    connection_by(rows, first, more, has_previous, T::key, node)
}

/// Builds a connection from rows fetched one past the page (`first + 1`) or with an
/// explicit "more follow" flag, their cursors made by `uid`.
pub fn connection_by<T, N: OutputType>(
    rows: Vec<T>,
    first: usize,
    more: Option<bool>,
    has_previous: bool,
    uid: impl Fn(&T) -> String,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    let has_next = more.unwrap_or(rows.len() > first);
    let mut c = Connection::new(has_previous, has_next);
    c.edges.extend(
        rows.into_iter()
            .take(first)
            .map(|r| Edge::new(encode(&uid(&r)), node(r))),
    );
    c
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
        assert_eq!(list_cost(Some(100), 5), 501);
        assert_eq!(list_cost(None, 5), DEFAULT_PAGE * 5 + 1);
        assert_eq!(list_cost(Some(1_000_000), 5), MAX_PAGE * 5 + 1);
        assert_eq!(list_cost(Some(-3), 5), 6);
    }
}
