//! gRPC adapters of NotifyAPI: decode, authorize, call the domain, encode. RPCs that no issue
//! has built yet keep the generated default and answer UNIMPLEMENTED.

use astro_proto::astrobookings::notify::v1::{
    notify_internal_service_server::NotifyInternalService, notify_service_server::NotifyService,
};

use crate::State;

/// Serves both the public `NotifyService` and the internal `NotifyInternalService`.
#[derive(Clone)]
pub struct NotifyApi {
    #[expect(dead_code, reason = "read by the RPCs that the NotifyAPI issue builds")]
    state: State,
}

impl NotifyApi {
    pub fn new(state: State) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl NotifyService for NotifyApi {}

#[tonic::async_trait]
impl NotifyInternalService for NotifyApi {}
