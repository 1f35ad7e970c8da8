//! AgencyAPI's rules as plain types and functions: input validation, slugs, the launch status
//! machine and the bookings report's CSV. No tonic and no sqlx here, so each rule is unit-tested
//! on its own; the store enforces the same invariants again in SQL.

pub mod launch;
pub mod profile;
pub mod report;
pub mod rocket;

use astro_shared::AppError;

/// `text` trimmed, required, at most `max` characters; `field` names it in the error.
pub(crate) fn required_text(field: &str, text: &str, max: usize) -> Result<String, AppError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    bounded_text(field, trimmed, max)
}

/// `text` trimmed, possibly empty, at most `max` characters.
pub(crate) fn bounded_text(field: &str, text: &str, max: usize) -> Result<String, AppError> {
    let trimmed = text.trim();
    // PostgreSQL text cannot hold NUL: refuse it here rather than fail inside the database.
    if trimmed.contains('\0') {
        return Err(AppError::invalid(field, "must not contain NUL characters"));
    }
    if trimmed.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// A fingerprint of the request fields a page token belongs to (FNV-1a, stable across builds
/// unlike `std`'s hasher), so a token reused with other filters is refused.
pub fn fingerprint(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        // The separator keeps ["ab", "c"] and ["a", "bc"] apart.
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The opaque token of the page starting at `offset`.
pub fn page_token(offset: u64, fingerprint: u64) -> String {
    format!("{offset}.{fingerprint:016x}")
}

/// The offset a token points at (0 for no token); a token of another query is refused.
pub fn page_offset(token: &str, fingerprint: u64) -> Result<u64, AppError> {
    if token.is_empty() {
        return Ok(0);
    }
    let invalid = || {
        AppError::invalid(
            "page_token",
            "is not a token from a previous page of this query",
        )
    };
    let (offset, mark) = token.split_once('.').ok_or_else(invalid)?;
    if mark != format!("{fingerprint:016x}") {
        return Err(invalid());
    }
    offset.parse().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_refuse_other_queries() {
        let query = fingerprint(&["agency", "SCHEDULED"]);
        let token = page_token(40, query);
        assert_eq!(page_offset(&token, query).unwrap(), 40);
        assert_eq!(page_offset("", query).unwrap(), 0);
        assert!(page_offset(&token, fingerprint(&["agency", "DELAYED"])).is_err());
        assert!(page_offset("garbage", query).is_err());
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
    }

    #[test]
    fn required_text_is_trimmed_and_bounded_by_characters() {
        assert_eq!(required_text("name", "  Falcon  ", 10).unwrap(), "Falcon");
        assert!(required_text("name", "   ", 10).is_err());
        assert!(required_text("name", "ééé", 3).is_ok());
        assert!(required_text("name", "éééé", 3).is_err());
        assert!(bounded_text("name", "a\0b", 10).is_err());
    }
}
