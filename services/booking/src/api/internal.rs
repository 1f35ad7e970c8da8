//! BookingInternalService: what other services ask of bookings. No tokens here (the gateway
//! never exposes it); the acting party is the platform.

use astro_proto::astrobookings::booking::v1::{
    ApplyUserProfilesRequest, ApplyUserProfilesResponse, BatchGetLaunchRevenueRequest,
    BatchGetLaunchRevenueResponse, CompleteLaunchBookingsRequest, CompleteLaunchBookingsResponse,
    ConfirmBookingPaymentRequest, ConfirmBookingPaymentResponse, FailBookingPaymentRequest,
    FailBookingPaymentResponse, LaunchRevenue, ListLaunchBookingsRequest,
    ListLaunchBookingsResponse, ListLaunchTravelersRequest, ListLaunchTravelersResponse,
    ListVipTravelersRequest, ListVipTravelersResponse, RecordRefundOutcomeRequest,
    RecordRefundOutcomeResponse, RefreshCatalogueEntriesRequest, RefreshCatalogueEntriesResponse,
    RefundLaunchBookingsRequest, RefundLaunchBookingsResponse, SyncCatalogueRequest,
    SyncCatalogueResponse, booking_internal_service_server::BookingInternalService,
};
use std::collections::HashMap;

use astro_proto::astrobookings::common::v1::Role;
use astro_shared::{AppError, accounts::mirrors_of, convert::money, paging::QueryKey};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{BookingApi, catalogue, convert, page_request};
use crate::domain::booking::BookingStatus;

/// Page size of the internal lists: default and maximum.
const INTERNAL_PAGE: (u32, u32) = (200, 1_000);

fn id_of(text: &str, field: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text.trim()).map_err(|_| AppError::invalid(field, "must be a UUID"))
}

/// ListLaunchTravelers' tokens belong to their launch.
fn launch_travelers_key(launch_id: Uuid) -> QueryKey {
    QueryKey::of(&["ListLaunchTravelers", &launch_id.to_string()])
}

/// ListVipTravelers has no filters: its tokens belong to the RPC.
fn vip_travelers_key() -> QueryKey {
    QueryKey::of(&["ListVipTravelers"])
}

/// ListLaunchBookings' tokens belong to their launch and status filter.
fn launch_bookings_key(launch_id: Uuid, statuses: &[BookingStatus]) -> QueryKey {
    let statuses: Vec<&str> = statuses.iter().map(|status| status.as_str()).collect();
    QueryKey::of(&[
        "ListLaunchBookings",
        &launch_id.to_string(),
        &statuses.join(","),
    ])
}

#[tonic::async_trait]
impl BookingInternalService for BookingApi {
    async fn apply_user_profiles(
        &self,
        request: Request<ApplyUserProfilesRequest>,
    ) -> Result<Response<ApplyUserProfilesResponse>, Status> {
        let batch = mirrors_of(Role::Traveler, &request.get_ref().profiles)?;
        let applied = self.app.travelers.mirror_accounts(&batch.mirrors).await?;
        let (applied, skipped) = batch.counts(applied);
        Ok(Response::new(ApplyUserProfilesResponse {
            applied,
            skipped,
        }))
    }

    async fn list_launch_travelers(
        &self,
        request: Request<ListLaunchTravelersRequest>,
    ) -> Result<Response<ListLaunchTravelersResponse>, Status> {
        let input = request.into_inner();
        let launch_id = id_of(&input.launch_id, "launch_id")?;
        let page = page_request(
            launch_travelers_key(launch_id),
            input.page_size,
            &input.page_token,
            INTERNAL_PAGE,
        )?;
        let page = self.app.travelers.of_launch(launch_id, page).await?;
        Ok(Response::new(ListLaunchTravelersResponse {
            travelers: page.items.iter().map(convert::launch_traveler).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_vip_travelers(
        &self,
        request: Request<ListVipTravelersRequest>,
    ) -> Result<Response<ListVipTravelersResponse>, Status> {
        let input = request.into_inner();
        let page = page_request(
            vip_travelers_key(),
            input.page_size,
            &input.page_token,
            INTERNAL_PAGE,
        )?;
        let page = self.app.travelers.vips(page).await?;
        Ok(Response::new(ListVipTravelersResponse {
            travelers: page.items.iter().map(convert::contact).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_launch_bookings(
        &self,
        request: Request<ListLaunchBookingsRequest>,
    ) -> Result<Response<ListLaunchBookingsResponse>, Status> {
        let input = request.into_inner();
        let launch_id = id_of(&input.launch_id, "launch_id")?;
        let statuses = convert::booking_statuses(&input.statuses)?;
        let page = page_request(
            launch_bookings_key(launch_id, &statuses),
            input.page_size,
            &input.page_token,
            INTERNAL_PAGE,
        )?;
        let page = self
            .app
            .bookings
            .of_launch(launch_id, &statuses, page)
            .await?;
        Ok(Response::new(ListLaunchBookingsResponse {
            bookings: page.items.iter().map(convert::booking).collect(),
            travelers: HashMap::new(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn refund_launch_bookings(
        &self,
        request: Request<RefundLaunchBookingsRequest>,
    ) -> Result<Response<RefundLaunchBookingsResponse>, Status> {
        let input = request.into_inner();
        let launch_id = id_of(&input.launch_id, "launch_id")?;
        let totals = self
            .app
            .outcomes
            .refund_aborted_launch(launch_id, &input.reason)
            .await?;
        Ok(Response::new(RefundLaunchBookingsResponse {
            bookings_refunded: totals.bookings_refunded,
            holds_released: totals.holds_released,
            total_refunded: Some(money(totals.refunded_minor, &totals.currency)),
        }))
    }

    async fn complete_launch_bookings(
        &self,
        request: Request<CompleteLaunchBookingsRequest>,
    ) -> Result<Response<CompleteLaunchBookingsResponse>, Status> {
        let launch_id = id_of(&request.get_ref().launch_id, "launch_id")?;
        let (bookings_completed, holds_released) =
            self.app.outcomes.complete_flown_launch(launch_id).await?;
        Ok(Response::new(CompleteLaunchBookingsResponse {
            bookings_completed,
            holds_released,
        }))
    }

    async fn confirm_booking_payment(
        &self,
        request: Request<ConfirmBookingPaymentRequest>,
    ) -> Result<Response<ConfirmBookingPaymentResponse>, Status> {
        let input = request.into_inner();
        let booking_id = id_of(&input.booking_id, "booking_id")?;
        let amount_minor = input.amount.as_ref().map(|amount| amount.amount_minor);
        let booking = self
            .app
            .bookings
            .confirm_payment(booking_id, amount_minor, &input.payment_id)
            .await?;
        Ok(Response::new(ConfirmBookingPaymentResponse {
            booking: Some(convert::booking(&booking)),
        }))
    }

    async fn fail_booking_payment(
        &self,
        request: Request<FailBookingPaymentRequest>,
    ) -> Result<Response<FailBookingPaymentResponse>, Status> {
        let input = request.into_inner();
        let booking_id = id_of(&input.booking_id, "booking_id")?;
        let booking = self
            .app
            .bookings
            .fail_payment(booking_id, &input.failure_message)
            .await?;
        Ok(Response::new(FailBookingPaymentResponse {
            booking: Some(convert::booking(&booking)),
        }))
    }

    async fn record_refund_outcome(
        &self,
        request: Request<RecordRefundOutcomeRequest>,
    ) -> Result<Response<RecordRefundOutcomeResponse>, Status> {
        let input = request.into_inner();
        let booking_id = id_of(&input.booking_id, "booking_id")?;
        let refund_id = id_of(&input.refund_id, "refund_id")?;
        let state = convert::refund_state(input.state)?;
        let failure = Some(input.failure_message.as_str()).filter(|message| !message.is_empty());
        let booking = self
            .app
            .bookings
            .record_refund_outcome(booking_id, refund_id, state, failure)
            .await?;
        Ok(Response::new(RecordRefundOutcomeResponse {
            booking: Some(convert::booking(&booking)),
        }))
    }

    async fn batch_get_launch_revenue(
        &self,
        request: Request<BatchGetLaunchRevenueRequest>,
    ) -> Result<Response<BatchGetLaunchRevenueResponse>, Status> {
        let launch_ids = request
            .get_ref()
            .launch_ids
            .iter()
            .map(|id| id_of(id, "launch_ids"))
            .collect::<Result<Vec<_>, _>>()?;
        let rows = self.app.bookings.launch_revenue(&launch_ids).await?;
        Ok(Response::new(BatchGetLaunchRevenueResponse {
            revenues: rows
                .iter()
                .map(|row| LaunchRevenue {
                    launch_id: row.launch_id.to_string(),
                    gross_revenue: Some(money(row.gross_minor, &row.currency)),
                    refunds: Some(money(row.refunds_minor, &row.currency)),
                    net_revenue: Some(money(row.gross_minor - row.refunds_minor, &row.currency)),
                    paid_bookings: i32::try_from(row.paid_bookings).unwrap_or(i32::MAX),
                    seats_sold: i32::try_from(row.seats_sold).unwrap_or(i32::MAX),
                    passengers: i32::try_from(row.passengers).unwrap_or(i32::MAX),
                })
                .collect(),
        }))
    }

    async fn refresh_catalogue_entries(
        &self,
        request: Request<RefreshCatalogueEntriesRequest>,
    ) -> Result<Response<RefreshCatalogueEntriesResponse>, Status> {
        let ids = catalogue::refresh_ids(&request.get_ref().launch_ids)?;
        let (upserted, removed) = self.app.catalogue.refresh(&ids).await?;
        Ok(Response::new(RefreshCatalogueEntriesResponse {
            upserted: i32::try_from(upserted).unwrap_or(i32::MAX),
            removed: i32::try_from(removed).unwrap_or(i32::MAX),
        }))
    }

    async fn sync_catalogue(
        &self,
        request: Request<SyncCatalogueRequest>,
    ) -> Result<Response<SyncCatalogueResponse>, Status> {
        let page = catalogue::sync_page(request.get_ref())?;
        let batch = self.app.catalogue.sync_batch(page).await?;
        Ok(Response::new(catalogue::sync_response(&batch)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::PageRequest;
    use crate::domain::field_of;

    #[test]
    fn contact_tokens_only_continue_the_list_they_came_from() {
        let launch = Uuid::from_u128(1);
        let last = Uuid::from_u128(42);
        let token = launch_travelers_key(launch).token(&last);
        let page: PageRequest<Uuid> =
            page_request(launch_travelers_key(launch), 0, &token, INTERNAL_PAGE).unwrap();
        assert_eq!((page.after, page.limit), (Some(last), 200));
        for other in [
            launch_travelers_key(Uuid::from_u128(2)),
            vip_travelers_key(),
        ] {
            let refused = page_request::<Uuid>(other, 0, &token, INTERNAL_PAGE).unwrap_err();
            assert_eq!(field_of(refused), "page_token");
        }
        // The old tokens were the bare traveler id.
        let refused =
            page_request::<Uuid>(vip_travelers_key(), 0, &last.to_string(), INTERNAL_PAGE)
                .unwrap_err();
        assert_eq!(field_of(refused), "page_token");
        assert_eq!(
            page_request::<Uuid>(vip_travelers_key(), 5_000, "", INTERNAL_PAGE)
                .unwrap()
                .limit,
            1_000
        );
    }

    #[test]
    fn launch_booking_tokens_only_continue_their_launch_and_statuses() {
        let launch = Uuid::from_u128(1);
        let key = launch_bookings_key(launch, &[BookingStatus::Confirmed]);
        let token = key.token(&400_u64);
        let page: PageRequest<u64> = page_request(key, 0, &token, INTERNAL_PAGE).unwrap();
        assert_eq!(page.after, Some(400));
        for other in [
            launch_bookings_key(Uuid::from_u128(2), &[BookingStatus::Confirmed]),
            launch_bookings_key(launch, &[]),
            launch_bookings_key(
                launch,
                &[BookingStatus::Confirmed, BookingStatus::Completed],
            ),
        ] {
            let refused = page_request::<u64>(other, 0, &token, INTERNAL_PAGE).unwrap_err();
            assert_eq!(field_of(refused), "page_token");
        }
    }
}
