//! BookingAPI's use cases: structs built once in `lib.rs`, shared by the RPC adapters and the
//! background workers. Methods take the acting traveler (or none: the platform acts) and
//! parsed domain input, and answer domain values, store records or `AppError`; the contract's
//! messages stay in `api`.

pub mod bookings;
pub mod catalogue;
pub mod outcomes;
pub mod payments;
pub mod reserve;
pub mod travelers;
pub mod workers;

use astro_shared::{AppError, paging::QueryKey};

/// This service's name in activity logs and origins (`common.v1.Origin.service`).
pub const SERVICE_NAME: &str = "booking-api";

/// Every use case.
#[derive(Clone)]
pub struct App {
    pub catalogue: catalogue::Catalogue,
    pub travelers: travelers::Travelers,
    pub reservations: reserve::Reservations,
    pub bookings: bookings::Bookings,
    pub outcomes: outcomes::Outcomes,
    pub payments: payments::Payments,
}

/// Which page of a list a request asks for, decoded by the adapter: the query its tokens belong
/// to, the page size, and where the page starts (`None` for the first page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<P> {
    pub key: QueryKey,
    pub limit: u32,
    pub after: Option<P>,
}

/// A page position that decoded but names no place this list can have (a forged token): the
/// same answer as any other token that is not from this query.
fn invalid_page_token() -> AppError {
    AppError::invalid(
        "page_token",
        "is not a token from a previous page of this query",
    )
}
