//! The payment gateway's webhook: is a delivery really Stripe's (the `Stripe-Signature`
//! header), and what does its event say about our payments.
//!
//! Stripe signs `"{t}.{raw body}"` with HMAC-SHA256 under the endpoint's secret and sends
//! `t=<unix seconds>,v1=<hex>[,v1=<hex>...]` (during a secret's rotation Stripe sends one `v1`
//! per secret). A delivery is genuine when any `v1` matches any of our configured secrets, so a
//! secret is rotated by configuring the new one beside the old, then dropping the old.
//! Deliveries older (or newer) than [`SIGNATURE_TOLERANCE`] are refused, so a captured
//! delivery cannot be replayed later.

use astro_shared::config::Secret;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use serde::Deserialize;
use sha2::Sha256;
use uuid::Uuid;

use super::charge::IntentState;

/// How far a signature's timestamp may be from our clock.
pub const SIGNATURE_TOLERANCE: chrono::Duration = chrono::Duration::minutes(5);

/// Metadata keys our payment intents carry (see `payment_gateway::stripe`).
pub const INVOICE_PAYMENT_ID: &str = "invoice_payment_id";
pub const BOOKING_PAYMENT_ID: &str = "payment_id";

/// Why a delivery is not accepted as the gateway's. The text is safe to answer with: it says
/// what is wrong with the request, never anything about the secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the signature's timestamp is {seconds} s away from now (at most 300 s)")]
    OutsideTolerance { seconds: i64 },
    #[error("no signature matches")]
    NoMatch,
    #[error("no webhook secret is configured")]
    NoSecrets,
}

/// Checks `header` (the `Stripe-Signature` value) against `payload` (the raw body) and the
/// configured `secrets`, at `now`.
pub fn verify_signature(
    payload: &[u8],
    header: &str,
    secrets: &[Secret],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(SignatureError::Malformed("each part must be key=value"));
        };
        match key {
            "t" => {
                let seconds = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed("t must be unix seconds"))?;
                if timestamp.replace(seconds).is_some() {
                    return Err(SignatureError::Malformed("t is given twice"));
                }
            }
            // Not hex (or not a SHA-256 length): it can never match, so it is skipped like an
            // unknown scheme rather than refusing a delivery that carries a good one too.
            "v1" => {
                if let Ok(bytes) = hex::decode(value)
                    && bytes.len() == 32
                {
                    signatures.push(bytes);
                }
            }
            // v0 (test-mode legacy) and future schemes are not ours to check.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("t is missing"))?;
    let age = now.timestamp() - timestamp;
    if age.abs() > SIGNATURE_TOLERANCE.num_seconds() {
        return Err(SignatureError::OutsideTolerance { seconds: age });
    }
    if secrets.is_empty() {
        return Err(SignatureError::NoSecrets);
    }
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("no v1 signature"));
    }
    let signed_prefix = format!("{timestamp}.");
    let matches = secrets.iter().any(|secret| {
        signatures.iter().any(|signature| {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
                return false;
            };
            mac.update(signed_prefix.as_bytes());
            mac.update(payload);
            // Constant time: the comparison never tells how much of a forgery was right.
            mac.verify_slice(signature).is_ok()
        })
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// Whose payment a payment intent is, from its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentOwner {
    /// An agency paying an invoice (PayInvoice).
    InvoicePayment(Uuid),
    /// A traveler's booking charge (ChargeBooking).
    BookingCharge(Uuid),
    /// Not created by FinanceAPI (another integration on the same account).
    Unknown,
}

/// What an event means for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventEffect {
    /// A payment intent moved to `state`.
    Intent {
        intent_id: String,
        owner: IntentOwner,
        state: IntentState,
    },
    /// A type we do not act on: acknowledged, recorded, ignored.
    Ignored,
}

/// A verified webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEvent {
    pub id: String,
    pub kind: String,
    pub created: DateTime<Utc>,
    /// The id of the object the event is about, if it has one.
    pub object_id: String,
    pub effect: EventEffect,
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: RawData,
}

#[derive(Deserialize)]
struct RawData {
    object: RawObject,
}

#[derive(Deserialize)]
struct RawObject {
    #[serde(default)]
    id: String,
    #[serde(default)]
    metadata: Option<std::collections::HashMap<String, String>>,
    #[serde(default)]
    last_payment_error: Option<RawPaymentError>,
}

#[derive(Deserialize)]
struct RawPaymentError {
    #[serde(default)]
    message: Option<String>,
}

/// Reads a verified body. Only what we act on is read, so the gateway's newer fields (or an
/// emulator's older ones) never make an event unreadable.
pub fn parse_event(payload: &[u8]) -> Result<GatewayEvent, String> {
    let raw: RawEvent =
        serde_json::from_slice(payload).map_err(|error| format!("not a Stripe event: {error}"))?;
    if raw.id.trim().is_empty() {
        return Err("the event has no id".to_owned());
    }
    let created = DateTime::from_timestamp(raw.created, 0)
        .ok_or_else(|| "the event's created time is out of range".to_owned())?;
    let object = raw.data.object;
    let state = match raw.kind.as_str() {
        "payment_intent.succeeded" => Some(IntentState::Succeeded),
        "payment_intent.payment_failed" => Some(IntentState::Declined {
            message: object
                .last_payment_error
                .as_ref()
                .and_then(|error| error.message.clone())
                .unwrap_or_else(|| "the payment method was declined".to_owned()),
        }),
        "payment_intent.canceled" => Some(IntentState::Canceled),
        "payment_intent.requires_action" => Some(IntentState::RequiresAction),
        _ => None,
    };
    let effect = match state {
        Some(state) => EventEffect::Intent {
            intent_id: object.id.clone(),
            owner: owner(object.metadata.as_ref()),
            state,
        },
        None => EventEffect::Ignored,
    };
    Ok(GatewayEvent {
        id: raw.id,
        kind: raw.kind,
        created,
        object_id: object.id,
        effect,
    })
}

fn owner(metadata: Option<&std::collections::HashMap<String, String>>) -> IntentOwner {
    let id = |key: &str| {
        metadata
            .and_then(|metadata| metadata.get(key))
            .and_then(|value| Uuid::parse_str(value).ok())
    };
    if let Some(id) = id(INVOICE_PAYMENT_ID) {
        IntentOwner::InvoicePayment(id)
    } else if let Some(id) = id(BOOKING_PAYMENT_ID) {
        IntentOwner::BookingCharge(id)
    } else {
        IntentOwner::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded","created":1700000000,
        "data":{"object":{"id":"pi_1","object":"payment_intent",
        "metadata":{"invoice_payment_id":"0192f000-0000-7000-8000-000000000001"}}}}"#;

    /// The `v1` signature of `payload` at `timestamp` under `secret` (what Stripe sends).
    fn sign(payload: &[u8], timestamp: i64, secret: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(payload);
        hex::encode(mac.finalize().into_bytes())
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("a valid time")
    }

    fn secrets(values: &[&str]) -> Vec<Secret> {
        values.iter().map(|value| Secret::new(*value)).collect()
    }

    #[test]
    fn a_signature_under_any_configured_secret_is_accepted() {
        let t = 1_700_000_000;
        let header = format!("t={t},v1={}", sign(BODY, t, "whsec_new"));
        let both = secrets(&["whsec_old", "whsec_new"]);
        assert_eq!(verify_signature(BODY, &header, &both, at(t + 10)), Ok(()));
        // One v1 per secret during a rotation: any of them may be ours.
        let rotating = format!(
            "t={t},v1={},v1={}",
            sign(BODY, t, "whsec_unknown"),
            sign(BODY, t, "whsec_old")
        );
        assert_eq!(
            verify_signature(BODY, &rotating, &secrets(&["whsec_old"]), at(t)),
            Ok(())
        );
        assert_eq!(
            verify_signature(BODY, &header, &secrets(&["whsec_old"]), at(t)),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn forged_tampered_stale_and_malformed_deliveries_are_refused() {
        let t = 1_700_000_000;
        let good = sign(BODY, t, "whsec_a");
        let ours = secrets(&["whsec_a"]);
        let header = format!("t={t},v1={good}");
        let tampered = [BODY, b" "].concat();
        assert_eq!(
            verify_signature(&tampered, &header, &ours, at(t)),
            Err(SignatureError::NoMatch)
        );
        // The timestamp is signed too: moving it breaks the signature.
        assert_eq!(
            verify_signature(BODY, &format!("t={},v1={good}", t + 1), &ours, at(t)),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify_signature(BODY, &header, &ours, at(t + 600)),
            Err(SignatureError::OutsideTolerance { seconds: 600 })
        );
        assert_eq!(verify_signature(BODY, &header, &ours, at(t + 300)), Ok(()));
        assert_eq!(
            verify_signature(BODY, &header, &ours, at(t - 301)),
            Err(SignatureError::OutsideTolerance { seconds: -301 })
        );
        assert_eq!(
            verify_signature(BODY, "", &ours, at(t)),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(BODY, &format!("v1={good}"), &ours, at(t)),
            Err(SignatureError::Malformed("t is missing"))
        );
        assert_eq!(
            verify_signature(BODY, &format!("t={t},v0={good}"), &ours, at(t)),
            Err(SignatureError::Malformed("no v1 signature"))
        );
        assert_eq!(
            verify_signature(BODY, &format!("t={t},v1=zz"), &ours, at(t)),
            Err(SignatureError::Malformed("no v1 signature"))
        );
        assert_eq!(
            verify_signature(BODY, &header, &[], at(t)),
            Err(SignatureError::NoSecrets)
        );
    }

    #[test]
    fn events_name_the_intent_its_owner_and_its_state() {
        let event = parse_event(BODY).expect("an event");
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.created, at(1_700_000_000));
        assert_eq!(
            event.effect,
            EventEffect::Intent {
                intent_id: "pi_1".into(),
                owner: IntentOwner::InvoicePayment(
                    Uuid::parse_str("0192f000-0000-7000-8000-000000000001").expect("uuid")
                ),
                state: IntentState::Succeeded,
            }
        );
        let failed = br#"{"id":"evt_2","type":"payment_intent.payment_failed","created":1,
            "data":{"object":{"id":"pi_2","metadata":{"payment_id":"0192f000-0000-7000-8000-000000000002"},
            "last_payment_error":{"message":"Your card was declined."}}}}"#;
        assert!(matches!(
            parse_event(failed).expect("an event").effect,
            EventEffect::Intent {
                owner: IntentOwner::BookingCharge(_),
                state: IntentState::Declined { message },
                ..
            } if message == "Your card was declined."
        ));
        let other = br#"{"id":"evt_3","type":"customer.created","created":1,"data":{"object":{"id":"cus_1"}}}"#;
        assert_eq!(
            parse_event(other).expect("an event").effect,
            EventEffect::Ignored
        );
        let foreign = br#"{"id":"evt_4","type":"payment_intent.succeeded","created":1,"data":{"object":{"id":"pi_4","metadata":{}}}}"#;
        assert!(matches!(
            parse_event(foreign).expect("an event").effect,
            EventEffect::Intent {
                owner: IntentOwner::Unknown,
                ..
            }
        ));
        assert!(parse_event(b"not json").is_err());
        assert!(parse_event(br#"{"id":"","type":"x","created":1,"data":{"object":{}}}"#).is_err());
    }
}
