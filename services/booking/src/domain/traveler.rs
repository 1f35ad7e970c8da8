//! The traveler profile: contact and tax information a traveler needs before booking.

use astro_proto::astrobookings::common::v1 as common;
use astro_shared::{
    AppError,
    validate::{Address, is_e164, required_text},
};

/// Contact and tax information, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TravelerDetails {
    pub phone: String,
    pub tax_id: String,
    pub billing_address: Address,
}

impl TravelerDetails {
    /// Validates every field; errors name the field (`billing_address.city`).
    pub fn parse(
        phone: &str,
        tax_id: &str,
        billing_address: Option<&common::Address>,
    ) -> Result<Self, AppError> {
        let phone = required_text("phone", phone, 16)?;
        if !is_e164(&phone) {
            return Err(AppError::invalid(
                "phone",
                "must be in E.164 format, e.g. +14155550100",
            ));
        }
        let tax_id = required_text("tax_id", tax_id, 50)?;
        if tax_id.chars().count() < 2 {
            return Err(AppError::invalid("tax_id", "must be 2 to 50 characters"));
        }
        Ok(Self {
            phone,
            tax_id,
            billing_address: Address::parse("billing_address", billing_address)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> common::Address {
        common::Address {
            line1: "1 Main St".into(),
            city: "Springfield".into(),
            country_code: "US".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_profile_parses() {
        let details = TravelerDetails::parse("+14155550100", "TX-1", Some(&address())).unwrap();
        assert_eq!(details.billing_address.city, "Springfield");
    }

    #[test]
    fn missing_parts_are_named() {
        let field = |result: Result<TravelerDetails, AppError>| match result {
            Err(AppError::InvalidArgument { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        };
        assert_eq!(
            field(TravelerDetails::parse("555", "TX-1", Some(&address()))),
            "phone"
        );
        assert_eq!(
            field(TravelerDetails::parse(
                "+14155550100",
                "T",
                Some(&address())
            )),
            "tax_id"
        );
        assert_eq!(
            field(TravelerDetails::parse("+14155550100", "TX-1", None)),
            "billing_address"
        );
        let mut no_city = address();
        no_city.city.clear();
        assert_eq!(
            field(TravelerDetails::parse(
                "+14155550100",
                "TX-1",
                Some(&no_city)
            )),
            "billing_address.city"
        );
    }
}
