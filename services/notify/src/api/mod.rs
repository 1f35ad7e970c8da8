//! gRPC adapters of NotifyAPI: decode (into domain input), take the caller, call the use case,
//! encode ([`convert`]). Who may call what is enforced from the contract by the auth layer
//! before these run.

pub mod convert;

use astro_proto::astrobookings::notify::v1::{
    CancelNotificationRequest, CancelNotificationResponse, EnqueueNotificationRequest,
    EnqueueNotificationResponse, GetDeliveryHealthRequest, GetDeliveryHealthResponse,
    GetQueueStatusRequest, GetQueueStatusResponse, GetServiceStatusRequest,
    GetServiceStatusResponse, ListMyNotificationsRequest, ListMyNotificationsResponse,
    ListNotificationsRequest, ListNotificationsResponse, MarkNotificationSentRequest,
    MarkNotificationSentResponse, Notification, PublishEventRequest, PublishEventResponse,
    RetryNotificationRequest, RetryNotificationResponse,
    notify_internal_service_server::NotifyInternalService, notify_service_server::NotifyService,
};
use astro_shared::auth::caller;
use tonic::{Request, Response, Status};

use crate::{
    app::{Intake, Operations},
    domain::notification::ManualAction,
};

/// Serves both the public `NotifyService` and the internal `NotifyInternalService`.
#[derive(Clone)]
pub struct NotifyApi {
    intake: Intake,
    operations: Operations,
}

impl NotifyApi {
    pub fn new(intake: Intake, operations: Operations) -> Self {
        Self { intake, operations }
    }

    /// Mark sent, retry or cancel, by the IT employee calling.
    async fn manual<T>(
        &self,
        request: &Request<T>,
        action: ManualAction,
        id: &str,
        reason: &str,
    ) -> Result<Option<Notification>, Status> {
        let caller = caller(request)?;
        let change = convert::manual_change(action, id, reason)?;
        let notification = self.operations.apply(caller, change).await?;
        Ok(Some(convert::notification(&notification)))
    }
}

#[tonic::async_trait]
impl NotifyService for NotifyApi {
    async fn list_notifications(
        &self,
        request: Request<ListNotificationsRequest>,
    ) -> Result<Response<ListNotificationsResponse>, Status> {
        let query = convert::queue_query(request.get_ref())?;
        let listed = self.operations.list(query).await?;
        Ok(Response::new(ListNotificationsResponse {
            notifications: listed
                .page
                .items
                .iter()
                .map(convert::notification)
                .collect(),
            next_page_token: listed.page.next_page_token,
            total_size: i64::try_from(listed.total).unwrap_or(i64::MAX),
        }))
    }

    async fn get_queue_status(
        &self,
        request: Request<GetQueueStatusRequest>,
    ) -> Result<Response<GetQueueStatusResponse>, Status> {
        let since = convert::since(request.get_ref())?;
        let status = self.operations.queue_status(since).await?;
        Ok(Response::new(convert::queue_status(status)))
    }

    async fn retry_notification(
        &self,
        request: Request<RetryNotificationRequest>,
    ) -> Result<Response<RetryNotificationResponse>, Status> {
        let id = &request.get_ref().id;
        let notification = self.manual(&request, ManualAction::Retry, id, "").await?;
        Ok(Response::new(RetryNotificationResponse { notification }))
    }

    async fn cancel_notification(
        &self,
        request: Request<CancelNotificationRequest>,
    ) -> Result<Response<CancelNotificationResponse>, Status> {
        let CancelNotificationRequest { id, reason } = request.get_ref();
        let notification = self
            .manual(&request, ManualAction::Cancel, id, reason)
            .await?;
        Ok(Response::new(CancelNotificationResponse { notification }))
    }

    async fn mark_notification_sent(
        &self,
        request: Request<MarkNotificationSentRequest>,
    ) -> Result<Response<MarkNotificationSentResponse>, Status> {
        let MarkNotificationSentRequest { id, reason } = request.get_ref();
        let notification = self
            .manual(&request, ManualAction::MarkSent, id, reason)
            .await?;
        Ok(Response::new(MarkNotificationSentResponse { notification }))
    }

    async fn list_my_notifications(
        &self,
        request: Request<ListMyNotificationsRequest>,
    ) -> Result<Response<ListMyNotificationsResponse>, Status> {
        let caller = caller(&request)?;
        let query = convert::own_query(request.get_ref())?;
        let page = self.operations.list_mine(caller, query).await?;
        Ok(Response::new(ListMyNotificationsResponse {
            notifications: page.items.iter().map(convert::notification).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_service_status(
        &self,
        _request: Request<GetServiceStatusRequest>,
    ) -> Result<Response<GetServiceStatusResponse>, Status> {
        let health = self.operations.health().await?;
        Ok(Response::new(GetServiceStatusResponse {
            health: Some(convert::health(health)),
        }))
    }
}

#[tonic::async_trait]
impl NotifyInternalService for NotifyApi {
    async fn publish_event(
        &self,
        request: Request<PublishEventRequest>,
    ) -> Result<Response<PublishEventResponse>, Status> {
        let event = convert::event(request.into_inner())?;
        let duplicate = self.intake.publish_event(event).await?;
        Ok(Response::new(PublishEventResponse { duplicate }))
    }

    async fn enqueue_notification(
        &self,
        request: Request<EnqueueNotificationRequest>,
    ) -> Result<Response<EnqueueNotificationResponse>, Status> {
        let outgoing = convert::outgoing(request.into_inner())?;
        let (notification, created) = self.intake.enqueue_notification(outgoing).await?;
        Ok(Response::new(EnqueueNotificationResponse {
            notification: Some(convert::notification(&notification)),
            created,
        }))
    }

    async fn get_delivery_health(
        &self,
        _request: Request<GetDeliveryHealthRequest>,
    ) -> Result<Response<GetDeliveryHealthResponse>, Status> {
        let health = self.operations.health().await?;
        Ok(Response::new(GetDeliveryHealthResponse {
            health: Some(convert::health(health)),
        }))
    }
}
