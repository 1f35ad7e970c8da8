//! Typed event payloads: one struct per event type holding the values its e-mail shows, so a
//! template reads `cancelled.refund_amount`, and a misspelt name does not compile instead of
//! rendering empty.
//!
//! On the wire (and in SystemDB) a payload is still the contract's `map<string, string>`; the
//! one list of keys per type (`EventData::keys`) reads and writes it both ways:
//! - [`EventData::from_wire`], at intake, is strict: a required key missing (or blank) is
//!   INVALID_ARGUMENT naming `data.<key>`, and so is a key the type does not have. Refusing
//!   unknown keys is the safe side: a publisher's misspelt key would otherwise be dropped
//!   silently and its e-mail sent with a hole; every key any publisher sends today (SystemAPI's
//!   `role` and `confirmation_token`, the tests' keys) is a key of its type.
//! - [`EventData::from_stored`] reads what SystemDB holds, leniently: events and notifications
//!   stored before payloads were typed may lack keys or carry others, and must still resolve
//!   and list.
//!
//! Required keys are those the contract lists per event type (notify.proto), except
//! USER_REGISTERED's `confirmation_url`: SystemAPI sends a `confirmation_token` instead, or
//! neither for an account an ADMIN created (its address is confirmed already). The launch
//! details the change-log relay adds (rocket, agency, destination, spaceport, time, slug,
//! price) are optional wherever a template shows them.

use std::collections::BTreeMap;

use astro_shared::AppError;
use chrono::{DateTime, Utc};

use super::{
    event::{EventType, Origin, Priority, Subject},
    money::{Money, display_money},
};

/// At most this many entries in a wire payload.
const MAX_ENTRIES: usize = 32;
/// Keys are 1 to this many characters.
const MAX_KEY_CHARS: usize = 100;
/// Values are at most this many characters.
const MAX_VALUE_CHARS: usize = 2_000;

/// An event's payload; its variant is the event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData {
    UserRegistered(UserRegistered),
    LaunchScheduled(LaunchScheduled),
    LaunchDelayed(LaunchDelayed),
    LaunchAborted(LaunchAborted),
    LaunchSuccessful(LaunchSuccessful),
    LaunchFailed(LaunchFailed),
    BookingConfirmed(BookingConfirmed),
    BookingCancelled(BookingCancelled),
    InvoiceIssued(InvoiceIssued),
    InvoiceOverdue(InvoiceOverdue),
    SyncJobFailed(SyncJobFailed),
}

/// A published event: what happened (its typed payload says which event it is), to whom it
/// relates, and the trace it belongs to. NotifyAPI resolves its recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The publisher's event id (a UUID): the idempotency key.
    pub event_id: String,
    pub occurred_at: DateTime<Utc>,
    pub subject: Subject,
    pub data: EventData,
    /// A queue override; `None`: the event type's default.
    pub priority: Option<Priority>,
    /// W3C `traceparent` of the causing request.
    pub trace_context: String,
    pub origin: Origin,
}

impl Event {
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }
}

/// A launch as the e-mails name it; every value optional (empty: not known), filled by the
/// change-log relay from AgencyAPI and the change itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchDetails {
    pub rocket_name: String,
    pub agency_name: String,
    pub destination: String,
    pub spaceport: String,
    /// The SEO slug of the launch's public page.
    pub slug: String,
    /// RFC 3339.
    pub scheduled_at: String,
    /// Formatted, e.g. `USD 2,500.00`.
    pub price_per_seat: String,
}

/// A user registered. `confirmation_url` or `confirmation_token` (from which the link is
/// built) when the address is still to be confirmed; neither when it is confirmed already.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRegistered {
    pub confirmation_url: String,
    pub confirmation_token: String,
    /// The account's role, as SystemAPI sends it (it also picks the recipient's role).
    pub role: String,
}

/// A launch was scheduled (the VIP early notice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchScheduled {
    pub launch: LaunchDetails,
    /// Required: the public page of the launch.
    pub slug_url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchDelayed {
    pub launch: LaunchDetails,
    pub reason: String,
    /// RFC 3339.
    pub previous_scheduled_at: String,
    /// RFC 3339.
    pub new_scheduled_at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchAborted {
    pub launch: LaunchDetails,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchSuccessful {
    pub launch: LaunchDetails,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchFailed {
    pub launch: LaunchDetails,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookingConfirmed {
    pub launch: LaunchDetails,
    /// Optional: the reference shown in the e-mail.
    pub booking_id: String,
    /// Required: the number of seats, as digits.
    pub seats: String,
    /// Required: formatted.
    pub total_amount: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookingCancelled {
    pub launch: LaunchDetails,
    /// Optional, as for a confirmation.
    pub booking_id: String,
    /// Optional: the number of seats, as digits.
    pub seats: String,
    /// Optional: formatted.
    pub total_amount: String,
    /// Required: formatted.
    pub refund_amount: String,
    /// Required: the share of the total refunded, in whole percent.
    pub refund_percent: String,
    /// Required on the wire as `true` or `false`.
    pub seats_released: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceIssued {
    pub launch: LaunchDetails,
    pub invoice_number: String,
    /// Where the agency reads the invoice; may be empty.
    pub invoice_url: String,
    /// Formatted.
    pub amount: String,
    pub due_date: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceOverdue {
    pub invoice_number: String,
    /// Where the agency reads (and pays) the invoice; may be empty.
    pub invoice_url: String,
    /// Formatted.
    pub amount_due: String,
    pub due_date: String,
    pub reminder_number: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncJobFailed {
    pub data_set: String,
    pub failure_message: String,
}

/// A launch as AgencyAPI describes it: where a payload's [`LaunchDetails`] come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    pub agency_id: String,
    pub rocket_name: String,
    pub agency_name: String,
    pub destination: String,
    pub spaceport: String,
    pub slug: String,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub price_per_seat: Option<Money>,
}

impl LaunchDetails {
    /// The details of `launch`, written as the e-mails show them.
    pub fn of(launch: &Launch) -> Self {
        Self {
            rocket_name: launch.rocket_name.clone(),
            agency_name: launch.agency_name.clone(),
            destination: launch.destination.clone(),
            spaceport: launch.spaceport.clone(),
            slug: launch.slug.clone(),
            scheduled_at: launch
                .scheduled_at
                .map(|time| time.to_rfc3339())
                .unwrap_or_default(),
            price_per_seat: launch
                .price_per_seat
                .as_ref()
                .map(|price| display_money(price.amount_minor, &price.currency))
                .unwrap_or_default(),
        }
    }

    fn keys(&mut self) -> [Key<'_>; 7] {
        [
            optional("rocket_name", &mut self.rocket_name),
            optional("agency_name", &mut self.agency_name),
            optional("destination", &mut self.destination),
            optional("spaceport", &mut self.spaceport),
            optional("slug", &mut self.slug),
            optional("scheduled_at", &mut self.scheduled_at),
            optional("price_per_seat", &mut self.price_per_seat),
        ]
    }
}

/// One wire key of a payload: its name, whether the wire must carry it, and its field.
struct Key<'a> {
    name: &'static str,
    required: bool,
    slot: Slot<'a>,
}

enum Slot<'a> {
    Text(&'a mut String),
    /// `true` or `false` on the wire.
    Flag(&'a mut bool),
}

fn required<'a>(name: &'static str, value: &'a mut String) -> Key<'a> {
    Key {
        name,
        required: true,
        slot: Slot::Text(value),
    }
}

fn optional<'a>(name: &'static str, value: &'a mut String) -> Key<'a> {
    Key {
        name,
        required: false,
        slot: Slot::Text(value),
    }
}

fn required_flag<'a>(name: &'static str, value: &'a mut bool) -> Key<'a> {
    Key {
        name,
        required: true,
        slot: Slot::Flag(value),
    }
}

impl EventData {
    /// The payload of `event_type` with nothing set.
    pub fn empty(event_type: EventType) -> Self {
        use EventType as E;
        match event_type {
            E::UserRegistered => Self::UserRegistered(UserRegistered::default()),
            E::LaunchScheduled => Self::LaunchScheduled(LaunchScheduled::default()),
            E::LaunchDelayed => Self::LaunchDelayed(LaunchDelayed::default()),
            E::LaunchAborted => Self::LaunchAborted(LaunchAborted::default()),
            E::LaunchSuccessful => Self::LaunchSuccessful(LaunchSuccessful::default()),
            E::LaunchFailed => Self::LaunchFailed(LaunchFailed::default()),
            E::BookingConfirmed => Self::BookingConfirmed(BookingConfirmed::default()),
            E::BookingCancelled => Self::BookingCancelled(BookingCancelled::default()),
            E::InvoiceIssued => Self::InvoiceIssued(InvoiceIssued::default()),
            E::InvoiceOverdue => Self::InvoiceOverdue(InvoiceOverdue::default()),
            E::SyncJobFailed => Self::SyncJobFailed(SyncJobFailed::default()),
        }
    }

    pub fn event_type(&self) -> EventType {
        use EventType as E;
        match self {
            Self::UserRegistered(_) => E::UserRegistered,
            Self::LaunchScheduled(_) => E::LaunchScheduled,
            Self::LaunchDelayed(_) => E::LaunchDelayed,
            Self::LaunchAborted(_) => E::LaunchAborted,
            Self::LaunchSuccessful(_) => E::LaunchSuccessful,
            Self::LaunchFailed(_) => E::LaunchFailed,
            Self::BookingConfirmed(_) => E::BookingConfirmed,
            Self::BookingCancelled(_) => E::BookingCancelled,
            Self::InvoiceIssued(_) => E::InvoiceIssued,
            Self::InvoiceOverdue(_) => E::InvoiceOverdue,
            Self::SyncJobFailed(_) => E::SyncJobFailed,
        }
    }

    /// The launch the event is about, if its type names one.
    pub fn launch(&self) -> Option<&LaunchDetails> {
        match self {
            Self::LaunchScheduled(data) => Some(&data.launch),
            Self::LaunchDelayed(data) => Some(&data.launch),
            Self::LaunchAborted(data) => Some(&data.launch),
            Self::LaunchSuccessful(data) => Some(&data.launch),
            Self::LaunchFailed(data) => Some(&data.launch),
            Self::BookingConfirmed(data) => Some(&data.launch),
            Self::BookingCancelled(data) => Some(&data.launch),
            Self::InvoiceIssued(data) => Some(&data.launch),
            Self::UserRegistered(_) | Self::InvoiceOverdue(_) | Self::SyncJobFailed(_) => None,
        }
    }

    /// The one list of this type's wire keys, each with its field.
    fn keys(&mut self) -> Vec<Key<'_>> {
        let (own, launch) = match self {
            Self::UserRegistered(data) => (
                vec![
                    optional("confirmation_url", &mut data.confirmation_url),
                    optional("confirmation_token", &mut data.confirmation_token),
                    optional("role", &mut data.role),
                ],
                None,
            ),
            Self::LaunchScheduled(data) => (
                vec![required("slug_url", &mut data.slug_url)],
                Some(&mut data.launch),
            ),
            Self::LaunchDelayed(data) => (
                vec![
                    required("reason", &mut data.reason),
                    required("previous_scheduled_at", &mut data.previous_scheduled_at),
                    required("new_scheduled_at", &mut data.new_scheduled_at),
                ],
                Some(&mut data.launch),
            ),
            Self::LaunchAborted(data) => (
                vec![required("reason", &mut data.reason)],
                Some(&mut data.launch),
            ),
            Self::LaunchSuccessful(data) => (Vec::new(), Some(&mut data.launch)),
            Self::LaunchFailed(data) => (
                vec![required("reason", &mut data.reason)],
                Some(&mut data.launch),
            ),
            Self::BookingConfirmed(data) => (
                vec![
                    optional("booking_id", &mut data.booking_id),
                    required("seats", &mut data.seats),
                    required("total_amount", &mut data.total_amount),
                ],
                Some(&mut data.launch),
            ),
            Self::BookingCancelled(data) => (
                vec![
                    optional("booking_id", &mut data.booking_id),
                    optional("seats", &mut data.seats),
                    optional("total_amount", &mut data.total_amount),
                    required("refund_amount", &mut data.refund_amount),
                    required("refund_percent", &mut data.refund_percent),
                    required_flag("seats_released", &mut data.seats_released),
                ],
                Some(&mut data.launch),
            ),
            Self::InvoiceIssued(data) => (
                vec![
                    required("invoice_number", &mut data.invoice_number),
                    optional("invoice_url", &mut data.invoice_url),
                    required("amount", &mut data.amount),
                    required("due_date", &mut data.due_date),
                ],
                Some(&mut data.launch),
            ),
            Self::InvoiceOverdue(data) => (
                vec![
                    required("invoice_number", &mut data.invoice_number),
                    optional("invoice_url", &mut data.invoice_url),
                    required("amount_due", &mut data.amount_due),
                    required("due_date", &mut data.due_date),
                    required("reminder_number", &mut data.reminder_number),
                ],
                None,
            ),
            Self::SyncJobFailed(data) => (
                vec![
                    required("data_set", &mut data.data_set),
                    required("failure_message", &mut data.failure_message),
                ],
                None,
            ),
        };
        let mut keys = own;
        if let Some(launch) = launch {
            keys.extend(launch.keys());
        }
        keys
    }

    /// The payload of `event_type` from a request's `data` map, strictly (see the module).
    pub fn from_wire(
        event_type: EventType,
        data: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, AppError> {
        let mut entries = BTreeMap::new();
        for (key, value) in data {
            if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
                return Err(AppError::invalid(
                    "data",
                    "keys must be 1 to 100 characters",
                ));
            }
            if value.chars().count() > MAX_VALUE_CHARS {
                return Err(AppError::invalid(
                    format!("data.{key}"),
                    "must be at most 2,000 characters",
                ));
            }
            entries.insert(key, value);
            if entries.len() > MAX_ENTRIES {
                return Err(AppError::invalid("data", "must hold at most 32 entries"));
            }
        }
        let mut payload = Self::empty(event_type);
        let mut keys = payload.keys();
        if let Some(unknown) = entries
            .keys()
            .find(|key| !keys.iter().any(|known| known.name == key.as_str()))
        {
            let names: Vec<&str> = keys.iter().map(|key| key.name).collect();
            return Err(AppError::invalid(
                format!("data.{unknown}"),
                if names.is_empty() {
                    format!("is not a data key of {}: it has none", event_type.name())
                } else {
                    format!(
                        "is not a data key of {} (its keys: {})",
                        event_type.name(),
                        names.join(", ")
                    )
                },
            ));
        }
        for key in &mut keys {
            let value = entries.remove(key.name).unwrap_or_default();
            if key.required && value.trim().is_empty() {
                return Err(AppError::invalid(
                    format!("data.{}", key.name),
                    format!("is required for {}", event_type.name()),
                ));
            }
            match &mut key.slot {
                Slot::Text(field) => **field = value,
                Slot::Flag(flag) => {
                    **flag = match value.as_str() {
                        "true" => true,
                        "false" | "" => false,
                        _ => {
                            return Err(AppError::invalid(
                                format!("data.{}", key.name),
                                "must be true or false",
                            ));
                        }
                    }
                }
            }
        }
        drop(keys);
        Ok(payload)
    }

    /// The payload of `event_type` from a stored map: keys it lacks stay empty, keys it does
    /// not know are ignored (see the module).
    pub fn from_stored(event_type: EventType, mut data: BTreeMap<String, String>) -> Self {
        let mut payload = Self::empty(event_type);
        for key in payload.keys() {
            let Some(value) = data.remove(key.name) else {
                continue;
            };
            match key.slot {
                Slot::Text(field) => *field = value,
                Slot::Flag(flag) => *flag = value == "true",
            }
        }
        payload
    }

    /// The payload as the contract's map: empty values are left out, flags always written.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut copy = self.clone();
        copy.keys()
            .into_iter()
            .filter_map(|key| {
                let value = match key.slot {
                    Slot::Text(field) => std::mem::take(field),
                    Slot::Flag(flag) => flag.to_string(),
                };
                (!value.is_empty()).then(|| (key.name.to_owned(), value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn refused(event_type: EventType, pairs: &[(&str, &str)]) -> (String, String) {
        match EventData::from_wire(event_type, wire(pairs)) {
            Err(AppError::InvalidArgument { field, message }) => (field, message),
            other => panic!("not INVALID_ARGUMENT: {other:?}"),
        }
    }

    #[test]
    fn what_publishers_send_today_is_accepted() {
        // SystemAPI's USER_REGISTERED, with and without a confirmation token, and its repeat
        // without data; the tests' SYNC_JOB_FAILED and INVOICE_ISSUED.
        for (event_type, pairs) in [
            (
                EventType::UserRegistered,
                &[("role", "TRAVELER"), ("confirmation_token", "abc")][..],
            ),
            (EventType::UserRegistered, &[("role", "FINANCE")][..]),
            (EventType::UserRegistered, &[][..]),
            (
                EventType::SyncJobFailed,
                &[("data_set", "catalogue"), ("failure_message", "timeout")][..],
            ),
            (
                EventType::InvoiceIssued,
                &[
                    ("invoice_number", "AB-2026-000042"),
                    ("amount", "USD 1,000.00"),
                    ("due_date", "2026-12-21"),
                ][..],
            ),
        ] {
            let payload = EventData::from_wire(event_type, wire(pairs)).expect("accepted");
            assert_eq!(payload.event_type(), event_type);
            assert_eq!(
                payload.to_map(),
                wire(pairs).into_iter().collect::<BTreeMap<_, _>>()
            );
        }
        let Ok(EventData::SyncJobFailed(failed)) = EventData::from_wire(
            EventType::SyncJobFailed,
            wire(&[("data_set", "catalogue"), ("failure_message", "timeout")]),
        ) else {
            panic!("a sync job failure");
        };
        assert_eq!(failed.data_set, "catalogue");
        assert_eq!(failed.failure_message, "timeout");
    }

    #[test]
    fn a_missing_or_blank_required_key_is_named() {
        assert_eq!(
            refused(EventType::SyncJobFailed, &[("data_set", "catalogue")]),
            (
                "data.failure_message".to_owned(),
                "is required for SYNC_JOB_FAILED".to_owned()
            )
        );
        assert_eq!(
            refused(
                EventType::LaunchAborted,
                &[("reason", "  "), ("rocket_name", "Falcon X")]
            )
            .0,
            "data.reason"
        );
    }

    #[test]
    fn unknown_keys_and_bad_flags_are_refused() {
        let (field, message) = refused(
            EventType::SyncJobFailed,
            &[
                ("data_set", "catalogue"),
                ("failure_mesage", "timeout"),
                ("failure_message", "timeout"),
            ],
        );
        assert_eq!(field, "data.failure_mesage");
        assert!(message.contains("data_set, failure_message"), "{message}");
        assert_eq!(
            refused(EventType::LaunchSuccessful, &[("reason", "")]).0,
            "data.reason"
        );
        assert_eq!(
            refused(
                EventType::BookingCancelled,
                &[
                    ("refund_amount", "USD 1.00"),
                    ("refund_percent", "10"),
                    ("seats_released", "yes"),
                ]
            ),
            (
                "data.seats_released".to_owned(),
                "must be true or false".to_owned()
            )
        );
    }

    #[test]
    fn the_wire_limits_still_hold() {
        let long = "x".repeat(2_001);
        assert_eq!(
            refused(
                EventType::SyncJobFailed,
                &[("data_set", &long), ("failure_message", "m")]
            )
            .0,
            "data.data_set"
        );
        assert_eq!(refused(EventType::SyncJobFailed, &[("", "x")]).0, "data");
        let many: Vec<(String, String)> = (0..33)
            .map(|index| (format!("key{index}"), String::new()))
            .collect();
        assert!(matches!(
            EventData::from_wire(EventType::SyncJobFailed, many),
            Err(AppError::InvalidArgument { ref field, .. }) if field == "data"
        ));
    }

    #[test]
    fn stored_maps_are_read_leniently_and_written_back_alike() {
        let stored: BTreeMap<String, String> = wire(&[
            ("refund_amount", "USD 4,500.00"),
            ("seats_released", "true"),
            ("rocket_name", "Falcon X"),
            ("a_key_of_an_older_version", "ignored"),
        ])
        .into_iter()
        .collect();
        let EventData::BookingCancelled(cancelled) =
            EventData::from_stored(EventType::BookingCancelled, stored)
        else {
            panic!("a cancellation");
        };
        assert_eq!(cancelled.refund_amount, "USD 4,500.00");
        assert!(cancelled.seats_released);
        assert_eq!(cancelled.launch.rocket_name, "Falcon X");
        assert!(cancelled.refund_percent.is_empty());

        let payload = EventData::BookingCancelled(BookingCancelled {
            launch: LaunchDetails {
                destination: "Moon".into(),
                ..LaunchDetails::default()
            },
            booking_id: "b".into(),
            seats: "2".into(),
            total_amount: "USD 5,000.00".into(),
            refund_amount: "USD 4,500.00".into(),
            refund_percent: "90".into(),
            seats_released: false,
        });
        let map = payload.to_map();
        assert_eq!(map.get("seats_released").map(String::as_str), Some("false"));
        assert!(
            !map.contains_key("rocket_name"),
            "empty values are left out"
        );
        assert_eq!(
            EventData::from_stored(EventType::BookingCancelled, map),
            payload
        );
    }

    #[test]
    fn launch_details_are_written_as_the_emails_show_them() {
        let details = LaunchDetails::of(&Launch {
            rocket_name: "Falcon X".into(),
            scheduled_at: DateTime::from_timestamp(1_805_036_400, 0),
            price_per_seat: Some(Money {
                amount_minor: 99_900,
                currency: "USD".into(),
            }),
            ..Launch::default()
        });
        assert_eq!(details.price_per_seat, "USD 999.00");
        assert_eq!(details.scheduled_at, "2027-03-14T15:00:00+00:00");
    }
}
