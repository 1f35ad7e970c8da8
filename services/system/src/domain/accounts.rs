//! Accounts: what one is, and the rules of creating, listing and undoing them, as plain
//! functions; input is parsed once here into clean values.

use std::time::Duration;

use astro_proto::astrobookings::common::v1::Role;
use astro_shared::{AppError, auth::role_claim, paging::QueryKey};
use chrono::{DateTime, Utc};

/// An account. The password is kept only as its argon2id hash, the confirmation token only as
/// its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    /// Lower-cased: e-mails are unique case-insensitively.
    pub email: String,
    pub name: String,
    /// `Unspecified` only for a stored role this build does not know.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    pub email_confirmed: bool,
    /// SHA-256 of the e-mail confirmation token, until confirmed.
    pub confirmation_token_hash: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// The idempotency key of the CreateAccount call that made the account; `None` for
    /// self-registrations, employees and the first ADMIN.
    pub registration_key: Option<String>,
    /// Raised by every change of what OperationsDB mirrors (name, e-mail, role, disabled), so
    /// receivers of the account's snapshots keep the newest one; 1 for a new account.
    pub profile_version: i64,
}

impl Account {
    /// The role's name in tokens, logs and SystemDB (`TRAVELER`).
    pub fn role_name(&self) -> &'static str {
        role_claim(self.role)
    }

    /// Whether OperationsDB keeps a copy of the profile: an agency's account e-mail and a
    /// traveler's profile do; employees are mirrored nowhere.
    pub fn is_mirrored(&self) -> bool {
        matches!(self.role, Role::Agency | Role::Traveler)
    }
}

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

/// Idempotency keys of CreateAccount, in characters (the contract's bounds).
const IDEMPOTENCY_KEY_MIN_CHARS: usize = 8;
const IDEMPOTENCY_KEY_MAX_CHARS: usize = 255;
/// Most ids in one BatchGetUsers.
pub const MAX_BATCH_GET_USERS: usize = 500;
/// Account ids are UUIDs; anything much longer is not an id (and is not echoed back).
const USER_ID_MAX_CHARS: usize = 100;
/// How long after CreateAccount its caller may still undo it with DeleteAccount.
pub const COMPENSATION_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The confirmation e-mail of an account made by CreateAccount waits this long in the outbox
/// before the relay may send it: the caller's next step (storing the profile) takes
/// milliseconds, so a compensating DeleteAccount almost always cancels the e-mail before it
/// leaves, instead of racing the relay's next poll.
pub const COMPENSATION_GRACE: Duration = Duration::from_secs(3);

/// The idempotency key of a registration flow: kept exactly as sent (a key is an opaque
/// value, so no trimming or case folding), 8 to 255 printable characters.
pub fn parse_idempotency_key(raw: &str) -> Result<String, AppError> {
    let chars = raw.chars().count();
    if chars == 0 {
        return Err(AppError::invalid("idempotency_key", "is required"));
    }
    if !(IDEMPOTENCY_KEY_MIN_CHARS..=IDEMPOTENCY_KEY_MAX_CHARS).contains(&chars)
        || raw.chars().any(char::is_control)
    {
        return Err(AppError::invalid(
            "idempotency_key",
            format!(
                "must be {IDEMPOTENCY_KEY_MIN_CHARS} to {IDEMPOTENCY_KEY_MAX_CHARS} printable characters"
            ),
        ));
    }
    Ok(raw.to_owned())
}

/// A replayed CreateAccount must be the same registration as the first call: the same key for
/// another e-mail or role is a client bug, not a retry.
pub fn check_replay(
    stored_email: &str,
    stored_role: Role,
    requested: &NewAccount,
    requested_role: Role,
) -> Result<(), AppError> {
    if stored_email != requested.email {
        return Err(AppError::FailedPrecondition(
            "this idempotency key was used for another e-mail".into(),
        ));
    }
    if stored_role != requested_role {
        return Err(AppError::FailedPrecondition(
            "this idempotency key was used for another role".into(),
        ));
    }
    Ok(())
}

/// Why DeleteAccount refuses an existing account (the store's conditional delete did not
/// match it): only a fresh, never used account made by CreateAccount may be undone.
pub fn deletion_refusal(
    created_by_registration_flow: bool,
    logged_in: bool,
    age: Duration,
) -> AppError {
    let why = if !created_by_registration_flow {
        "the account was not created by CreateAccount"
    } else if logged_in {
        "the account has already logged in"
    } else if age >= COMPENSATION_WINDOW {
        "the account is more than 24 hours old"
    } else {
        // It matched every rule when read: it changed between the delete and the read.
        "the account changed meanwhile"
    };
    AppError::FailedPrecondition(format!("cannot delete: {why}"))
}

/// An account id in a request: required, and short enough to be an id.
pub fn parse_user_id(field: &str, raw: &str) -> Result<String, AppError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if id.chars().count() > USER_ID_MAX_CHARS {
        return Err(AppError::invalid(field, "is not an account id"));
    }
    Ok(id.to_owned())
}

/// The ids of a BatchGetUsers: 1 to 500, each checked, duplicates dropped (first kept, so the
/// missing ids come back in the caller's order).
pub fn parse_user_ids(raw: &[String]) -> Result<Vec<String>, AppError> {
    if raw.is_empty() || raw.len() > MAX_BATCH_GET_USERS {
        return Err(AppError::invalid(
            "user_ids",
            format!("must hold 1 to {MAX_BATCH_GET_USERS} ids"),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(raw.len());
    let mut ids = Vec::with_capacity(raw.len());
    for (index, id) in raw.iter().enumerate() {
        let id = parse_user_id(&format!("user_ids[{index}]"), id)?;
        if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The role ListUsersByRole lists: exactly one.
pub fn contact_listing_role(raw: i32) -> Result<Role, AppError> {
    match Role::try_from(raw) {
        Ok(Role::Unspecified) => Err(AppError::invalid("role", "is required")),
        Ok(role) => Ok(role),
        Err(_) => Err(AppError::invalid("role", "is not a role")),
    }
}

/// Which accounts ListUsers or ListEmployees returns.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UserFilter {
    /// Empty: every role.
    pub roles: Vec<Role>,
    pub disabled: Option<bool>,
    /// Case-insensitive substring of the e-mail or the name.
    pub text: Option<String>,
}

impl UserFilter {
    /// The query a page token of `rpc` with this filter belongs to; the listing is always
    /// newest first, so the filter is the whole query.
    pub fn query_key(&self, rpc: &str) -> QueryKey {
        let disabled = match self.disabled {
            None => "any",
            Some(true) => "disabled",
            Some(false) => "enabled",
        };
        // The text goes last, quoted by the separator QueryKey puts between parts.
        let mut parts = vec![rpc, disabled, self.text.as_deref().unwrap_or("")];
        parts.extend(self.roles.iter().map(|role| role_claim(*role)));
        QueryKey::of(&parts)
    }
}

/// The query of a ListUsersByRole page token: its role.
pub fn contacts_query(role: Role) -> QueryKey {
    QueryKey::of(&["ListUsersByRole", role_claim(role)])
}

/// The e-mail a ListUsersByRole page continues after (e-mails are unique, so "after it" is
/// exact); `None` for the first page. A position that is not an e-mail is not ours.
pub fn contacts_position(query: QueryKey, token: &str) -> Result<Option<String>, AppError> {
    let Some(email) = query.position::<String>(token)? else {
        return Ok(None);
    };
    parse_email("page_token", &email).map_err(|_| {
        AppError::invalid(
            "page_token",
            "is not a token from a previous page of this query",
        )
    })?;
    Ok(Some(email))
}

/// The one answer to a taken e-mail, whichever check found it.
pub fn email_taken() -> AppError {
    AppError::AlreadyExists("an account with this e-mail already exists".into())
}

/// Every failed login answers the same, so that it tells nothing about the account.
pub fn invalid_credentials() -> AppError {
    AppError::Unauthenticated("invalid e-mail or password".into())
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

    #[test]
    fn idempotency_keys_are_kept_exactly_within_bounds() {
        assert_eq!(
            parse_idempotency_key("Key-0001 ").unwrap(),
            "Key-0001 ",
            "opaque: not trimmed"
        );
        assert!(parse_idempotency_key("").is_err());
        assert!(parse_idempotency_key("1234567").is_err());
        assert!(parse_idempotency_key(&"k".repeat(255)).is_ok());
        assert!(parse_idempotency_key(&"k".repeat(256)).is_err());
        assert!(parse_idempotency_key("key\n12345").is_err());
    }

    #[test]
    fn a_replay_must_be_the_same_registration() {
        let ada = NewAccount::parse("ada@example.com", "long enough password", "Ada").unwrap();
        assert!(check_replay("ada@example.com", Role::Traveler, &ada, Role::Traveler).is_ok());
        for (email, role) in [
            ("bob@example.com", Role::Traveler),
            ("ada@example.com", Role::Agency),
        ] {
            assert!(matches!(
                check_replay(email, role, &ada, Role::Traveler),
                Err(AppError::FailedPrecondition(_))
            ));
        }
    }

    #[test]
    fn deletion_refusals_say_why() {
        let hour = Duration::from_secs(3600);
        let message = |error: AppError| match error {
            AppError::FailedPrecondition(message) => message,
            other => panic!("{other:?}"),
        };
        assert!(message(deletion_refusal(false, false, hour)).contains("CreateAccount"));
        assert!(message(deletion_refusal(true, true, hour)).contains("logged in"));
        assert!(message(deletion_refusal(true, false, 25 * hour)).contains("24 hours"));
    }

    #[test]
    fn batch_ids_are_bounded_checked_and_deduplicated() {
        let ids = |list: &[&str]| list.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            parse_user_ids(&ids(&["b", "a", "b"])).unwrap(),
            ids(&["b", "a"])
        );
        assert!(parse_user_ids(&[]).is_err());
        assert!(parse_user_ids(&vec!["x".to_owned(); 501]).is_err());
        assert!(parse_user_ids(&vec!["x".to_owned(); 500]).is_ok());
        assert!(parse_user_ids(&ids(&["a", " "])).is_err());
    }

    #[test]
    fn contact_listings_need_one_role_and_tokens_round_trip() {
        assert!(contact_listing_role(Role::Unspecified as i32).is_err());
        assert!(contact_listing_role(99).is_err());
        assert_eq!(contact_listing_role(Role::It as i32).unwrap(), Role::It);
        let agencies = contacts_query(Role::Agency);
        let token = agencies.token(&"ada@example.com");
        assert_eq!(
            contacts_position(agencies, &token).unwrap().as_deref(),
            Some("ada@example.com")
        );
        assert_eq!(contacts_position(agencies, "").unwrap(), None);
        assert!(contacts_position(agencies, "!!").is_err());
        assert!(contacts_position(agencies, &agencies.token(&"not an e-mail")).is_err());
        // Bound to its filter: a page of agencies does not continue a listing of IT.
        assert!(contacts_position(contacts_query(Role::It), &token).is_err());
    }

    #[test]
    fn user_page_tokens_are_bound_to_the_listing_and_its_filter() {
        let travelers = UserFilter {
            roles: vec![Role::Traveler],
            disabled: Some(false),
            text: Some("ada".into()),
        };
        let token = travelers.query_key("ListUsers").token(&"some-id");
        assert_eq!(
            travelers
                .query_key("ListUsers")
                .position::<String>(&token)
                .unwrap()
                .as_deref(),
            Some("some-id")
        );
        let agencies = UserFilter {
            roles: vec![Role::Agency],
            ..travelers.clone()
        };
        let any_state = UserFilter {
            disabled: None,
            ..travelers.clone()
        };
        let other_text = UserFilter {
            text: Some("bob".into()),
            ..travelers.clone()
        };
        for other in [&agencies, &any_state, &other_text] {
            assert!(
                other
                    .query_key("ListUsers")
                    .position::<String>(&token)
                    .is_err()
            );
        }
        assert!(
            travelers
                .query_key("ListEmployees")
                .position::<String>(&token)
                .is_err()
        );
    }
}
