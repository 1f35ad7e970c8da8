//! Background work of BookingAPI: the catalogue read model, expired payment holds, refunds
//! that did not finish, and launch outcomes (abort refunds, completion) from the change log.

use std::time::Duration;

use astro_shared::{
    changes::{ChangeFeed, Origin, run_feed},
    telemetry::error_chain,
};
use tracing::Instrument as _;

use super::{
    App, SERVICE_NAME,
    outcomes::{self, LaunchOutcomes},
};
use crate::{domain::booking::CancellationReason, store::Store};

/// How often each worker runs.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    pub sweep: Duration,
    pub feed: Duration,
}

/// Starts every worker; each runs until the process ends.
pub fn spawn(app: &App, store: &Store, intervals: Intervals) {
    tokio::spawn(app.catalogue.clone().run(intervals.feed));
    let feed = ChangeFeed::new(
        store.pool().clone(),
        "booking-launch-outcomes",
        &outcomes::EVENTS,
    );
    tokio::spawn(run_feed(
        feed,
        LaunchOutcomes(app.outcomes.clone()),
        intervals.feed,
    ));
    tokio::spawn(sweep(app.clone(), store.clone(), intervals.sweep));
}

/// Every `interval`: expired holds are settled (charge cancelled and seats released, or the
/// booking confirmed if the payment went through after all) and refunds that a request or an
/// earlier run left unfinished are driven again with their own refund ids.
async fn sweep(app: App, store: Store, interval: Duration) {
    let payments = &app.payments;
    loop {
        tokio::time::sleep(interval).await;
        let span = tracing::info_span!("booking.sweep");
        async {
            let origin = Origin::platform(SERVICE_NAME);
            match store.open_holds(None, 100).await {
                Ok(holds) => {
                    for hold in holds {
                        match payments.settle_hold(&hold, CancellationReason::HoldExpired, "", &origin).await {
                            Ok(Some(booking)) => tracing::info!(booking_id = %booking.id, status = %booking.status, "expired hold settled"),
                            Ok(None) => {}
                            Err(error) => tracing::warn!(booking_id = %hold.id, error = %error_chain(&error), "expired hold not settled yet"),
                        }
                    }
                }
                Err(error) => tracing::warn!(error = %error_chain(&error), "hold sweep failed"),
            }
            match store.refunds_due(None, interval, 100).await {
                Ok(due) if !due.is_empty() => {
                    if let Err(error) = payments.drive_refunds(&due, &origin).await {
                        tracing::warn!(error = %error_chain(&error), "some refunds are still due");
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error_chain(&error), "refund sweep failed"),
            }
        }
        .instrument(span)
        .await;
    }
}
