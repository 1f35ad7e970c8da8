//! A booking request, validated: passengers (one per seat, 18 to 70 years old on the launch
//! date), the payment method, the idempotency key and the fingerprint that ties the key to
//! this very request.

use astro_proto::astrobookings::booking::v1::Passenger;
use astro_shared::{
    AppError,
    validate::{
        bounded_text, idempotency_key as parse_idempotency_key, is_e164, looks_like_email,
        required_text,
    },
};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Passengers per booking.
pub const MAX_PASSENGERS: usize = 6;
/// Youngest and oldest passenger age on the launch date, inclusive.
pub const MIN_AGE: i32 = 18;
pub const MAX_AGE: i32 = 70;

/// The booking's status, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingStatus {
    PendingPayment,
    Confirmed,
    Completed,
    Cancelled,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "PENDING_PAYMENT",
            Self::Confirmed => "CONFIRMED",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::PendingPayment,
            Self::Confirmed,
            Self::Completed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// Why a booking was cancelled, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancellationReason {
    TravelerRequest,
    PaymentFailed,
    HoldExpired,
    LaunchAborted,
}

impl CancellationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TravelerRequest => "TRAVELER_REQUEST",
            Self::PaymentFailed => "PAYMENT_FAILED",
            Self::HoldExpired => "HOLD_EXPIRED",
            Self::LaunchAborted => "LAUNCH_ABORTED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::TravelerRequest,
            Self::PaymentFailed,
            Self::HoldExpired,
            Self::LaunchAborted,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == text)
    }
}

/// One passenger, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPassenger {
    pub full_name: String,
    pub date_of_birth: NaiveDate,
    pub email: String,
    pub phone: String,
}

/// A CreateBooking request, validated except for what needs the launch (ages).
#[derive(Debug, Clone)]
pub struct BookingRequest {
    pub launch_id: Uuid,
    pub passengers: Vec<NewPassenger>,
    pub payment_method_id: String,
    pub idempotency_key: String,
}

impl BookingRequest {
    /// Validates the shape of the request; errors name the field (`passengers[1].email`).
    pub fn parse(
        launch_id: &str,
        passengers: &[Passenger],
        payment_method_id: &str,
        idempotency_key: &str,
    ) -> Result<Self, AppError> {
        let idempotency_key = parse_idempotency_key(idempotency_key, true)?;
        let launch_id = Uuid::parse_str(launch_id.trim())
            .map_err(|_| AppError::invalid("launch_id", "must be a launch id (UUID)"))?;
        if passengers.is_empty() {
            return Err(AppError::invalid(
                "passengers",
                "at least one passenger is required (one per seat)",
            ));
        }
        if passengers.len() > MAX_PASSENGERS {
            return Err(AppError::invalid(
                "passengers",
                format!("at most {MAX_PASSENGERS} passengers (one per seat)"),
            ));
        }
        let passengers = passengers
            .iter()
            .enumerate()
            .map(|(index, passenger)| parse_passenger(index, passenger))
            .collect::<Result<Vec<_>, _>>()?;
        let payment_method_id = required_text("payment_method_id", payment_method_id, 255)?;
        Ok(Self {
            launch_id,
            passengers,
            payment_method_id,
            idempotency_key,
        })
    }

    pub fn seats(&self) -> i32 {
        // At most MAX_PASSENGERS, checked by `parse`.
        i32::try_from(self.passengers.len()).unwrap_or(i32::MAX)
    }

    /// Every passenger must be 18 to 70 years old on the launch date.
    pub fn check_ages(&self, launch_at: DateTime<Utc>) -> Result<(), AppError> {
        let launch_day = launch_at.date_naive();
        for (index, passenger) in self.passengers.iter().enumerate() {
            let age = age_on(passenger.date_of_birth, launch_day);
            if !(MIN_AGE..=MAX_AGE).contains(&age) {
                return Err(AppError::invalid(
                    format!("passengers[{index}].date_of_birth"),
                    format!(
                        "the passenger would be {age} on the launch date; passengers must be \
                         {MIN_AGE} to {MAX_AGE} years old"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// SHA-256 of everything that makes this request this request, so a key reused with
    /// another request is told apart from a retry.
    pub fn fingerprint(&self) -> Vec<u8> {
        let mut hash = Sha256::new();
        hash.update(self.launch_id.as_bytes());
        hash.update(self.payment_method_id.as_bytes());
        for passenger in &self.passengers {
            for part in [
                passenger.full_name.as_str(),
                &passenger.date_of_birth.to_string(),
                &passenger.email,
                &passenger.phone,
            ] {
                // Length-prefixed so ("ab", "c") and ("a", "bc") differ.
                hash.update(part.len().to_le_bytes());
                hash.update(part.as_bytes());
            }
        }
        hash.finalize().to_vec()
    }
}

fn parse_passenger(index: usize, passenger: &Passenger) -> Result<NewPassenger, AppError> {
    let field = |name: &str| format!("passengers[{index}].{name}");
    let full_name = required_text(&field("full_name"), &passenger.full_name, 100)?;
    let date_of_birth = NaiveDate::parse_from_str(passenger.date_of_birth.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::invalid(field("date_of_birth"), "must be a date, YYYY-MM-DD"))?;
    let email = required_text(&field("email"), &passenger.email, 254)?;
    if !looks_like_email(&email) {
        return Err(AppError::invalid(
            field("email"),
            "must be an e-mail address",
        ));
    }
    let phone = bounded_text(&field("phone"), &passenger.phone, 16)?;
    if !phone.is_empty() && !is_e164(&phone) {
        return Err(AppError::invalid(
            field("phone"),
            "must be in E.164 format, e.g. +14155550100",
        ));
    }
    Ok(NewPassenger {
        full_name,
        date_of_birth,
        email: email.to_lowercase(),
        phone,
    })
}

/// Whole years from `birth` to `day`.
pub fn age_on(birth: NaiveDate, day: NaiveDate) -> i32 {
    let mut age = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::field_of;

    fn passenger(date_of_birth: &str) -> Passenger {
        Passenger {
            full_name: "Ada Lovelace".into(),
            date_of_birth: date_of_birth.into(),
            email: "Ada@Example.com".into(),
            phone: String::new(),
        }
    }

    fn request(passengers: &[Passenger]) -> Result<BookingRequest, AppError> {
        BookingRequest::parse(
            "0195f2a4-0000-7000-8000-000000000001",
            passengers,
            "pm_card_visa",
            "key-12345678",
        )
    }

    #[test]
    fn ages_are_whole_years_on_the_launch_date() {
        let day = NaiveDate::from_ymd_opt(2030, 6, 15).unwrap();
        assert_eq!(
            age_on(NaiveDate::from_ymd_opt(2012, 6, 15).unwrap(), day),
            18
        );
        assert_eq!(
            age_on(NaiveDate::from_ymd_opt(2012, 6, 16).unwrap(), day),
            17
        );
        assert_eq!(
            age_on(NaiveDate::from_ymd_opt(1959, 6, 16).unwrap(), day),
            70
        );
        assert_eq!(
            age_on(NaiveDate::from_ymd_opt(1959, 6, 15).unwrap(), day),
            71
        );
        // Born on 29 February: a year older on 1 March of a common year.
        let leap = NaiveDate::from_ymd_opt(2008, 2, 29).unwrap();
        assert_eq!(
            age_on(leap, NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()),
            17
        );
        assert_eq!(
            age_on(leap, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()),
            18
        );
    }

    #[test]
    fn ages_outside_18_to_70_name_the_passenger() {
        let launch = Utc.with_ymd_and_hms(2030, 6, 15, 10, 0, 0).unwrap();
        let ok = request(&[passenger("2012-06-15"), passenger("1959-06-16")]).unwrap();
        assert!(ok.check_ages(launch).is_ok());
        let young = request(&[passenger("1990-01-01"), passenger("2012-06-16")]).unwrap();
        assert_eq!(
            field_of(young.check_ages(launch).unwrap_err()),
            "passengers[1].date_of_birth"
        );
        let old = request(&[passenger("1959-06-15")]).unwrap();
        assert_eq!(
            field_of(old.check_ages(launch).unwrap_err()),
            "passengers[0].date_of_birth"
        );
    }

    #[test]
    fn malformed_requests_name_their_field() {
        assert_eq!(field_of(request(&[]).unwrap_err()), "passengers");
        assert_eq!(
            field_of(request(&vec![passenger("1990-01-01"); 7]).unwrap_err()),
            "passengers"
        );
        assert_eq!(
            field_of(request(&[passenger("1990-13-01")]).unwrap_err()),
            "passengers[0].date_of_birth"
        );
        let mut bad_email = passenger("1990-01-01");
        bad_email.email = "nope".into();
        assert_eq!(
            field_of(request(&[bad_email]).unwrap_err()),
            "passengers[0].email"
        );
        let short_key = BookingRequest::parse(
            "0195f2a4-0000-7000-8000-000000000001",
            &[passenger("1990-01-01")],
            "pm_card_visa",
            "short",
        );
        assert_eq!(field_of(short_key.unwrap_err()), "idempotency_key");
        let bad_launch =
            BookingRequest::parse("x", &[passenger("1990-01-01")], "pm", "key-12345678");
        assert_eq!(field_of(bad_launch.unwrap_err()), "launch_id");
    }

    #[test]
    fn the_fingerprint_changes_with_any_meaningful_field() {
        let one = request(&[passenger("1990-01-01")]).unwrap();
        let same = request(&[passenger("1990-01-01")]).unwrap();
        let other = request(&[passenger("1990-01-02")]).unwrap();
        assert_eq!(one.fingerprint(), same.fingerprint());
        assert_ne!(one.fingerprint(), other.fingerprint());
        assert_eq!(one.passengers[0].email, "ada@example.com");
    }
}
