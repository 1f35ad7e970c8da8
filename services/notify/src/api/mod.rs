//! gRPC adapters of NotifyAPI: decode, authorize, call the domain, encode. RPCs that no issue
//! has built yet keep the generated default and answer UNIMPLEMENTED.

pub mod intake;

use astro_proto::astrobookings::notify::v1::{
    EnqueueNotificationRequest, EnqueueNotificationResponse,
    notify_internal_service_server::NotifyInternalService, notify_service_server::NotifyService,
};
use tonic::{Request, Response, Status};

use crate::State;

/// Serves both the public `NotifyService` and the internal `NotifyInternalService`.
#[derive(Clone)]
pub struct NotifyApi {
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
impl NotifyInternalService for NotifyApi {
    async fn enqueue_notification(
        &self,
        request: Request<EnqueueNotificationRequest>,
    ) -> Result<Response<EnqueueNotificationResponse>, Status> {
        Ok(Response::new(
            intake::enqueue_notification(
                &self.state.notifications,
                &self.state.activity,
                request.into_inner(),
            )
            .await?,
        ))
    }
}
