//! A traveler's bookings (reading them with their launch, quoting and cancelling) and what
//! other services ask of bookings: a launch's bookings, payment outcomes, refund outcomes.

use std::collections::HashMap;

use astro_shared::{
    AppError,
    activity::ActivityLog,
    changes::Origin,
    launch_history::StatusChangeRow,
    paging::{Page, read_limit},
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PageRequest, SERVICE_NAME, payments::Payments};

/// Most launches one BatchGetLaunchRevenue may ask for.
const MAX_REVENUE_LAUNCHES: usize = 100;
use crate::{
    domain::{
        booking::{BookingStatus, CancellationReason},
        reasons,
        refund::{self, Quote, RefundState, RefundTier},
    },
    store::{
        Store,
        bookings::{BookingRow, LaunchRevenueRow, PassengerRow},
        launches::LaunchSummaryRow,
    },
};

/// A booking as the contract shows it: the booking, its passengers by seat and its launch as
/// it is now (`None` if the launch is gone).
#[derive(Debug, Clone)]
pub struct BookingView {
    pub booking: BookingRow,
    pub passengers: Vec<PassengerRow>,
    pub launch: Option<LaunchSummaryRow>,
}

/// What cancelling a booking now would refund, in the booking's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancellationQuote {
    pub quote: Quote,
    pub currency: String,
}

/// Which of a traveler's bookings ListBookings shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookingFilter {
    /// Any status when empty.
    pub statuses: Vec<BookingStatus>,
    pub launch_id: Option<Uuid>,
}

/// Where a page of a traveler's bookings starts, newest first: after the booking created at
/// this instant (µs since the epoch) with this id.
pub type BookingPosition = (i64, Uuid);

#[derive(Clone)]
pub struct Bookings {
    store: Store,
    payments: Payments,
    activity: ActivityLog,
}

impl Bookings {
    /// Revenue of up to 100 launches (BatchGetLaunchRevenue for FinanceAPI's invoices), one
    /// entry per distinct id, in the order asked.
    pub async fn launch_revenue(
        &self,
        launch_ids: &[Uuid],
    ) -> Result<Vec<LaunchRevenueRow>, AppError> {
        if launch_ids.is_empty() || launch_ids.len() > MAX_REVENUE_LAUNCHES {
            return Err(AppError::invalid(
                "launch_ids",
                format!("must hold 1 to {MAX_REVENUE_LAUNCHES} launch ids"),
            ));
        }
        let mut distinct = launch_ids.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let mut rows: HashMap<Uuid, LaunchRevenueRow> = self
            .store
            .launch_revenue(&distinct)
            .await?
            .into_iter()
            .map(|row| (row.launch_id, row))
            .collect();
        Ok(launch_ids.iter().filter_map(|id| rows.remove(id)).collect())
    }

    pub fn new(store: Store, payments: Payments, activity: ActivityLog) -> Self {
        Self {
            store,
            payments,
            activity,
        }
    }

    /// One booking as the contract shows it.
    pub async fn view(&self, booking: BookingRow) -> Result<BookingView, AppError> {
        self.views(vec![booking])
            .await?
            .pop()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("a booking without its view")))
    }

    /// Several bookings, with two queries for all their passengers and launches.
    pub async fn views(&self, bookings: Vec<BookingRow>) -> Result<Vec<BookingView>, AppError> {
        let ids: Vec<Uuid> = bookings.iter().map(|booking| booking.id).collect();
        let mut launch_ids: Vec<Uuid> = bookings.iter().map(|booking| booking.launch_id).collect();
        launch_ids.sort_unstable();
        launch_ids.dedup();
        let mut passengers: HashMap<Uuid, Vec<PassengerRow>> = HashMap::new();
        for passenger in self.store.passengers(&ids).await? {
            passengers
                .entry(passenger.booking_id)
                .or_default()
                .push(passenger);
        }
        let launches: HashMap<Uuid, LaunchSummaryRow> = self
            .store
            .launch_summaries(&launch_ids)
            .await?
            .into_iter()
            .map(|launch| (launch.id, launch))
            .collect();
        Ok(bookings
            .into_iter()
            .map(|booking| BookingView {
                passengers: passengers.remove(&booking.id).unwrap_or_default(),
                launch: launches.get(&booking.launch_id).cloned(),
                booking,
            })
            .collect())
    }

    /// A page of the traveler's bookings, newest first.
    pub async fn list_own(
        &self,
        traveler_id: Uuid,
        filter: &BookingFilter,
        page: PageRequest<BookingPosition>,
    ) -> Result<Page<BookingView>, AppError> {
        let after = page
            .after
            .map(|(micros, id)| {
                DateTime::<Utc>::from_timestamp_micros(micros)
                    .map(|at| (at, id))
                    .ok_or_else(super::invalid_page_token)
            })
            .transpose()?;
        let rows = self
            .store
            .traveler_bookings(
                traveler_id,
                &filter.statuses,
                filter.launch_id,
                after,
                read_limit(page.limit),
            )
            .await?;
        let page = Page::from_rows(rows, page.limit, page.key, |last| {
            (last.audit.created_at.timestamp_micros(), last.id)
        });
        let items = self.views(page.items).await?;
        Ok(Page {
            items,
            next_page_token: page.next_page_token,
        })
    }

    /// The traveler's booking with its launch's status history.
    pub async fn own_with_history(
        &self,
        traveler_id: Uuid,
        id: Uuid,
    ) -> Result<(BookingView, Vec<StatusChangeRow>), AppError> {
        let booking = self.own(traveler_id, id).await?;
        let history = self.store.launch_history(booking.launch_id).await?;
        Ok((self.view(booking).await?, history))
    }

    /// What cancelling the traveler's booking now would refund; `None` if it cannot be
    /// cancelled.
    pub async fn quote_own(
        &self,
        traveler_id: Uuid,
        id: Uuid,
    ) -> Result<Option<CancellationQuote>, AppError> {
        let booking = self.own(traveler_id, id).await?;
        let launch = self.store.launch_summary(booking.launch_id).await?;
        let launch_open = launch
            .as_ref()
            .is_some_and(|launch| matches!(launch.status.as_str(), "SCHEDULED" | "DELAYED"));
        if !launch_open {
            return Ok(None);
        }
        let quote = match BookingStatus::parse(&booking.status) {
            Some(BookingStatus::PendingPayment) => Quote {
                tier: RefundTier::NotPaid,
                refund_minor: 0,
                valid_until: booking.hold_expires_at,
            },
            Some(BookingStatus::Confirmed) => {
                let launch_at = launch.map_or_else(Utc::now, |launch| launch.scheduled_at);
                refund::traveler_cancellation(Utc::now(), launch_at, booking.total_minor)
            }
            _ => return Ok(None),
        };
        Ok(Some(CancellationQuote {
            quote,
            currency: booking.currency,
        }))
    }

    /// The traveler cancels their booking (see [`Self::cancel`]).
    pub async fn cancel_own(
        &self,
        traveler_id: Uuid,
        id: Uuid,
        note: &str,
    ) -> Result<BookingView, AppError> {
        let booking = self.own(traveler_id, id).await?;
        let cancelled = self.cancel(traveler_id, booking, note).await?;
        self.view(cancelled).await
    }

    /// The traveler's booking, or NOT_FOUND (also for another traveler's).
    async fn own(&self, traveler_id: Uuid, id: Uuid) -> Result<BookingRow, AppError> {
        self.store
            .traveler_booking(id, traveler_id)
            .await?
            .ok_or_else(|| AppError::NotFound("booking".into()))
    }

    /// The traveler cancels: an unpaid booking is released without charge, a paid one refunded
    /// by the policy. Repeating it on a booking the traveler already cancelled returns it
    /// unchanged (and finishes its refund if that had not finished).
    async fn cancel(
        &self,
        traveler_id: Uuid,
        booking: BookingRow,
        note: &str,
    ) -> Result<BookingRow, AppError> {
        let origin = Origin::user(SERVICE_NAME, &traveler_id.to_string());
        let not_cancellable = |why: &str| {
            AppError::refused(
                reasons::NOT_CANCELLABLE,
                format!("the booking cannot be cancelled: {why}"),
            )
        };
        let mut booking = booking;
        if booking.status == BookingStatus::PendingPayment.as_str() {
            match self
                .payments
                .settle_hold(&booking, CancellationReason::TravelerRequest, note, &origin)
                .await?
            {
                Some(settled) => booking = settled,
                None => booking = self.existing(booking.id).await?,
            }
            if booking.status == BookingStatus::Cancelled.as_str() {
                return Ok(booking);
            }
        }
        match BookingStatus::parse(&booking.status) {
            Some(BookingStatus::Confirmed) => {
                let Some(cancelled) = self
                    .store
                    .cancel_confirmed(booking.id, traveler_id, note, &origin)
                    .await?
                else {
                    // A concurrent call may have cancelled it first: answer as a repeat does.
                    let current = self.existing(booking.id).await?;
                    if current.status == BookingStatus::Confirmed.as_str() {
                        return Err(not_cancellable("its launch is no longer open"));
                    }
                    return Box::pin(self.cancel(traveler_id, current, note)).await;
                };
                self.activity.info(
                    "booking.cancelled",
                    Some(&traveler_id.to_string()),
                    format!(
                        "booking cancelled by the traveler, {} refunded ({})",
                        cancelled.refund_minor,
                        cancelled.refund_tier.as_deref().unwrap_or_default()
                    ),
                    &[("booking_id", &cancelled.id.to_string())],
                );
                // The refund is due in the database already; if this call fails the sweeper
                // finishes it with the same refund id.
                match self.payments.drive_refund(&cancelled, &origin).await {
                    Ok(refunded) => Ok(refunded),
                    Err(error) => {
                        tracing::warn!(booking_id = %cancelled.id, error = %astro_shared::telemetry::error_chain(&error), "refund left to the sweeper");
                        Ok(cancelled)
                    }
                }
            }
            Some(BookingStatus::Cancelled)
                if booking.cancellation_reason.as_deref()
                    == Some(CancellationReason::TravelerRequest.as_str()) =>
            {
                self.payments.drive_refund(&booking, &origin).await
            }
            Some(BookingStatus::Completed) => Err(not_cancellable("it is completed")),
            _ => Err(not_cancellable("it was cancelled for another reason")),
        }
    }

    /// Any booking by id, or NOT_FOUND.
    async fn existing(&self, id: Uuid) -> Result<BookingRow, AppError> {
        self.store
            .booking(id)
            .await?
            .ok_or_else(|| AppError::NotFound("booking".into()))
    }

    /// A page of a launch's bookings in creation order (ListLaunchBookings).
    pub async fn of_launch(
        &self,
        launch_id: Uuid,
        statuses: &[BookingStatus],
        page: PageRequest<u64>,
    ) -> Result<Page<BookingView>, AppError> {
        launch_exists(&self.store, launch_id).await?;
        let offset = page.after.unwrap_or(0);
        let rows = self
            .store
            .launch_bookings(
                launch_id,
                statuses,
                i64::try_from(offset).unwrap_or(i64::MAX),
                read_limit(page.limit),
            )
            .await?;
        let page = Page::from_offset_rows(rows, offset, page.limit, page.key);
        let items = self.views(page.items).await?;
        Ok(Page {
            items,
            next_page_token: page.next_page_token,
        })
    }

    /// FinanceAPI confirms a payment (webhook): `amount_minor` must be the booking's total.
    pub async fn confirm_payment(
        &self,
        id: Uuid,
        amount_minor: Option<i64>,
        payment_id: &str,
    ) -> Result<BookingView, AppError> {
        let booking = self.existing(id).await?;
        if amount_minor != Some(booking.total_minor) {
            return Err(AppError::invalid(
                "amount",
                "must equal the booking's total",
            ));
        }
        let (row, _late) = self
            .payments
            .accept_payment(booking.id, payment_id, &Origin::platform(SERVICE_NAME))
            .await?;
        self.view(row).await
    }

    /// FinanceAPI reports a failed payment: the hold is released.
    pub async fn fail_payment(
        &self,
        id: Uuid,
        failure_message: &str,
    ) -> Result<BookingView, AppError> {
        let booking = self.existing(id).await?;
        let row = self
            .store
            .release_hold(
                booking.id,
                CancellationReason::PaymentFailed,
                failure_message,
                false,
                &Origin::platform(SERVICE_NAME),
            )
            .await?
            .unwrap_or(booking);
        self.view(row).await
    }

    /// FinanceAPI reports what the gateway said of a refund.
    pub async fn record_refund_outcome(
        &self,
        id: Uuid,
        refund_id: Uuid,
        state: RefundState,
        failure: Option<&str>,
    ) -> Result<BookingView, AppError> {
        let booking = self.existing(id).await?;
        let row = self
            .store
            .record_refund_outcome(
                booking.id,
                refund_id,
                state,
                failure,
                &Origin::platform(SERVICE_NAME),
            )
            .await?
            .unwrap_or(booking);
        self.view(row).await
    }
}

/// NOT_FOUND unless the launch exists.
pub(super) async fn launch_exists(store: &Store, launch_id: Uuid) -> Result<(), AppError> {
    store
        .launch_summary(launch_id)
        .await?
        .map(|_| ())
        .ok_or_else(|| AppError::NotFound("launch".into()))
}
