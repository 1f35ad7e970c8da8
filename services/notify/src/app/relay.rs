//! The change-log relay: OperationsDB's change log (consumer `notify-relay`) to published
//! events, at least once. A row is marked handled only after its event is stored, and an
//! event is stored once per change-log event id, so a relay killed mid-way re-reads the row
//! and publishing it again changes nothing.
//!
//! The relay builds each event's typed payload itself, from the change (as things were when
//! it happened) and the launch's names from AgencyAPI.

use std::time::Duration;

use astro_shared::{
    AppError,
    changes::{Change, ChangeHandler, trace_id_of},
    telemetry,
};
use serde_json::Value;

use super::Events;
use crate::{
    clients::Directory,
    domain::{
        Event, EventData, Origin, Subject,
        money::display_money,
        payload::{
            BookingCancelled, BookingConfirmed, InvoiceIssued, InvoiceOverdue, Launch,
            LaunchAborted, LaunchDelayed, LaunchDetails, LaunchFailed, LaunchScheduled,
            LaunchSuccessful,
        },
        templates::Links,
    },
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
    "INVOICE_ISSUED",
    "INVOICE_OVERDUE",
    "INVOICE_REMINDER",
];

pub struct Relay {
    pub events: Events,
    pub directory: Directory,
    pub links: Links,
    /// Older changes are not told (see `Settings::max_event_age`).
    pub max_event_age: Duration,
}

impl ChangeHandler for Relay {
    async fn handle(&self, change: &Change) -> Result<(), AppError> {
        let Some(told) = Told::of(change) else {
            return Ok(());
        };
        let age = (chrono::Utc::now() - change.recorded_at)
            .to_std()
            .unwrap_or_default();
        if age > self.max_event_age {
            tracing::warn!(
                change_id = change.id,
                event_type = %change.event_type,
                age_s = age.as_secs(),
                "change too old to notify; skipped"
            );
            return Ok(());
        }
        let launch_id = match told {
            Told::BookingConfirmed
            | Told::BookingCancelled
            | Told::InvoiceIssued
            | Told::InvoiceOverdue => text(&change.payload, "launch_id"),
            _ => change.entity_id.clone(),
        };
        // Names for the e-mail (rocket, agency) live with the launch; its dates and status
        // are taken from the change itself, as they were at the time of the event.
        let launch = self.directory.launch(&launch_id).await?;
        let event = event_of(change, told, &launch_id, launch.as_ref(), &self.links);
        self.events.publish(event).await?;
        Ok(())
    }
}

/// The changes that are told, as the notification each one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    LaunchScheduled,
    LaunchDelayed,
    LaunchAborted,
    LaunchSuccessful,
    LaunchFailed,
    BookingConfirmed,
    BookingCancelled,
    InvoiceIssued,
    /// The overdue notice and every later reminder: one e-mail each.
    InvoiceOverdue,
}

impl Told {
    /// Which notification a change is, if any. Only cancellations of paid bookings are told:
    /// a declined payment or an expired hold was answered to the traveler when it happened.
    fn of(change: &Change) -> Option<Self> {
        Some(match change.event_type.as_str() {
            "LAUNCH_SCHEDULED" => Self::LaunchScheduled,
            "LAUNCH_DELAYED" => Self::LaunchDelayed,
            "LAUNCH_ABORTED" => Self::LaunchAborted,
            "LAUNCH_SUCCESSFUL" => Self::LaunchSuccessful,
            "LAUNCH_FAILED" => Self::LaunchFailed,
            "BOOKING_CONFIRMED" => Self::BookingConfirmed,
            "INVOICE_ISSUED" => Self::InvoiceIssued,
            "INVOICE_OVERDUE" | "INVOICE_REMINDER" => Self::InvoiceOverdue,
            "BOOKING_CANCELLED"
                if matches!(
                    text(&change.payload, "cancellation_reason").as_str(),
                    "TRAVELER_REQUEST" | "LAUNCH_ABORTED"
                ) =>
            {
                Self::BookingCancelled
            }
            _ => return None,
        })
    }
}

fn event_of(
    change: &Change,
    told: Told,
    launch_id: &str,
    launch: Option<&Launch>,
    links: &Links,
) -> Event {
    let payload = &change.payload;
    let mut details = launch.map(LaunchDetails::of).unwrap_or_default();
    let agency_id = text(payload, "agency_id");
    let mut subject = Subject {
        launch_id: launch_id.to_owned(),
        agency_id: if agency_id.is_empty() {
            launch
                .map(|launch| launch.agency_id.clone())
                .unwrap_or_default()
        } else {
            agency_id
        },
        ..Subject::default()
    };
    let data = match told {
        Told::LaunchScheduled => {
            // The change carries the launch as it was scheduled.
            set(&mut details.slug, text(payload, "slug"));
            set(&mut details.destination, text(payload, "destination"));
            set(&mut details.spaceport, text(payload, "spaceport"));
            set(&mut details.scheduled_at, text(payload, "scheduled_at"));
            let slug = text(payload, "slug");
            EventData::LaunchScheduled(LaunchScheduled {
                slug_url: if slug.is_empty() {
                    String::new()
                } else {
                    links.launch(&slug)
                },
                launch: details,
            })
        }
        Told::LaunchDelayed => {
            set(&mut details.scheduled_at, text(payload, "scheduled_at"));
            EventData::LaunchDelayed(LaunchDelayed {
                launch: details,
                reason: text(payload, "reason"),
                previous_scheduled_at: text(payload, "previous_scheduled_at"),
                new_scheduled_at: text(payload, "scheduled_at"),
            })
        }
        Told::LaunchAborted => EventData::LaunchAborted(LaunchAborted {
            launch: details,
            reason: text(payload, "reason"),
        }),
        Told::LaunchFailed => EventData::LaunchFailed(LaunchFailed {
            launch: details,
            reason: text(payload, "reason"),
        }),
        Told::LaunchSuccessful => EventData::LaunchSuccessful(LaunchSuccessful { launch: details }),
        Told::InvoiceIssued => {
            subject.invoice_id = change.entity_id.clone();
            EventData::InvoiceIssued(InvoiceIssued {
                launch: details,
                invoice_number: text(payload, "invoice_number"),
                invoice_url: links.invoice(&change.entity_id),
                amount: display_money(integer(payload, "amount_minor"), &text(payload, "currency")),
                due_date: text(payload, "due_date"),
            })
        }
        Told::InvoiceOverdue => {
            subject.invoice_id = change.entity_id.clone();
            EventData::InvoiceOverdue(InvoiceOverdue {
                invoice_number: text(payload, "invoice_number"),
                invoice_url: links.invoice(&change.entity_id),
                amount_due: display_money(
                    integer(payload, "amount_due_minor"),
                    &text(payload, "currency"),
                ),
                due_date: text(payload, "due_date"),
                reminder_number: integer(payload, "reminder_number").to_string(),
            })
        }
        Told::BookingConfirmed | Told::BookingCancelled => {
            subject.booking_id = change.entity_id.clone();
            subject.user_id = text(payload, "traveler_id");
            let currency = text(payload, "currency");
            let total = integer(payload, "total_minor");
            let booking_id = change.entity_id.clone();
            let seats = integer(payload, "seats").to_string();
            let total_amount = display_money(total, &currency);
            if told == Told::BookingConfirmed {
                EventData::BookingConfirmed(BookingConfirmed {
                    launch: details,
                    booking_id,
                    seats,
                    total_amount,
                })
            } else {
                let refund = integer(payload, "refund_minor");
                EventData::BookingCancelled(BookingCancelled {
                    launch: details,
                    booking_id,
                    seats,
                    total_amount,
                    refund_amount: display_money(refund, &currency),
                    refund_percent: if total > 0 {
                        (refund.saturating_mul(100) / total).to_string()
                    } else {
                        "0".to_owned()
                    },
                    seats_released: payload
                        .get("seats_released")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                })
            }
        }
    };
    let trace_context = telemetry::current_traceparent();
    Event {
        event_id: change.event_id.to_string(),
        occurred_at: change.recorded_at,
        subject,
        data,
        priority: None,
        trace_context: if trace_context.is_empty() {
            change.origin_traceparent.clone().unwrap_or_default()
        } else {
            trace_context
        },
        origin: Origin {
            service: change.origin_service.clone(),
            user_id: change.origin_user_id.clone().unwrap_or_default(),
            trace_id: change
                .origin_traceparent
                .as_deref()
                .and_then(trace_id_of)
                .unwrap_or_default()
                .to_owned(),
            time: Some(change.recorded_at),
        },
    }
}

/// What the change says wins over what the launch says now, when it says anything.
fn set(field: &mut String, value: String) {
    if !value.is_empty() {
        *field = value;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn change(event_type: &str, payload: Value) -> Change {
        Change {
            id: 1,
            event_id: uuid::Uuid::now_v7(),
            entity: "booking".into(),
            entity_id: "0193aa11-2222-7333-8444-555566667777".into(),
            event_type: event_type.into(),
            payload,
            origin_service: "booking-api".into(),
            origin_user_id: None,
            origin_traceparent: None,
            recorded_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn only_paid_cancellations_are_told() {
        let told = |reason: &str| {
            Told::of(&change(
                "BOOKING_CANCELLED",
                serde_json::json!({ "cancellation_reason": reason }),
            ))
        };
        assert_eq!(told("TRAVELER_REQUEST"), Some(Told::BookingCancelled));
        assert_eq!(told("LAUNCH_ABORTED"), Some(Told::BookingCancelled));
        assert_eq!(told("PAYMENT_DECLINED"), None);
        assert_eq!(Told::of(&change("ROCKET_CREATED", Value::Null)), None);
    }

    #[test]
    fn a_cancellation_carries_its_amounts_and_the_launch_names() {
        let cancelled = change(
            "BOOKING_CANCELLED",
            serde_json::json!({
                "cancellation_reason": "TRAVELER_REQUEST",
                "launch_id": "l1", "traveler_id": "t1", "currency": "USD",
                "total_minor": 500_000, "refund_minor": 450_000, "seats": 2,
                "seats_released": true,
            }),
        );
        let launch = Launch {
            agency_id: "a1".into(),
            rocket_name: "Falcon X".into(),
            destination: "Moon".into(),
            ..Launch::default()
        };
        let event = event_of(
            &cancelled,
            Told::BookingCancelled,
            "l1",
            Some(&launch),
            &Links::new("https://astrobookings.example"),
        );
        assert_eq!(event.subject.agency_id, "a1");
        assert_eq!(event.subject.user_id, "t1");
        assert_eq!(event.subject.booking_id, cancelled.entity_id);
        let EventData::BookingCancelled(data) = event.data else {
            panic!("a cancellation");
        };
        assert_eq!(data.total_amount, "USD 5,000.00");
        assert_eq!(data.refund_amount, "USD 4,500.00");
        assert_eq!(data.refund_percent, "90");
        assert_eq!(data.seats, "2");
        assert!(data.seats_released);
        assert_eq!(data.launch.rocket_name, "Falcon X");
    }

    #[test]
    fn a_scheduled_launch_links_its_slug_as_the_change_says() {
        let scheduled = change(
            "LAUNCH_SCHEDULED",
            serde_json::json!({ "slug": "falcon-x-moon", "destination": "Moon" }),
        );
        let launch = Launch {
            destination: "Mars".into(),
            spaceport: "Kourou".into(),
            ..Launch::default()
        };
        let event = event_of(
            &scheduled,
            Told::LaunchScheduled,
            "l1",
            Some(&launch),
            &Links::new("https://astrobookings.example/"),
        );
        let EventData::LaunchScheduled(data) = event.data else {
            panic!("a scheduled launch");
        };
        assert_eq!(
            data.slug_url,
            "https://astrobookings.example/launches/falcon-x-moon"
        );
        assert_eq!(data.launch.destination, "Moon");
        assert_eq!(data.launch.spaceport, "Kourou");
    }
}
