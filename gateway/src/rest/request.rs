//! REST request → protobuf request message: the body (all of it, one field, or raw bytes), the
//! path variables and the query string, in proto3 JSON semantics, plus the headers that
//! contracts map to fields (`Idempotency-Key`, `Stripe-Signature`).

use axum::http::HeaderMap;
use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, Value};
use serde_json::{Map, Value as Json};

use crate::{
    contracts::{BodyRule, Route},
    errors::ApiError,
};

/// Headers that fill a request field when the RPC has it and the body left it empty:
/// (header, RPC full name or `*` for any, field).
const HEADER_FIELDS: [(&str, &str, &str); 2] = [
    ("idempotency-key", "*", "idempotency_key"),
    (
        "stripe-signature",
        "astrobookings.finance.v1.FinanceService.HandleStripeWebhook",
        "signature",
    ),
];

/// Everything of the HTTP request that can carry request fields.
pub struct RestInput<'a> {
    pub bindings: Vec<(Vec<String>, String)>,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

fn deserialize_options() -> DeserializeOptions {
    DeserializeOptions::new().deny_unknown_fields(true)
}

/// Builds the request message of `route` from `input`.
pub fn build(route: &Route, input: RestInput<'_>) -> Result<DynamicMessage, ApiError> {
    let descriptor = route.rpc.descriptor.input();
    let mut message = match &route.body {
        BodyRule::None => DynamicMessage::new(descriptor.clone()),
        BodyRule::Whole => {
            if is_blank(&input.body) {
                DynamicMessage::new(descriptor.clone())
            } else {
                require_json(input.content_type)?;
                parse_json(&input.body, |deserializer| {
                    DynamicMessage::deserialize_with_options(
                        descriptor.clone(),
                        deserializer,
                        &deserialize_options(),
                    )
                })?
            }
        }
        BodyRule::Field(field) => {
            let mut message = DynamicMessage::new(descriptor.clone());
            if matches!(field.kind(), Kind::Bytes) && !field.is_list() {
                // A raw body (a signed webhook): passed on untouched, whatever its type.
                message.set_field(field, Value::Bytes(input.body.clone()));
            } else if !is_blank(&input.body) {
                require_json(input.content_type)?;
                message.set_field(field, parse_field_body(field, &input.body)?);
            }
            message
        }
    };

    let mut query_params = Map::new();
    if let Some(query) = input.query.filter(|query| !query.is_empty()) {
        if matches!(route.body, BodyRule::Whole) {
            return Err(ApiError::invalid(
                "this route takes its fields from the JSON body, not the query string",
            ));
        }
        let body_field = match &route.body {
            BodyRule::Field(field) => Some(field.name().to_owned()),
            _ => None,
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let path: Vec<String> = key.split('.').map(str::to_owned).collect();
            if body_field.as_deref() == path.first().map(String::as_str) {
                return Err(ApiError::invalid(format!(
                    "query parameter {key:?}: this field comes from the body"
                )));
            }
            set_param(&mut query_params, &descriptor, &path, &value, true).map_err(|reason| {
                ApiError::invalid(format!("query parameter {key:?}: {reason}"))
            })?;
        }
    }
    let mut path_params = Map::new();
    for (path, value) in &input.bindings {
        set_param(&mut path_params, &descriptor, path, value, false).map_err(|reason| {
            ApiError::invalid(format!("path parameter {:?}: {reason}", path.join(".")))
        })?;
    }
    // Protobuf merge, query then path: the path wins over query and body, lists are appended.
    for (origin, params) in [("query", query_params), ("path", path_params)] {
        for (name, value) in params {
            let mut single = Map::new();
            single.insert(name.clone(), value);
            let from_url = DynamicMessage::deserialize_with_options(
                descriptor.clone(),
                Json::Object(single),
                &deserialize_options(),
            )
            .map_err(|error| ApiError::invalid(format!("{origin} parameter {name:?}: {error}")))?;
            message
                .merge(from_url.encode_to_vec().as_slice())
                .map_err(|error| {
                    ApiError::invalid(format!("{origin} parameter {name:?}: {error}"))
                })?;
        }
    }

    for (header, rpc, field_name) in HEADER_FIELDS {
        if rpc != "*" && rpc != route.rpc.descriptor.full_name() {
            continue;
        }
        let (Some(field), Some(value)) = (
            descriptor.get_field_by_name(field_name),
            input.headers.get(header),
        ) else {
            continue;
        };
        if !matches!(field.kind(), Kind::String) || field.is_list() || message.has_field(&field) {
            continue;
        }
        let value = value
            .to_str()
            .map_err(|_| ApiError::invalid(format!("header {header} is not visible ASCII")))?;
        message.set_field(&field, Value::String(value.to_owned()));
    }
    Ok(message)
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

fn require_json(content_type: Option<&str>) -> Result<(), ApiError> {
    let essence = content_type
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        Some(other) if other.ends_with("+json") => Ok(()),
        _ => Err(ApiError::new(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            tonic::Code::InvalidArgument,
            format!(
                "the body must be application/json, not {}",
                content_type.unwrap_or("(no content type)")
            ),
        )),
    }
}

/// Deserializes JSON with serde_json's position-aware errors (`... at line 3 column 14`).
fn parse_json<T>(
    body: &[u8],
    read: impl FnOnce(
        &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
    ) -> Result<T, serde_json::Error>,
) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = read(&mut deserializer)
        .map_err(|error| ApiError::invalid(format!("invalid JSON body: {error}")))?;
    deserializer
        .end()
        .map_err(|error| ApiError::invalid(format!("invalid JSON body: {error}")))?;
    Ok(value)
}

/// The body of `body: "field"`: a message is read as that message, anything else as the JSON
/// value of the field.
fn parse_field_body(field: &FieldDescriptor, body: &[u8]) -> Result<Value, ApiError> {
    if let (Kind::Message(inner), false) = (field.kind(), field.is_list() || field.is_map()) {
        let message = parse_json(body, |deserializer| {
            DynamicMessage::deserialize_with_options(inner, deserializer, &deserialize_options())
        })?;
        return Ok(Value::Message(message));
    }
    let json: Json = parse_json(body, |deserializer| {
        serde::Deserialize::deserialize(deserializer)
    })?;
    let mut wrapper = Map::new();
    wrapper.insert(field.name().to_owned(), json);
    let message = DynamicMessage::deserialize_with_options(
        field.parent_message().clone(),
        Json::Object(wrapper),
        &deserialize_options(),
    )
    .map_err(|error| ApiError::invalid(format!("invalid JSON body: {error}")))?;
    Ok(message.get_field(field).into_owned())
}

/// Puts one path or query value into the JSON object that mirrors the request message.
fn set_param(
    params: &mut Map<String, Json>,
    message: &prost_reflect::MessageDescriptor,
    path: &[String],
    raw: &str,
    repeatable: bool,
) -> Result<(), String> {
    let (name, rest) = path.split_first().ok_or("empty field name")?;
    let field = message
        .get_field_by_name(name)
        .or_else(|| message.get_field_by_json_name(name))
        .ok_or_else(|| format!("no field {name:?} in {}", message.name()))?;
    if field.is_map() {
        return Err(format!("{name} is a map and cannot come from the URL"));
    }
    let key = field.name().to_owned();
    if !rest.is_empty() {
        let Kind::Message(inner) = field.kind() else {
            return Err(format!("{name} is not a message"));
        };
        if field.is_list() || is_well_known_scalar(&inner) {
            return Err(format!("{name} has no subfields to set"));
        }
        let entry = params
            .entry(key)
            .or_insert_with(|| Json::Object(Map::new()));
        let Json::Object(nested) = entry else {
            return Err(format!("{name} given both as a value and with subfields"));
        };
        return set_param(nested, &inner, rest, raw, repeatable);
    }
    let value = scalar_json(&field.kind(), raw).map_err(|reason| format!("{name}: {reason}"))?;
    if field.is_list() {
        if !repeatable {
            return Err(format!("{name} is a list"));
        }
        match params.entry(key).or_insert_with(|| Json::Array(Vec::new())) {
            Json::Array(values) => values.push(value),
            _ => return Err(format!("{name} given twice")),
        }
    } else if params.insert(key, value).is_some() {
        return Err(format!("{name} given twice"));
    }
    Ok(())
}

/// Message types written as one string in proto3 JSON, so they can come from a URL.
fn is_well_known_scalar(message: &prost_reflect::MessageDescriptor) -> bool {
    matches!(
        message.full_name(),
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
    )
}

/// The proto3 JSON form of a URL value for a field of `kind` (numbers as strings, which the
/// JSON mapping accepts; the deserializer then checks ranges, enum names, timestamps).
fn scalar_json(kind: &Kind, raw: &str) -> Result<Json, String> {
    Ok(match kind {
        Kind::Bool => match raw {
            "true" | "1" => Json::Bool(true),
            "false" | "0" => Json::Bool(false),
            _ => return Err(format!("{raw:?} is not true or false")),
        },
        Kind::Enum(_) => raw
            .parse::<i32>()
            .map_or_else(|_| Json::String(raw.to_owned()), Json::from),
        Kind::Message(message) if is_well_known_scalar(message) => {
            match message.get_field_by_name("value") {
                Some(inner) if message.full_name().ends_with("Value") => {
                    scalar_json(&inner.kind(), raw)?
                }
                _ => Json::String(raw.to_owned()),
            }
        }
        Kind::Message(message) => {
            return Err(format!(
                "a {} cannot come from the URL; set its fields as name.field",
                message.name()
            ));
        }
        _ => Json::String(raw.to_owned()),
    })
}
