//! Contract ↔ domain for system monitoring: metric windows and the system status.

use std::collections::BTreeMap;

use astro_proto::astrobookings::{
    common::v1::NotificationServiceHealth,
    system::v1::{
        DependencyStatus, GetSystemStatusResponse, ListSystemMetricsRequest, ReplicaStatus,
        ServiceStatus, ServingState, SystemMetric,
    },
};
use astro_shared::{
    AppError,
    convert::{from_timestamp, timestamp},
};
use chrono::Utc;

use crate::domain::monitoring::{
    DeliveryHealth, MetricFilter, MetricPoint, ServiceHealth, Serving, SystemHealth,
};

/// The metrics of a RecordMetrics call; a window without both ends is refused.
pub fn metric_points(metrics: Vec<SystemMetric>) -> Result<Vec<MetricPoint>, AppError> {
    metrics
        .into_iter()
        .enumerate()
        .map(|(index, metric)| {
            let time = |value: Option<&prost_types::Timestamp>, name: &str| {
                from_timestamp(value).ok_or_else(|| {
                    AppError::invalid(format!("metrics[{index}].{name}"), "is required")
                })
            };
            Ok(MetricPoint {
                window_start: time(metric.window_start.as_ref(), "window_start")?,
                window_end: time(metric.window_end.as_ref(), "window_end")?,
                service: metric.service,
                name: metric.name,
                value: metric.value,
                unit: metric.unit,
                labels: metric.labels.into_iter().collect::<BTreeMap<_, _>>(),
            })
        })
        .collect()
}

pub fn system_metric(point: MetricPoint) -> SystemMetric {
    SystemMetric {
        service: point.service,
        name: point.name,
        value: point.value,
        unit: point.unit,
        labels: point.labels.into_iter().collect(),
        window_start: Some(timestamp(point.window_start)),
        window_end: Some(timestamp(point.window_end)),
    }
}

pub fn metric_filter(request: &ListSystemMetricsRequest) -> Result<MetricFilter, AppError> {
    MetricFilter::new(
        &request.service,
        &request.name,
        &request.method,
        from_timestamp(request.start_time.as_ref()),
        from_timestamp(request.end_time.as_ref()),
        Utc::now(),
    )
}

fn serving_state(state: Serving) -> ServingState {
    match state {
        Serving::Serving => ServingState::Serving,
        Serving::NotServing => ServingState::NotServing,
        Serving::Unknown => ServingState::Unknown,
    }
}

fn service_status(service: ServiceHealth) -> ServiceStatus {
    let now = service.checked_at;
    let (version, uptime_seconds, dependencies) = match service.answer {
        Some(answer) => (
            answer.instance.version.clone(),
            answer
                .instance
                .started_at
                .map_or(0, |started| (now - started).num_seconds().max(0)),
            answer
                .dependencies
                .into_iter()
                .map(|dependency| DependencyStatus {
                    name: dependency.name,
                    state: if dependency.reachable {
                        ServingState::Serving
                    } else {
                        ServingState::NotServing
                    }
                    .into(),
                    detail: dependency.detail,
                    latency_ms: dependency.latency_ms,
                })
                .collect(),
        ),
        None => (String::new(), 0, Vec::new()),
    };
    ServiceStatus {
        name: service.name,
        state: serving_state(service.state).into(),
        latency_ms: service.latency_ms,
        dependencies,
        detail: service.detail,
        checked_at: Some(timestamp(now)),
        version,
        uptime_seconds,
        replicas: service
            .replicas
            .into_iter()
            .map(|replica| ReplicaStatus {
                instance: replica.instance.instance,
                version: replica.instance.version,
                started_at: replica.instance.started_at.map(timestamp),
                last_seen_at: Some(timestamp(replica.last_seen_at)),
            })
            .collect(),
    }
}

fn delivery_health(health: DeliveryHealth) -> NotificationServiceHealth {
    NotificationServiceHealth {
        queue_depth: health.queue_depth,
        high_priority_queue_depth: health.high_priority_queue_depth,
        oldest_pending_age_seconds: health.oldest_pending_age_seconds,
        send_rate_per_minute: health.send_rate_per_minute,
        failure_rate_per_minute: health.failure_rate_per_minute,
        failure_ratio_last_hour: health.failure_ratio_last_hour,
        sent_last_hour: health.sent_last_hour,
        failed_last_hour: health.failed_last_hour,
        email_server_reachable: health.email_server_reachable,
        email_server_checked_at: health.email_server_checked_at.map(timestamp),
        last_sent_at: health.last_sent_at.map(timestamp),
        measured_at: health.measured_at.map(timestamp),
        workers_alive: health.workers_alive,
        priority_workers_alive: health.priority_workers_alive,
    }
}

pub fn system_status(health: SystemHealth) -> GetSystemStatusResponse {
    GetSystemStatusResponse {
        overall_state: serving_state(health.overall).into(),
        services: health.services.into_iter().map(service_status).collect(),
        notification_service: health.delivery.map(delivery_health),
        checked_at: Some(timestamp(health.checked_at)),
    }
}
