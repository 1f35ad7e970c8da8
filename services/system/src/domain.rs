//! The rules of accounts, as plain functions: input is parsed once here into clean values.

use astro_proto::astrobookings::common::v1::Role;
use astro_shared::AppError;

/// Passwords: long enough to resist guessing, short enough to bound hashing cost.
pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 128;
const NAME_MAX_CHARS: usize = 100;
const EMAIL_MAX_CHARS: usize = 254;

/// A trimmed, lower-cased e-mail address (unique case-insensitively by storing it so).
pub fn parse_email(field: &str, raw: &str) -> Result<String, AppError> {
    let email = raw.trim().to_lowercase();
    let valid_shape = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    });
    if email.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if email.chars().count() > EMAIL_MAX_CHARS
        || !valid_shape
        || email.chars().any(char::is_whitespace)
    {
        return Err(AppError::invalid(field, "is not a valid e-mail address"));
    }
    Ok(email)
}

/// A password within the length policy (counted in characters, not bytes).
pub fn check_password(field: &str, password: &str) -> Result<(), AppError> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(AppError::invalid(
            field,
            format!("must be at least {PASSWORD_MIN_CHARS} characters"),
        ));
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err(AppError::invalid(
            field,
            format!("must be at most {PASSWORD_MAX_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
pub fn parse_name(field: &str, raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if name.chars().count() > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            format!("must be 1 to {NAME_MAX_CHARS} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

/// The e-mail and name of an account to create, validated (the password is checked, never
/// kept here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub email: String,
    pub name: String,
}

impl NewAccount {
    pub fn parse(email: &str, password: &str, name: &str) -> Result<Self, AppError> {
        let email = parse_email("email", email)?;
        check_password("password", password)?;
        let name = parse_name("name", name)?;
        Ok(Self { email, name })
    }
}

/// The roles ListEmployees returns: one employee role, or all of them when unspecified.
pub fn employee_listing_roles(raw: i32) -> Result<Vec<Role>, AppError> {
    match Role::try_from(raw) {
        Ok(Role::Unspecified) => Ok(vec![Role::Finance, Role::It, Role::Admin]),
        Ok(role @ (Role::Finance | Role::It | Role::Admin)) => Ok(vec![role]),
        Ok(Role::Traveler | Role::Agency) | Err(_) => {
            Err(AppError::invalid("role", "must be FINANCE, IT or ADMIN"))
        }
    }
}

/// The roles ListUsers returns: one role, or every role when unspecified.
pub fn user_listing_roles(raw: i32) -> Result<Vec<Role>, AppError> {
    match Role::try_from(raw) {
        Ok(Role::Unspecified) => Ok(Vec::new()),
        Ok(role) => Ok(vec![role]),
        Err(_) => Err(AppError::invalid("role", "is not a role")),
    }
}

/// A user search text: trimmed, at most 100 characters; `None` when empty.
pub fn user_query(raw: &str) -> Result<Option<String>, AppError> {
    let text = raw.trim();
    if text.chars().count() > 100 {
        return Err(AppError::invalid("query", "must be at most 100 characters"));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// The roles a visitor may give itself: never an employee role (no mass assignment).
pub fn self_registration_role(raw: i32) -> Result<Role, AppError> {
    match Role::try_from(raw) {
        Ok(role @ (Role::Traveler | Role::Agency)) => Ok(role),
        Ok(Role::Finance | Role::It | Role::Admin) => Err(AppError::invalid(
            "role",
            "only TRAVELER or AGENCY can register; employees are created by an ADMIN",
        )),
        Ok(Role::Unspecified) | Err(_) => {
            Err(AppError::invalid("role", "must be TRAVELER or AGENCY"))
        }
    }
}

/// The roles an ADMIN may create as employees.
pub fn employee_role(raw: i32) -> Result<Role, AppError> {
    match Role::try_from(raw) {
        Ok(role @ (Role::Finance | Role::It)) => Ok(role),
        Ok(Role::Traveler | Role::Agency | Role::Admin | Role::Unspecified) | Err(_) => {
            Err(AppError::invalid("role", "must be FINANCE or IT"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            parse_email("email", "  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.com",
            "ada@x",
            "a da@x.com",
            "ada@.com",
        ] {
            assert!(parse_email("email", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn visitors_cannot_pick_employee_roles() {
        assert_eq!(
            self_registration_role(Role::Traveler as i32).unwrap(),
            Role::Traveler
        );
        assert_eq!(
            self_registration_role(Role::Agency as i32).unwrap(),
            Role::Agency
        );
        for role in [Role::Finance, Role::It, Role::Admin, Role::Unspecified] {
            assert!(self_registration_role(role as i32).is_err(), "{role:?}");
        }
        assert!(self_registration_role(99).is_err());
        assert!(employee_role(Role::Admin as i32).is_err());
        assert_eq!(employee_role(Role::It as i32).unwrap(), Role::It);
    }

    #[test]
    fn listing_rules_refuse_what_the_listing_cannot_return() {
        assert_eq!(employee_listing_roles(0).unwrap().len(), 3);
        assert!(employee_listing_roles(Role::Traveler as i32).is_err());
        assert!(user_listing_roles(0).unwrap().is_empty());
        assert!(user_listing_roles(99).is_err());
        assert_eq!(user_query("  ada ").unwrap().as_deref(), Some("ada"));
        assert_eq!(user_query("   ").unwrap(), None);
        assert!(user_query(&"x".repeat(101)).is_err());
    }

    #[test]
    fn password_policy_counts_characters() {
        assert!(check_password("password", "short").is_err());
        assert!(check_password("password", &"é".repeat(12)).is_ok());
        assert!(check_password("password", &"x".repeat(129)).is_err());
    }
}
