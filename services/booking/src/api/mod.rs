//! gRPC adapters of BookingAPI: decode, authorize, call the domain, encode. RPCs that no issue
//! has built yet keep the generated default and answer UNIMPLEMENTED.

use astro_proto::astrobookings::booking::v1::{
    booking_internal_service_server::BookingInternalService, booking_service_server::BookingService,
};

use crate::State;

/// Serves both the public `BookingService` and the internal `BookingInternalService`.
#[derive(Clone)]
pub struct BookingApi {
    #[expect(
        dead_code,
        reason = "read by the RPCs that the BookingAPI issue builds"
    )]
    state: State,
}

impl BookingApi {
    pub fn new(state: State) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl BookingService for BookingApi {}

#[tonic::async_trait]
impl BookingInternalService for BookingApi {}
