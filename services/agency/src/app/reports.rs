//! The bookings report of a successful launch, for its agency and for FINANCE.

use astro_proto::astrobookings::common::v1::Role;
use astro_shared::{AppError, activity::ActivityLog, auth::Caller};
use uuid::Uuid;

use super::agency_id;
use crate::{
    domain::{
        launch::LaunchStatus,
        report::{ReportLine, ReportTotals},
    },
    store::{Store, launches::LaunchRow},
};

/// A launch's paid bookings and their totals.
#[derive(Debug, Clone)]
pub struct BookingsReport {
    pub launch: LaunchRow,
    pub lines: Vec<ReportLine>,
    pub totals: ReportTotals,
}

/// Bookings reports.
#[derive(Clone)]
pub struct Reports {
    store: Store,
    activity: ActivityLog,
}

impl Reports {
    pub fn new(store: Store, activity: ActivityLog) -> Self {
        Self { store, activity }
    }

    /// The bookings report of launch `id`, which must be SUCCESSFUL. FINANCE reads every
    /// agency's reports; an agency only its own (another's launch is NOT_FOUND).
    pub async fn bookings(&self, caller: &Caller, id: Uuid) -> Result<BookingsReport, AppError> {
        let scope = if caller.role == Role::Finance {
            None
        } else {
            Some(agency_id(caller)?)
        };
        let launch = self.store.launch(scope, id).await?;
        if launch.status != LaunchStatus::Successful.as_str() {
            return Err(AppError::FailedPrecondition(
                "a bookings report exists only for a SUCCESSFUL launch".into(),
            ));
        }
        let lines = self.store.report_lines(id).await?;
        let totals = ReportTotals::of(&lines);
        self.activity.info(
            "launch.bookings_report",
            Some(&caller.user_id),
            format!("bookings report of {} read", launch.slug),
            &[("launch_id", &id.to_string())],
        );
        Ok(BookingsReport {
            launch,
            lines,
            totals,
        })
    }
}
