//! gRPC adapters of NotifyAPI: decode, take the caller, call the domain, encode. Who may call
//! what is enforced from the contract by the auth layer before these run.

use astro_proto::astrobookings::notify::v1::{
    CancelNotificationRequest, CancelNotificationResponse, EnqueueNotificationRequest,
    EnqueueNotificationResponse, GetDeliveryHealthRequest, GetDeliveryHealthResponse,
    GetQueueStatusRequest, GetQueueStatusResponse, GetServiceStatusRequest,
    GetServiceStatusResponse, ListMyNotificationsRequest, ListMyNotificationsResponse,
    ListNotificationsRequest, ListNotificationsResponse, MarkNotificationSentRequest,
    MarkNotificationSentResponse, PublishEventRequest, PublishEventResponse,
    RetryNotificationRequest, RetryNotificationResponse,
    notify_internal_service_server::NotifyInternalService, notify_service_server::NotifyService,
};
use astro_shared::auth::caller;
use tonic::{Request, Response, Status};

use crate::{State, intake, ops, store::notifications::ManualAction};

/// Serves both the public `NotifyService` and the internal `NotifyInternalService`.
#[derive(Clone)]
pub struct NotifyApi {
    state: State,
}

impl NotifyApi {
    pub fn new(state: State) -> Self {
        Self { state }
    }

    async fn manual<T>(
        &self,
        request: &Request<T>,
        id: &str,
        reason: &str,
        action: ManualAction,
    ) -> Result<astro_proto::astrobookings::notify::v1::Notification, Status> {
        let user_id = caller(request)?.user_id.clone();
        Ok(ops::apply(&self.state, &user_id, id, reason, action).await?)
    }
}

#[tonic::async_trait]
impl NotifyService for NotifyApi {
    async fn list_notifications(
        &self,
        request: Request<ListNotificationsRequest>,
    ) -> Result<Response<ListNotificationsResponse>, Status> {
        Ok(Response::new(
            ops::list_notifications(&self.state, request.into_inner()).await?,
        ))
    }

    async fn get_queue_status(
        &self,
        request: Request<GetQueueStatusRequest>,
    ) -> Result<Response<GetQueueStatusResponse>, Status> {
        Ok(Response::new(
            ops::queue_status(&self.state, request.into_inner()).await?,
        ))
    }

    async fn retry_notification(
        &self,
        request: Request<RetryNotificationRequest>,
    ) -> Result<Response<RetryNotificationResponse>, Status> {
        let id = request.get_ref().id.clone();
        let notification = self.manual(&request, &id, "", ManualAction::Retry).await?;
        Ok(Response::new(RetryNotificationResponse {
            notification: Some(notification),
        }))
    }

    async fn cancel_notification(
        &self,
        request: Request<CancelNotificationRequest>,
    ) -> Result<Response<CancelNotificationResponse>, Status> {
        let CancelNotificationRequest { id, reason } = request.get_ref().clone();
        let notification = self
            .manual(&request, &id, &reason, ManualAction::Cancel)
            .await?;
        Ok(Response::new(CancelNotificationResponse {
            notification: Some(notification),
        }))
    }

    async fn mark_notification_sent(
        &self,
        request: Request<MarkNotificationSentRequest>,
    ) -> Result<Response<MarkNotificationSentResponse>, Status> {
        let MarkNotificationSentRequest { id, reason } = request.get_ref().clone();
        let notification = self
            .manual(&request, &id, &reason, ManualAction::MarkSent)
            .await?;
        Ok(Response::new(MarkNotificationSentResponse {
            notification: Some(notification),
        }))
    }

    async fn list_my_notifications(
        &self,
        request: Request<ListMyNotificationsRequest>,
    ) -> Result<Response<ListMyNotificationsResponse>, Status> {
        let user_id = caller(&request)?.user_id.clone();
        Ok(Response::new(
            ops::list_mine(&self.state, &user_id, request.into_inner()).await?,
        ))
    }

    async fn get_service_status(
        &self,
        _request: Request<GetServiceStatusRequest>,
    ) -> Result<Response<GetServiceStatusResponse>, Status> {
        Ok(Response::new(GetServiceStatusResponse {
            health: Some(ops::health(&self.state).await?),
        }))
    }
}

#[tonic::async_trait]
impl NotifyInternalService for NotifyApi {
    async fn publish_event(
        &self,
        request: Request<PublishEventRequest>,
    ) -> Result<Response<PublishEventResponse>, Status> {
        Ok(Response::new(
            intake::publish_event(&self.state, request.into_inner()).await?,
        ))
    }

    async fn enqueue_notification(
        &self,
        request: Request<EnqueueNotificationRequest>,
    ) -> Result<Response<EnqueueNotificationResponse>, Status> {
        Ok(Response::new(
            intake::enqueue_notification(&self.state, request.into_inner()).await?,
        ))
    }

    async fn get_delivery_health(
        &self,
        _request: Request<GetDeliveryHealthRequest>,
    ) -> Result<Response<GetDeliveryHealthResponse>, Status> {
        Ok(Response::new(GetDeliveryHealthResponse {
            health: Some(ops::health(&self.state).await?),
        }))
    }
}
