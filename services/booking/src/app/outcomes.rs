//! What a launch's end means for its bookings, driven from the change log and from AgencyAPI's
//! calls: ABORTED refunds every confirmed booking 100% exactly once; SUCCESSFUL or FAILED
//! completes them. Each step is idempotent, so a row handled twice (a crash before it was
//! marked) changes nothing more.

use astro_shared::{
    AppError,
    activity::ActivityLog,
    changes::{Change, ChangeHandler, Origin},
};
use uuid::Uuid;

use super::{SERVICE_NAME, payments::Payments};
use crate::{
    domain::booking::{BookingStatus, CancellationReason},
    store::{Store, launches::LaunchSummaryRow},
};

/// The change-log events this consumer follows.
pub const EVENTS: [&str; 3] = ["LAUNCH_ABORTED", "LAUNCH_SUCCESSFUL", "LAUNCH_FAILED"];

/// Totals of one launch's abort handling.
#[derive(Debug, Default, Clone)]
pub struct AbortTotals {
    pub bookings_refunded: i32,
    pub holds_released: i32,
    pub refunded_minor: i64,
    /// The launch's currency (of `refunded_minor`).
    pub currency: String,
}

#[derive(Clone)]
pub struct Outcomes {
    store: Store,
    payments: Payments,
    activity: ActivityLog,
}

impl Outcomes {
    pub fn new(store: Store, payments: Payments, activity: ActivityLog) -> Self {
        Self {
            store,
            payments,
            activity,
        }
    }

    /// The launch, which must be in one of `statuses` (NOT_FOUND, FAILED_PRECONDITION
    /// otherwise).
    async fn launch_in(
        &self,
        launch_id: Uuid,
        statuses: &[&str],
    ) -> Result<LaunchSummaryRow, AppError> {
        let launch = self
            .store
            .launch_summary(launch_id)
            .await?
            .ok_or_else(|| AppError::NotFound("launch".into()))?;
        if !statuses.contains(&launch.status.as_str()) {
            return Err(AppError::FailedPrecondition(format!(
                "the launch is {}, not {}",
                launch.status,
                statuses.join(" or ")
            )));
        }
        Ok(launch)
    }

    /// RefundLaunchBookings: [`Self::abort_launch`] for a launch that must be ABORTED.
    pub async fn refund_aborted_launch(
        &self,
        launch_id: Uuid,
        reason: &str,
    ) -> Result<AbortTotals, AppError> {
        let launch = self.launch_in(launch_id, &["ABORTED"]).await?;
        let mut totals = self.abort_launch(launch_id, reason).await?;
        totals.currency = launch.currency;
        Ok(totals)
    }

    /// CompleteLaunchBookings: [`Self::complete_launch`] for a launch that must have flown.
    /// Returns (completed, holds released).
    pub async fn complete_flown_launch(&self, launch_id: Uuid) -> Result<(i32, i32), AppError> {
        self.launch_in(launch_id, &["SUCCESSFUL", "FAILED"]).await?;
        self.complete_launch(launch_id).await
    }

    /// Cancels a launch's bookings after an abort and drives every due refund. Safe to repeat.
    pub async fn abort_launch(
        &self,
        launch_id: Uuid,
        reason: &str,
    ) -> Result<AbortTotals, AppError> {
        let origin = Origin::platform(SERVICE_NAME);
        let mut totals = AbortTotals::default();
        for hold in self.store.open_holds(Some(launch_id), 1_000).await? {
            if self
                .payments
                .settle_hold(&hold, CancellationReason::LaunchAborted, reason, &origin)
                .await?
                .is_some_and(|booking| booking.status == BookingStatus::Cancelled.as_str())
            {
                totals.holds_released += 1;
            }
        }
        let cancelled = self
            .store
            .cancel_for_abort(launch_id, reason, &origin)
            .await?;
        totals.bookings_refunded = i32::try_from(cancelled.len()).unwrap_or(i32::MAX);
        totals.refunded_minor = cancelled.iter().map(|booking| booking.refund_minor).sum();
        if !cancelled.is_empty() {
            self.activity.info(
                "launch.aborted_refunds",
                None,
                format!(
                    "{} bookings cancelled with a full refund after the abort",
                    cancelled.len()
                ),
                &[("launch_id", &launch_id.to_string())],
            );
        }
        // Every refund of the launch still due, including those of an earlier, interrupted run.
        let due = self
            .store
            .refunds_due(Some(launch_id), std::time::Duration::ZERO, 10_000)
            .await?;
        self.payments.drive_refunds(&due, &origin).await?;
        Ok(totals)
    }

    /// Completes a launch's bookings after it flew; open holds are given up. Returns
    /// (completed, holds released).
    pub async fn complete_launch(&self, launch_id: Uuid) -> Result<(i32, i32), AppError> {
        let origin = Origin::platform(SERVICE_NAME);
        let mut released = 0;
        for hold in self.store.open_holds(Some(launch_id), 1_000).await? {
            if self
                .payments
                .settle_hold(&hold, CancellationReason::HoldExpired, "", &origin)
                .await?
                .is_some_and(|booking| booking.status == BookingStatus::Cancelled.as_str())
            {
                released += 1;
            }
        }
        let completed = self.store.complete_launch(launch_id, &origin).await?;
        Ok((i32::try_from(completed.len()).unwrap_or(i32::MAX), released))
    }
}

/// The change-log consumer of launch outcomes.
pub struct LaunchOutcomes(pub Outcomes);

impl ChangeHandler for LaunchOutcomes {
    async fn handle(&self, change: &Change) -> Result<(), AppError> {
        let Ok(launch_id) = Uuid::parse_str(&change.entity_id) else {
            tracing::warn!(entity_id = %change.entity_id, "launch event without a launch id; skipped");
            return Ok(());
        };
        match change.event_type.as_str() {
            "LAUNCH_ABORTED" => {
                let reason = change.payload["reason"].as_str().unwrap_or_default();
                let totals = self.0.abort_launch(launch_id, reason).await?;
                tracing::info!(%launch_id, ?totals, "abort handled");
            }
            "LAUNCH_SUCCESSFUL" | "LAUNCH_FAILED" => {
                let (completed, released) = self.0.complete_launch(launch_id).await?;
                tracing::info!(%launch_id, completed, released, "launch outcome handled");
            }
            _ => {}
        }
        Ok(())
    }
}
