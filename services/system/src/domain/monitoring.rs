//! System monitoring: the metric windows every process reports (RecordMetrics), how IT lists
//! them (ListSystemMetrics), and how the status of each service is read from its probe
//! (GetSystemStatus). Pure rules; the store keeps the windows, the app gathers the probes.

use std::collections::BTreeMap;

use astro_shared::{AppError, paging::QueryKey};
use chrono::{DateTime, Duration, Utc};

/// Most metrics in one RecordMetrics call.
pub const MAX_BATCH: usize = 1_000;
/// Most labels on one metric.
pub const MAX_LABELS: usize = 8;
/// Longest service, name, unit, label key or label value.
const MAX_TEXT: usize = 200;
/// ListSystemMetrics page sizes.
pub const PAGE_DEFAULT: u32 = 100;
pub const PAGE_MAX: u32 = 1_000;
/// Without a start, the last hour is listed.
pub const DEFAULT_LOOKBACK: Duration = Duration::hours(1);
/// A replica is listed if it reported within this many metric windows.
pub const REPLICA_WINDOWS: i32 = 3;

/// The services whose status GetSystemStatus shows, in this order.
pub const SERVICES: [&str; 5] = [
    "system-api",
    "agency-api",
    "booking-api",
    "finance-api",
    "notify-api",
];

/// One process instance, as it describes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub service: String,
    pub instance: String,
    pub version: String,
    pub started_at: Option<DateTime<Utc>>,
}

/// An instance and when it was last heard from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub instance: Instance,
    pub last_seen_at: DateTime<Utc>,
}

/// One measurement over one window.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub service: String,
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub labels: BTreeMap<String, String>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
}

impl MetricPoint {
    /// The identity RecordMetrics is idempotent on, ordered as ListSystemMetrics lists: window
    /// start (fixed width, so text order is time order), service, name, then the labels.
    pub fn key(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        format!(
            "{:015}|{}|{}|{}",
            self.window_start.timestamp_millis().max(0),
            self.service,
            self.name,
            labels.join(",")
        )
    }
}

/// The display name of a calling service ("booking" → "booking-api"; the gateway is "gateway").
pub fn display_name(service: &str) -> String {
    if service == "gateway" {
        service.to_owned()
    } else {
        format!("{service}-api")
    }
}

/// Checks a RecordMetrics batch sent by `caller` (a mesh service name, "booking") about
/// `reporter`: at most [`MAX_BATCH`], every metric of the reporter's own service (no process
/// writes another's figures), named, with windows that end after they start.
pub fn check_batch(
    caller: &str,
    reporter: &Instance,
    points: &[MetricPoint],
) -> Result<(), AppError> {
    if reporter.service != display_name(caller) {
        return Err(AppError::invalid(
            "reporter.service",
            format!(
                "must be the calling service's own name {:?}",
                display_name(caller)
            ),
        ));
    }
    if reporter.instance.is_empty() || reporter.instance.len() > MAX_TEXT {
        return Err(AppError::invalid(
            "reporter.instance",
            format!("must be 1 to {MAX_TEXT} characters"),
        ));
    }
    if points.len() > MAX_BATCH {
        return Err(AppError::invalid(
            "metrics",
            format!("at most {MAX_BATCH} metrics per call"),
        ));
    }
    for (index, point) in points.iter().enumerate() {
        let field = |name: &str| format!("metrics[{index}].{name}");
        if point.service != reporter.service {
            return Err(AppError::invalid(
                field("service"),
                "must be the reporter's service",
            ));
        }
        if point.name.is_empty() || point.name.len() > MAX_TEXT {
            return Err(AppError::invalid(
                field("name"),
                format!("must be 1 to {MAX_TEXT} characters"),
            ));
        }
        if !point.value.is_finite() {
            return Err(AppError::invalid(field("value"), "must be a finite number"));
        }
        if point.labels.len() > MAX_LABELS
            || point
                .labels
                .iter()
                .any(|(key, value)| key.len() > MAX_TEXT || value.len() > MAX_TEXT)
        {
            return Err(AppError::invalid(
                field("labels"),
                format!("at most {MAX_LABELS} labels of at most {MAX_TEXT} characters"),
            ));
        }
        if point.window_end <= point.window_start {
            return Err(AppError::invalid(
                field("window_end"),
                "must be after window_start",
            ));
        }
    }
    Ok(())
}

/// Which metrics ListSystemMetrics returns: windows starting in `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricFilter {
    pub service: Option<String>,
    pub name: Option<String>,
    pub method: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl MetricFilter {
    /// The filter of a request: empty texts mean all, a missing start the last hour, a missing
    /// end now.
    pub fn new(
        service: &str,
        name: &str,
        method: &str,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Self, AppError> {
        let end = end.unwrap_or(now);
        let start = start.unwrap_or(end - DEFAULT_LOOKBACK);
        if start >= end {
            return Err(AppError::invalid("end_time", "must be after start_time"));
        }
        let given = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        Ok(Self {
            service: given(service),
            name: given(name),
            method: given(method),
            start,
            end,
        })
    }

    /// Page tokens belong to one filter.
    pub fn query_key(&self) -> QueryKey {
        let start = self.start.timestamp_millis().to_string();
        let end = self.end.timestamp_millis().to_string();
        QueryKey::of(&[
            "ListSystemMetrics",
            self.service.as_deref().unwrap_or(""),
            self.name.as_deref().unwrap_or(""),
            self.method.as_deref().unwrap_or(""),
            &start,
            &end,
        ])
    }
}

/// Whether a service or dependency serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    Serving,
    NotServing,
    /// It did not answer within its deadline, or could not be asked.
    Unknown,
}

/// A dependency as one service's probe found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    pub name: String,
    pub reachable: bool,
    pub latency_ms: f64,
    pub detail: String,
}

/// What a service's status probe answered.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeAnswer {
    pub instance: Instance,
    pub serving: bool,
    pub dependencies: Vec<Dependency>,
}

/// The status of one service: its probe's outcome and its replicas.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceHealth {
    pub name: String,
    pub state: Serving,
    pub latency_ms: f64,
    pub detail: String,
    pub answer: Option<ProbeAnswer>,
    pub replicas: Vec<Replica>,
    pub checked_at: DateTime<Utc>,
}

/// How a probe of a service ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeOutcome {
    Answered(ProbeAnswer),
    /// No answer within the deadline: the service may be hung, so its state is unknown.
    TimedOut,
    /// It answered with an error, or could not be reached.
    Failed(String),
}

/// NotifyAPI's queue and delivery figures, as it measures them.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryHealth {
    pub queue_depth: i64,
    pub high_priority_queue_depth: i64,
    pub oldest_pending_age_seconds: i64,
    pub send_rate_per_minute: f64,
    pub failure_rate_per_minute: f64,
    pub failure_ratio_last_hour: f64,
    pub sent_last_hour: i64,
    pub failed_last_hour: i64,
    pub email_server_reachable: bool,
    pub email_server_checked_at: Option<DateTime<Utc>>,
    pub last_sent_at: Option<DateTime<Utc>>,
    pub measured_at: Option<DateTime<Utc>>,
    pub workers_alive: i32,
    pub priority_workers_alive: i32,
}

/// The whole mesh at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemHealth {
    pub overall: Serving,
    pub services: Vec<ServiceHealth>,
    /// `None` when NotifyAPI did not answer in time.
    pub delivery: Option<DeliveryHealth>,
    pub checked_at: DateTime<Utc>,
}

/// The state a probe outcome means: SERVING needs the service serving and every dependency
/// reachable; a hung service is UNKNOWN, not NOT_SERVING, because it may still be working.
pub fn service_state(outcome: &ProbeOutcome) -> (Serving, String) {
    match outcome {
        ProbeOutcome::Answered(answer) => {
            let down: Vec<&str> = answer
                .dependencies
                .iter()
                .filter(|dependency| !dependency.reachable)
                .map(|dependency| dependency.name.as_str())
                .collect();
            if !answer.serving {
                (
                    Serving::NotServing,
                    "not serving yet, or stopping".to_owned(),
                )
            } else if down.is_empty() {
                (Serving::Serving, String::new())
            } else {
                (
                    Serving::NotServing,
                    format!("unreachable: {}", down.join(", ")),
                )
            }
        }
        ProbeOutcome::TimedOut => (Serving::Unknown, "no answer within the deadline".to_owned()),
        ProbeOutcome::Failed(reason) => (Serving::NotServing, reason.clone()),
    }
}

/// SERVING only if every service is.
pub fn overall_state(services: &[ServiceHealth]) -> Serving {
    if services
        .iter()
        .all(|service| service.state == Serving::Serving)
    {
        Serving::Serving
    } else if services
        .iter()
        .any(|service| service.state == Serving::NotServing)
    {
        Serving::NotServing
    } else {
        Serving::Unknown
    }
}

/// The replicas to show for `service`: those seen since `since`, and the one that just answered
/// the probe (it may not have reported a window yet).
pub fn replicas_of(
    service: &str,
    seen: &[Replica],
    answered: Option<&ProbeAnswer>,
    now: DateTime<Utc>,
) -> Vec<Replica> {
    let mut replicas: Vec<Replica> = seen
        .iter()
        .filter(|replica| replica.instance.service == service)
        .cloned()
        .collect();
    if let Some(answer) = answered {
        match replicas
            .iter_mut()
            .find(|replica| replica.instance.instance == answer.instance.instance)
        {
            Some(replica) => replica.last_seen_at = now,
            None => replicas.push(Replica {
                instance: answer.instance.clone(),
                last_seen_at: now,
            }),
        }
    }
    replicas.sort_by(|a, b| a.instance.instance.cmp(&b.instance.instance));
    replicas
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(service: &str, name: &str) -> Instance {
        Instance {
            service: service.to_owned(),
            instance: name.to_owned(),
            version: "0.1.0".to_owned(),
            started_at: None,
        }
    }

    fn point(service: &str) -> MetricPoint {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        MetricPoint {
            service: service.to_owned(),
            name: "grpc.requests".to_owned(),
            value: 3.0,
            unit: "count".to_owned(),
            labels: BTreeMap::from([("method".to_owned(), "/a.B/C".to_owned())]),
            window_start: start,
            window_end: start + Duration::seconds(60),
        }
    }

    #[test]
    fn a_process_reports_only_its_own_figures() {
        let booking = instance("booking-api", "pod-1");
        assert!(check_batch("booking", &booking, &[point("booking-api")]).is_ok());
        assert!(check_batch("agency", &booking, &[point("booking-api")]).is_err());
        assert!(check_batch("booking", &booking, &[point("agency-api")]).is_err());
        let mut backwards = point("booking-api");
        backwards.window_end = backwards.window_start;
        assert!(check_batch("booking", &booking, &[backwards]).is_err());
        assert!(check_batch("gateway", &instance("gateway", "g"), &[]).is_ok());
    }

    #[test]
    fn keys_sort_by_window_then_service_then_name() {
        let early = point("booking-api");
        let mut late = point("agency-api");
        late.window_start += Duration::seconds(60);
        assert!(early.key() < late.key());
        let mut other_service = point("agency-api");
        other_service.name = "grpc.zzz".to_owned();
        assert!(other_service.key() < early.key());
    }

    #[test]
    fn a_hung_service_is_unknown_and_a_dead_dependency_is_not_serving() {
        assert_eq!(service_state(&ProbeOutcome::TimedOut).0, Serving::Unknown);
        let answer = ProbeAnswer {
            instance: instance("booking-api", "pod-1"),
            serving: true,
            dependencies: vec![Dependency {
                name: "cache-db".to_owned(),
                reachable: false,
                latency_ms: 1.0,
                detail: String::new(),
            }],
        };
        let (state, detail) = service_state(&ProbeOutcome::Answered(answer));
        assert_eq!(state, Serving::NotServing);
        assert!(detail.contains("cache-db"), "{detail}");
    }

    #[test]
    fn the_probed_replica_is_listed_once() {
        let now = Utc::now();
        let seen = vec![Replica {
            instance: instance("booking-api", "pod-1"),
            last_seen_at: now - Duration::seconds(30),
        }];
        let answer = ProbeAnswer {
            instance: instance("booking-api", "pod-2"),
            serving: true,
            dependencies: Vec::new(),
        };
        let replicas = replicas_of("booking-api", &seen, Some(&answer), now);
        let names: Vec<&str> = replicas
            .iter()
            .map(|r| r.instance.instance.as_str())
            .collect();
        assert_eq!(names, ["pod-1", "pod-2"]);
        assert!(replicas_of("agency-api", &seen, None, now).is_empty());
    }
}
