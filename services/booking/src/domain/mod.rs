//! BookingAPI's rules as plain types and functions, free of I/O: passengers and their ages,
//! seat limits, the refund policy, idempotency fingerprints, the catalogue's selection. The
//! store enforces the seat rules again in SQL, where concurrency is decided.

pub mod booking;
pub mod catalogue;
pub mod refund;
pub mod traveler;

/// Seats a traveler may hold on one launch across active bookings.
pub const SEAT_LIMIT: i32 = 4;
/// Seats a VIP traveler may hold on one launch.
pub const VIP_SEAT_LIMIT: i32 = 6;

/// The per-launch seat limit of a traveler.
pub fn seat_limit(vip: bool) -> i32 {
    if vip { VIP_SEAT_LIMIT } else { SEAT_LIMIT }
}

/// The field an INVALID_ARGUMENT names, for tests of validation.
#[cfg(test)]
pub(crate) fn field_of(error: astro_shared::AppError) -> String {
    match error {
        astro_shared::AppError::InvalidArgument { field, .. } => field,
        other => panic!("not a field error: {other:?}"),
    }
}

/// `google.rpc.ErrorInfo` reasons of CreateBooking and CancelBooking, as the contract names them.
pub mod reasons {
    pub const LAUNCH_NOT_BOOKABLE: &str = "LAUNCH_NOT_BOOKABLE";
    pub const SEATS_UNAVAILABLE: &str = "SEATS_UNAVAILABLE";
    pub const SEAT_LIMIT_EXCEEDED: &str = "SEAT_LIMIT_EXCEEDED";
    pub const PROFILE_INCOMPLETE: &str = "PROFILE_INCOMPLETE";
    pub const PAYMENT_DECLINED: &str = "PAYMENT_DECLINED";
    pub const NOT_CANCELLABLE: &str = "NOT_CANCELLABLE";
}
