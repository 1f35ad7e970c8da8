//! AgencyAPI's rules as plain types and functions: input validation, slugs, the launch status
//! machine, occupancy, list filters and the bookings report's CSV. No tonic and no sqlx here,
//! so each rule is unit-tested on its own; the store enforces the same invariants again in SQL.

pub mod launch;
pub mod profile;
pub mod report;
pub mod rocket;

use astro_shared::validate::{bounded_text, required_text};
