//! The agency profile: what an agency must tell about itself before it may add rockets or
//! schedule launches (DOMAIN: tax id and legal address required).

use astro_shared::AppError;

use astro_proto::astrobookings::common::v1 as common;
pub use astro_shared::validate::Address;
use astro_shared::validate::{is_e164, looks_like_email};

use super::{bounded_text, required_text};

/// A complete, valid agency profile as written by UpdateAgencyProfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyProfile {
    pub name: String,
    pub description: String,
    /// Empty: notifications go to the account e-mail.
    pub contact_email: String,
    pub contact_phone: String,
    pub tax_id: String,
    pub legal_address: Address,
}

/// The profile as received, before validation.
#[derive(Debug, Clone, Default)]
pub struct ProfileInput<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub contact_email: &'a str,
    pub contact_phone: &'a str,
    pub tax_id: &'a str,
    /// `None` when the request carries no address at all.
    pub legal_address: Option<common::Address>,
}

impl AgencyProfile {
    /// Validates every field; the first error names its field (proto field path).
    pub fn parse(input: &ProfileInput<'_>) -> Result<Self, AppError> {
        let name = required_text("name", input.name, 100)?;
        let description = bounded_text("description", input.description, 2_000)?;
        // Required (issue: contact e-mail and phone are part of a complete profile).
        let contact_email = required_text("contact_email", input.contact_email, 254)?;
        if !looks_like_email(&contact_email) {
            return Err(AppError::invalid(
                "contact_email",
                "must be an e-mail address",
            ));
        }
        let contact_phone = required_text("contact_phone", input.contact_phone, 16)?;
        if !is_e164(&contact_phone) {
            return Err(AppError::invalid(
                "contact_phone",
                "must be in E.164 format, e.g. +14155550100",
            ));
        }
        let tax_id = required_text("tax_id", input.tax_id, 50)?;
        if tax_id.chars().count() < 2 {
            return Err(AppError::invalid("tax_id", "must be 2 to 50 characters"));
        }
        let legal_address = Address::parse("legal_address", input.legal_address.as_ref())?;
        Ok(Self {
            name,
            description,
            contact_email: contact_email.to_lowercase(),
            contact_phone,
            tax_id,
            legal_address,
        })
    }
}

/// Successful launches an agency needs to count as reliable (DOMAIN: its invoices then take
/// the lower fee).
pub const RELIABLE_AFTER_SUCCESSFUL_LAUNCHES: i32 = 2;

/// Whether an agency with `successful_launch_count` successful launches is reliable.
pub fn is_reliable(successful_launch_count: i32) -> bool {
    successful_launch_count >= RELIABLE_AFTER_SUCCESSFUL_LAUNCHES
}

/// Where the other services write to an agency: its contact e-mail, or its account's e-mail
/// while its profile names none.
pub fn notification_email<'a>(contact_email: &'a str, account_email: &'a str) -> &'a str {
    if contact_email.is_empty() {
        account_email
    } else {
        contact_email
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> common::Address {
        common::Address {
            line1: "1 Rocket Road".into(),
            city: "Hawthorne".into(),
            country_code: "US".into(),
            ..common::Address::default()
        }
    }

    fn input() -> ProfileInput<'static> {
        ProfileInput {
            name: "Orbital Co",
            description: "We fly",
            contact_email: "Ops@Orbital.example",
            contact_phone: "+14155550100",
            tax_id: "US-123456",
            legal_address: Some(address()),
        }
    }

    fn field_of(error: AppError) -> String {
        match error {
            AppError::InvalidArgument { field, .. } => field,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_profile_parses_and_normalises_the_contact_email() {
        let profile = AgencyProfile::parse(&input()).unwrap();
        assert_eq!(profile.contact_email, "ops@orbital.example");
        assert_eq!(profile.legal_address.city, "Hawthorne");
    }

    #[test]
    fn missing_or_malformed_fields_are_named() {
        let cases: Vec<(ProfileInput<'static>, &str)> = vec![
            (
                ProfileInput {
                    name: " ",
                    ..input()
                },
                "name",
            ),
            (
                ProfileInput {
                    tax_id: "",
                    ..input()
                },
                "tax_id",
            ),
            (
                ProfileInput {
                    tax_id: "X",
                    ..input()
                },
                "tax_id",
            ),
            (
                ProfileInput {
                    legal_address: None,
                    ..input()
                },
                "legal_address",
            ),
            (
                ProfileInput {
                    contact_email: "nope",
                    ..input()
                },
                "contact_email",
            ),
            (
                ProfileInput {
                    contact_phone: "555-0100",
                    ..input()
                },
                "contact_phone",
            ),
            (
                ProfileInput {
                    legal_address: Some(common::Address {
                        city: String::new(),
                        ..address()
                    }),
                    ..input()
                },
                "legal_address.city",
            ),
            (
                ProfileInput {
                    legal_address: Some(common::Address {
                        country_code: "us".into(),
                        ..address()
                    }),
                    ..input()
                },
                "legal_address.country_code",
            ),
        ];
        for (case, field) in cases {
            assert_eq!(field_of(AgencyProfile::parse(&case).unwrap_err()), field);
        }
    }

    #[test]
    fn two_successful_launches_make_an_agency_reliable() {
        assert!(!is_reliable(0));
        assert!(!is_reliable(1));
        assert!(is_reliable(2));
        assert!(is_reliable(7));
    }

    #[test]
    fn notifications_go_to_the_contact_email_else_the_account_email() {
        assert_eq!(
            notification_email("ops@orbital.example", "owner@orbital.example"),
            "ops@orbital.example"
        );
        assert_eq!(
            notification_email("", "owner@orbital.example"),
            "owner@orbital.example"
        );
    }

    #[test]
    fn contact_email_and_phone_are_required() {
        let no_email = AgencyProfile::parse(&ProfileInput {
            contact_email: "  ",
            ..input()
        });
        assert_eq!(field_of(no_email.unwrap_err()), "contact_email");
        let no_phone = AgencyProfile::parse(&ProfileInput {
            contact_phone: "",
            ..input()
        });
        assert_eq!(field_of(no_phone.unwrap_err()), "contact_phone");
    }
}
