//! The change-log relay: OperationsDB's change log (consumer `notify-relay`) to published
//! events, at least once. A row is marked handled only after its event is stored, and an
//! event is stored once per change-log event id, so a relay killed mid-way re-reads the row
//! and publishing it again changes nothing.

use std::collections::BTreeMap;

use astro_proto::astrobookings::{agency::v1::Launch, notify::v1::NotificationEventType};
use astro_shared::{
    AppError,
    changes::{Change, ChangeHandler, trace_id_of},
    telemetry,
};
use mongodb::bson::DateTime;
use serde_json::Value;

use crate::{
    State, events,
    store::{
        PublishedEvent,
        notifications::{OriginDocument, SubjectDocument, event_type_name},
    },
    templates::display_money,
};

pub const CONSUMER: &str = "notify-relay";

/// The change-log events that notify someone.
pub const EVENT_TYPES: &[&str] = &[
    "LAUNCH_SCHEDULED",
    "LAUNCH_DELAYED",
    "LAUNCH_ABORTED",
    "LAUNCH_SUCCESSFUL",
    "LAUNCH_FAILED",
    "BOOKING_CONFIRMED",
    "BOOKING_CANCELLED",
];

pub struct Relay {
    pub state: State,
}

impl ChangeHandler for Relay {
    async fn handle(&self, change: &Change) -> Result<(), AppError> {
        let Some(event_type) = event_type_of(change) else {
            return Ok(());
        };
        let age = (chrono::Utc::now() - change.recorded_at)
            .to_std()
            .unwrap_or_default();
        if age > self.state.settings.max_event_age {
            tracing::warn!(
                change_id = change.id,
                event_type = %change.event_type,
                age_s = age.as_secs(),
                "change too old to notify; skipped"
            );
            return Ok(());
        }
        let launch_id = match event_type {
            NotificationEventType::BookingConfirmed | NotificationEventType::BookingCancelled => {
                text(&change.payload, "launch_id")
            }
            _ => change.entity_id.clone(),
        };
        // Names for the e-mail (rocket, agency) live with the launch; its dates and status
        // are taken from the change itself, as they were at the time of the event.
        let launch = self.state.directory.launch(&launch_id).await?;
        let event = event_of(change, event_type, &launch_id, launch.as_ref(), &self.state);
        events::publish(&self.state, event).await?;
        Ok(())
    }
}

/// Which notification a change is, if any. Only cancellations of paid bookings are told:
/// a declined payment or an expired hold was answered to the traveler when it happened.
fn event_type_of(change: &Change) -> Option<NotificationEventType> {
    use NotificationEventType as E;
    Some(match change.event_type.as_str() {
        "LAUNCH_SCHEDULED" => E::LaunchScheduled,
        "LAUNCH_DELAYED" => E::LaunchDelayed,
        "LAUNCH_ABORTED" => E::LaunchAborted,
        "LAUNCH_SUCCESSFUL" => E::LaunchSuccessful,
        "LAUNCH_FAILED" => E::LaunchFailed,
        "BOOKING_CONFIRMED" => E::BookingConfirmed,
        "BOOKING_CANCELLED"
            if matches!(
                text(&change.payload, "cancellation_reason").as_str(),
                "TRAVELER_REQUEST" | "LAUNCH_ABORTED"
            ) =>
        {
            E::BookingCancelled
        }
        _ => return None,
    })
}

fn event_of(
    change: &Change,
    event_type: NotificationEventType,
    launch_id: &str,
    launch: Option<&Launch>,
    state: &State,
) -> PublishedEvent {
    let payload = &change.payload;
    let mut data = BTreeMap::new();
    let mut put = |key: &str, value: String| {
        if !value.is_empty() {
            data.insert(key.to_owned(), value);
        }
    };
    if let Some(launch) = launch {
        put("rocket_name", launch.rocket_name.clone());
        put("agency_name", launch.agency_name.clone());
        put("destination", launch.destination.clone());
        put("spaceport", launch.spaceport.clone());
        put("slug", launch.slug.clone());
        put(
            "scheduled_at",
            launch
                .scheduled_at
                .as_ref()
                .and_then(|time| chrono::DateTime::from_timestamp(time.seconds, 0))
                .map(|time| time.to_rfc3339())
                .unwrap_or_default(),
        );
        if let Some(price) = &launch.price_per_seat {
            put(
                "price_per_seat",
                display_money(price.amount_minor, &price.currency),
            );
        }
    }
    let agency_id = text(payload, "agency_id");
    let mut subject = SubjectDocument {
        launch_id: launch_id.to_owned(),
        agency_id: if agency_id.is_empty() {
            launch
                .map(|launch| launch.agency_id.clone())
                .unwrap_or_default()
        } else {
            agency_id
        },
        ..SubjectDocument::default()
    };
    use NotificationEventType as E;
    match event_type {
        E::LaunchScheduled => {
            // The change carries the launch as it was scheduled.
            for key in ["slug", "destination", "spaceport", "scheduled_at"] {
                put(key, text(payload, key));
            }
            let slug = text(payload, "slug");
            if !slug.is_empty() {
                put("slug_url", state.links.launch(&slug));
            }
        }
        E::LaunchDelayed => {
            put("reason", text(payload, "reason"));
            put(
                "previous_scheduled_at",
                text(payload, "previous_scheduled_at"),
            );
            put("new_scheduled_at", text(payload, "scheduled_at"));
            put("scheduled_at", text(payload, "scheduled_at"));
        }
        E::LaunchAborted | E::LaunchFailed => put("reason", text(payload, "reason")),
        E::BookingConfirmed | E::BookingCancelled => {
            subject.booking_id = change.entity_id.clone();
            subject.user_id = text(payload, "traveler_id");
            let currency = text(payload, "currency");
            let total = integer(payload, "total_minor");
            put("booking_id", change.entity_id.clone());
            put("seats", integer(payload, "seats").to_string());
            put("total_amount", display_money(total, &currency));
            if event_type == E::BookingCancelled {
                let refund = integer(payload, "refund_minor");
                put("refund_amount", display_money(refund, &currency));
                put(
                    "refund_percent",
                    if total > 0 {
                        (refund.saturating_mul(100) / total).to_string()
                    } else {
                        "0".to_owned()
                    },
                );
                put(
                    "seats_released",
                    payload
                        .get("seats_released")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                        .to_string(),
                );
            }
        }
        _ => {}
    }
    let trace_context = telemetry::current_traceparent();
    PublishedEvent {
        event_id: change.event_id.to_string(),
        event_type: event_type_name(event_type).to_owned(),
        occurred_at: DateTime::from_millis(change.recorded_at.timestamp_millis()),
        subject,
        data,
        priority: String::new(),
        trace_context: if trace_context.is_empty() {
            change.origin_traceparent.clone().unwrap_or_default()
        } else {
            trace_context
        },
        origin: OriginDocument {
            service: change.origin_service.clone(),
            user_id: change.origin_user_id.clone().unwrap_or_default(),
            trace_id: change
                .origin_traceparent
                .as_deref()
                .and_then(trace_id_of)
                .unwrap_or_default()
                .to_owned(),
            time: Some(DateTime::from_millis(change.recorded_at.timestamp_millis())),
        },
    }
}

/// A payload field as text: strings as they are, numbers written out, absent as empty.
fn text(payload: &Value, key: &str) -> String {
    match payload.get(key) {
        Some(Value::String(value)) => value.clone(),
        Some(Value::Null) | None => String::new(),
        Some(value) => value.to_string(),
    }
}

fn integer(payload: &Value, key: &str) -> i64 {
    payload.get(key).and_then(Value::as_i64).unwrap_or(0)
}
