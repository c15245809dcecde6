//! Relay connections over pages of rows; the cursors and page checks are the services'
//! ([`crate::services::paging`]).

use async_graphql::OutputType;
use async_graphql::connection::{Connection, Edge};

pub use crate::services::paging::{DEFAULT_PAGE, Keyed, MAX_PAGE, encode, page, page_ahead};

/// A list field's complexity: what one item costs, times how many items it may return
/// (the page asked for, or the default page), so `first: 100` of an expensive item counts
/// as a hundred of them.
pub fn list_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let n = first.map_or(DEFAULT_PAGE, |n| (n.max(0) as usize).min(MAX_PAGE));
    n.max(1).saturating_mul(child_complexity).saturating_add(1)
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
    fn a_list_costs_its_page_times_its_item() {
        assert_eq!(list_cost(Some(100), 5), 501);
        assert_eq!(list_cost(None, 5), DEFAULT_PAGE * 5 + 1);
        assert_eq!(list_cost(Some(1_000_000), 5), MAX_PAGE * 5 + 1);
        assert_eq!(list_cost(Some(-3), 5), 6);
    }
}
