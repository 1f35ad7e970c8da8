//! Paging of list RPCs, the same way everywhere (see common.proto's conventions).
//!
//! - Page sizes: 0 means the RPC's default, values above its maximum are clamped, negative
//!   values are refused.
//! - Page tokens are opaque to clients: a version byte, the fingerprint of the query they came
//!   from ([`QueryKey`]), and where the next page starts (a keyset position or an offset, any
//!   serde value), base64url-encoded. A token replayed with other filters or another order is
//!   INVALID_ARGUMENT naming `page_token`, as is a token of another version or a forged one.
//! - Reads ask for one row more than the page ([`read_limit`]); [`Page::from_rows`] keeps the
//!   page and makes the next token only when that extra row came back, so the last page never
//!   carries a token to an empty page.

use astro_proto::astrobookings::common::v1::SortOrder;
use base64::Engine as _;
use serde::{Serialize, de::DeserializeOwned};

use crate::{AppError, AppResult};

/// The first byte of every token; a change of the layout bumps it, so old tokens are refused
/// cleanly instead of misread.
const TOKEN_VERSION: u8 = 1;

/// Longer tokens are refused before decoding: no position of ours comes near it.
const MAX_TOKEN_CHARS: usize = 1024;

/// The page size to use for a requested `page_size`.
pub fn page_size(requested: i32, default: u32, maximum: u32) -> Result<u32, AppError> {
    match u32::try_from(requested) {
        Err(_) => Err(AppError::invalid("page_size", "must not be negative")),
        Ok(0) => Ok(default),
        Ok(size) => Ok(size.min(maximum)),
    }
}

/// The rows to read for a page of `limit`: one more, to learn whether another page follows.
pub fn read_limit(limit: u32) -> i64 {
    i64::from(limit) + 1
}

/// Whether a list is sorted descending: `order` is a request's `SortOrder`, and `unspecified`
/// is the RPC's documented default direction.
pub fn sort_descending(order: i32, unspecified: SortOrder) -> AppResult<bool> {
    let order = match SortOrder::try_from(order) {
        Ok(SortOrder::Unspecified) => unspecified,
        Ok(order) => order,
        Err(_) => return Err(AppError::invalid("order", "unknown sort order")),
    };
    Ok(order == SortOrder::Descending)
}

/// Identifies the filters and order a page token belongs to: the RPC's name and every request
/// field that selects or orders rows (never `page_size` or `page_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryKey(u64);

impl QueryKey {
    /// FNV-1a over the parts with a separator: stable across builds and processes (unlike
    /// `std`'s hasher), so a token from one replica is good at another.
    pub fn of(parts: &[&str]) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in parts {
            // The separator keeps ["ab", "c"] and ["a", "bc"] apart.
            for byte in part.bytes().chain(std::iter::once(0xff)) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Self(hash)
    }

    /// The token of the page that starts at `position`.
    pub fn token<P: Serialize>(self, position: &P) -> String {
        let mut bytes = Vec::with_capacity(64);
        bytes.push(TOKEN_VERSION);
        bytes.extend_from_slice(&self.0.to_be_bytes());
        // A position is a plain struct, tuple or number of ours: it always serializes.
        if serde_json::to_writer(&mut bytes, position).is_err() {
            tracing::error!("a page position did not serialize");
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Where the page of `token` starts: `None` for the first page (no token).
    pub fn position<P: DeserializeOwned>(self, token: &str) -> AppResult<Option<P>> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || {
            AppError::invalid(
                "page_token",
                "is not a token from a previous page of this query",
            )
        };
        if token.len() > MAX_TOKEN_CHARS {
            return Err(invalid());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| invalid())?;
        let (header, position) = bytes.split_at_checked(9).ok_or_else(invalid)?;
        if header[0] != TOKEN_VERSION || header[1..] != self.0.to_be_bytes() {
            return Err(invalid());
        }
        serde_json::from_slice(position)
            .map(Some)
            .map_err(|_| invalid())
    }

    /// The offset a token of an offset-paged list points at (0 for the first page).
    pub fn offset(self, token: &str) -> AppResult<u64> {
        Ok(self.position(token)?.unwrap_or(0))
    }
}

/// One page of a list and the token of the next one (empty on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

impl<T> Page<T> {
    /// The page of `rows`, read with [`read_limit`]`(limit)`: when more than `limit` came back,
    /// the extra row is dropped and the next token starts after the last kept row, at the
    /// position `position` gives it.
    pub fn from_rows<P: Serialize>(
        mut rows: Vec<T>,
        limit: u32,
        query: QueryKey,
        position: impl FnOnce(&T) -> P,
    ) -> Self {
        let limit = limit as usize;
        let next_page_token = if rows.len() > limit {
            rows.truncate(limit);
            rows.last()
                .map(|last| query.token(&position(last)))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Self {
            items: rows,
            next_page_token,
        }
    }

    /// The page of `rows` read at `offset` with [`read_limit`]`(limit)` from an offset-paged list.
    pub fn from_offset_rows(rows: Vec<T>, offset: u64, limit: u32, query: QueryKey) -> Self {
        Self::from_rows(rows, limit, query, |_| offset + u64::from(limit))
    }

    /// The same page with its items converted.
    pub fn map<U>(self, convert: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(convert).collect(),
            next_page_token: self.next_page_token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_clamp_and_refuse_negatives() {
        assert_eq!(page_size(0, 20, 100).unwrap(), 20);
        assert_eq!(page_size(5, 20, 100).unwrap(), 5);
        assert_eq!(page_size(1000, 20, 100).unwrap(), 100);
        assert!(page_size(-1, 20, 100).is_err());
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_query() {
        let query = QueryKey::of(&["ListBookings", "agency", "SCHEDULED"]);
        let position = ("2026-12-03T10:00:00Z".to_owned(), 42_i64);
        let token = query.token(&position);
        assert_eq!(query.position(&token).unwrap(), Some(position));
        assert_eq!(query.position::<(String, i64)>("").unwrap(), None);
        let other = QueryKey::of(&["ListBookings", "agency", "DELAYED"]);
        let refused = other.position::<(String, i64)>(&token).unwrap_err();
        assert!(
            matches!(refused, AppError::InvalidArgument { ref field, .. } if field == "page_token")
        );
        assert_ne!(QueryKey::of(&["ab", "c"]), QueryKey::of(&["a", "bc"]));
    }

    #[test]
    fn forged_old_and_oversized_tokens_are_refused() {
        let query = QueryKey::of(&["ListUsers"]);
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut old = vec![0_u8];
        old.extend_from_slice(&query.0.to_be_bytes());
        old.extend_from_slice(b"7");
        let mut wrong_shape = vec![TOKEN_VERSION];
        wrong_shape.extend_from_slice(&query.0.to_be_bytes());
        wrong_shape.extend_from_slice(b"\"seven\"");
        for token in [
            "not base64 !".to_owned(),
            engine.encode([TOKEN_VERSION]),
            engine.encode(old),
            engine.encode(wrong_shape),
            "A".repeat(MAX_TOKEN_CHARS + 1),
        ] {
            assert!(query.offset(&token).is_err(), "{token}");
        }
        assert_eq!(query.offset(&query.token(&7_u64)).unwrap(), 7);
    }

    #[test]
    fn pages_carry_a_token_only_when_a_row_follows() {
        let query = QueryKey::of(&["ListThings"]);
        let full = Page::from_rows(vec![1, 2, 3], 2, query, |last| *last);
        assert_eq!(full.items, vec![1, 2]);
        assert_eq!(
            query.position::<i32>(&full.next_page_token).unwrap(),
            Some(2)
        );
        let last = Page::from_rows(vec![1, 2], 2, query, |last| *last);
        assert_eq!(last.items, vec![1, 2]);
        assert!(last.next_page_token.is_empty());
        let offset = Page::from_offset_rows(vec!['a', 'b', 'c'], 40, 2, query);
        assert_eq!(query.offset(&offset.next_page_token).unwrap(), 42);
        assert_eq!(read_limit(2), 3);
    }

    #[test]
    fn sort_orders_default_and_refuse_unknown_values() {
        let descending = SortOrder::Descending as i32;
        assert!(sort_descending(0, SortOrder::Descending).unwrap());
        assert!(!sort_descending(0, SortOrder::Ascending).unwrap());
        assert!(sort_descending(descending, SortOrder::Ascending).unwrap());
        assert!(!sort_descending(SortOrder::Ascending as i32, SortOrder::Descending).unwrap());
        assert!(sort_descending(99, SortOrder::Ascending).is_err());
    }
}
