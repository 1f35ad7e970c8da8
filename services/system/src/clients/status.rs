//! The status probes of GetSystemStatus: each service's `InstanceInternalService` (SystemAPI's
//! own answered in-process) and NotifyAPI's delivery health, each bounded by its deadline even
//! when the callee accepts the connection and never answers (a frozen process).

use std::{collections::BTreeMap, time::Duration};

use astro_proto::astrobookings::{
    common::v1::{
        GetInstanceStatusRequest, GetInstanceStatusResponse, InstanceInfo,
        instance_internal_service_client::InstanceInternalServiceClient,
    },
    notify::v1::{
        GetDeliveryHealthRequest, notify_internal_service_client::NotifyInternalServiceClient,
    },
};
use astro_shared::{
    AppError, convert::from_timestamp, grpc_client::TracedChannel, instance::InstanceStatus,
};

use crate::domain::monitoring::{DeliveryHealth, Dependency, Instance, ProbeAnswer, ProbeOutcome};

#[derive(Clone)]
pub struct StatusProbes {
    own: InstanceStatus,
    services: BTreeMap<&'static str, InstanceInternalServiceClient<TracedChannel>>,
    notify: NotifyInternalServiceClient<TracedChannel>,
}

impl StatusProbes {
    /// `own` is this process; `services` the others by display name ("booking-api").
    pub fn new(
        own: InstanceStatus,
        services: Vec<(&'static str, TracedChannel)>,
        notify: TracedChannel,
    ) -> Self {
        Self {
            own,
            services: services
                .into_iter()
                .map(|(name, channel)| (name, InstanceInternalServiceClient::new(channel)))
                .collect(),
            notify: NotifyInternalServiceClient::new(notify),
        }
    }

    /// Asks `service` how it is, within `deadline`.
    pub async fn probe(&self, service: &str, deadline: Duration) -> ProbeOutcome {
        if service == self.own.service() {
            return ProbeOutcome::Answered(answer(self.own.check().await));
        }
        let Some(client) = self.services.get(service) else {
            return ProbeOutcome::Failed("not known to SystemAPI".to_owned());
        };
        let mut request = tonic::Request::new(GetInstanceStatusRequest {});
        request.set_timeout(deadline);
        let mut client = client.clone();
        let call = client.get_instance_status(request);
        match tokio::time::timeout(deadline, call).await {
            Ok(Ok(response)) => ProbeOutcome::Answered(answer(response.into_inner())),
            // Decoded the shared way: the channel's own deadline firing before the timer here
            // (CANCELLED from tonic) is a timeout too.
            Ok(Err(status)) => match AppError::from(status) {
                AppError::DeadlineExceeded => ProbeOutcome::TimedOut,
                AppError::Unavailable { .. } => ProbeOutcome::Failed("not reachable".to_owned()),
                error => ProbeOutcome::Failed(format!("answered {:?}", error.code())),
            },
            Err(_) => ProbeOutcome::TimedOut,
        }
    }

    /// NotifyAPI's queue and delivery figures; `None` if it did not answer within `deadline`.
    pub async fn delivery_health(&self, deadline: Duration) -> Option<DeliveryHealth> {
        let mut request = tonic::Request::new(GetDeliveryHealthRequest {});
        request.set_timeout(deadline);
        let mut notify = self.notify.clone();
        let call = notify.get_delivery_health(request);
        let health = tokio::time::timeout(deadline, call)
            .await
            .ok()?
            .ok()?
            .into_inner()
            .health?;
        Some(DeliveryHealth {
            queue_depth: health.queue_depth,
            high_priority_queue_depth: health.high_priority_queue_depth,
            oldest_pending_age_seconds: health.oldest_pending_age_seconds,
            send_rate_per_minute: health.send_rate_per_minute,
            failure_rate_per_minute: health.failure_rate_per_minute,
            failure_ratio_last_hour: health.failure_ratio_last_hour,
            sent_last_hour: health.sent_last_hour,
            failed_last_hour: health.failed_last_hour,
            email_server_reachable: health.email_server_reachable,
            email_server_checked_at: from_timestamp(health.email_server_checked_at.as_ref()),
            last_sent_at: from_timestamp(health.last_sent_at.as_ref()),
            measured_at: from_timestamp(health.measured_at.as_ref()),
            workers_alive: health.workers_alive,
            priority_workers_alive: health.priority_workers_alive,
        })
    }
}

/// An instance as the contract describes it.
pub fn instance(info: InstanceInfo) -> Instance {
    Instance {
        started_at: from_timestamp(info.started_at.as_ref()),
        service: info.service,
        instance: info.instance,
        version: info.version,
    }
}

fn answer(response: GetInstanceStatusResponse) -> ProbeAnswer {
    ProbeAnswer {
        instance: instance(response.instance.unwrap_or_default()),
        serving: response.serving,
        dependencies: response
            .dependencies
            .into_iter()
            .map(|probe| Dependency {
                name: probe.name,
                reachable: probe.reachable,
                latency_ms: probe.latency_ms,
                detail: probe.detail,
            })
            .collect(),
    }
}
