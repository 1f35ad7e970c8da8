//! Input checks every service applies the same way: trimmed and bounded text, e-mail and phone
//! shapes, postal addresses (page tokens are `paging`'s).

use astro_proto::astrobookings::common::v1 as common;

use crate::AppError;

/// `text` trimmed, required, at most `max` characters; `field` names it in the error.
pub fn required_text(field: &str, text: &str, max: usize) -> Result<String, AppError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    bounded_text(field, trimmed, max)
}

/// `text` trimmed, possibly empty, at most `max` characters.
pub fn bounded_text(field: &str, text: &str, max: usize) -> Result<String, AppError> {
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

/// A plausibility check only: the address is proven by delivering to it, not by a regex.
pub fn looks_like_email(email: &str) -> bool {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// `+` then 8 to 15 digits, the first not zero.
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && !digits.starts_with('0')
}

/// A postal address, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country_code: String,
}

impl Address {
    /// Validates a required address; errors name `field.line1` etc.
    pub fn parse(field: &str, address: Option<&common::Address>) -> Result<Self, AppError> {
        let address = address.ok_or_else(|| AppError::invalid(field, "is required"))?;
        let path = |name: &str| format!("{field}.{name}");
        let parsed = Self {
            line1: required_text(&path("line1"), &address.line1, 200)?,
            line2: bounded_text(&path("line2"), &address.line2, 200)?,
            city: required_text(&path("city"), &address.city, 100)?,
            region: bounded_text(&path("region"), &address.region, 100)?,
            postal_code: bounded_text(&path("postal_code"), &address.postal_code, 20)?,
            country_code: required_text(&path("country_code"), &address.country_code, 2)?,
        };
        let country = &parsed.country_code;
        if country.len() != 2 || !country.bytes().all(|byte| byte.is_ascii_uppercase()) {
            return Err(AppError::invalid(
                path("country_code"),
                "must be an ISO 3166-1 alpha-2 code in upper case, e.g. US",
            ));
        }
        Ok(parsed)
    }

    pub fn to_proto(&self) -> common::Address {
        common::Address {
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country_code: self.country_code.clone(),
        }
    }
}

/// A client's idempotency key: 8 to 255 printable characters, surrounding blanks dropped;
/// empty is allowed unless `required` (the call is then not deduplicated).
pub fn idempotency_key(key: &str, required: bool) -> Result<String, AppError> {
    let key = key.trim();
    if key.is_empty() && !required {
        return Ok(String::new());
    }
    let length = key.chars().count();
    if !(8..=255).contains(&length) || key.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "idempotency_key",
            "must be 8 to 255 printable characters (a UUID is ideal); the Idempotency-Key header fills it",
        ));
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_text_is_trimmed_and_bounded_by_characters() {
        assert_eq!(required_text("name", "  Falcon  ", 10).unwrap(), "Falcon");
        assert!(required_text("name", "   ", 10).is_err());
        assert!(required_text("name", "ééé", 3).is_ok());
        assert!(required_text("name", "éééé", 3).is_err());
        assert!(bounded_text("name", "a\0b", 10).is_err());
    }
}
