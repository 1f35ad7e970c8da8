//! Amounts as the e-mails write them: minor units of an ISO 4217 currency, with the
//! currency's exponent and grouped thousands ("USD 2,500.00", "JPY 1,234,567").

/// An amount in minor units of an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

pub use astro_shared::text::display_money;
