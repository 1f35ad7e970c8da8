//! AgencyAPI's use cases: structs built in `lib.rs` whose methods take the caller and parsed
//! domain input and answer domain values, store rows or `AppError`. They decide who sees what
//! (an agency only its own profile, rockets and launches), page lists, and log the significant
//! actions; the rules are `domain/`'s and the SQL `store/`'s. They never see a contract message.

pub mod launches;
pub mod profiles;
pub mod reports;
pub mod rockets;

use astro_shared::{AppError, auth::Caller, changes::Origin, telemetry::current_traceparent};
use uuid::Uuid;

use crate::SERVICE_NAME;

/// Which page of a list to read.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Rows on the page, already defaulted and clamped (`astro_shared::paging::page_size`).
    pub limit: u32,
    /// The `next_page_token` of the previous page; empty for the first.
    pub token: String,
}

/// The caller's agency id: the id of its account.
fn agency_id(caller: &Caller) -> Result<Uuid, AppError> {
    caller.user_uuid()
}

/// The origin of a write made for `caller` in the current request's trace.
fn origin(caller: &Caller) -> Origin {
    Origin {
        service: SERVICE_NAME,
        user_id: Some(caller.user_id.clone()),
        traceparent: current_traceparent(),
    }
}
