//! Protobuf response message(s) → REST response: proto3 JSON (lowerCamelCase, int64 as
//! strings, enums by name, RFC 3339 timestamps, defaults emitted), `response_body` applied, and
//! file downloads for messages shaped like `HttpBody` (server streams: see `stream`).

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, SerializeOptions};

use crate::errors::ApiError;

fn serialize_options() -> SerializeOptions {
    SerializeOptions::new().skip_default_fields(false)
}

/// The proto3 JSON of `message`, or of its `response_body` field.
pub fn to_json(
    message: &DynamicMessage,
    response_body: Option<&FieldDescriptor>,
) -> Result<serde_json::Value, ApiError> {
    let json = message
        .serialize_with_options(serde_json::value::Serializer, &serialize_options())
        .map_err(|error| {
            tracing::error!(%error, "cannot render a response as JSON");
            ApiError::from(tonic::Status::internal("cannot render the response"))
        })?;
    Ok(match (response_body, json) {
        (Some(field), serde_json::Value::Object(mut fields)) => fields
            .remove(field.json_name())
            .unwrap_or_else(|| empty_value(field)),
        (_, json) => json,
    })
}

/// The JSON text of a unary answer. Without `response_body` the message is written straight
/// to bytes: building a `serde_json::Value` tree first cost a third of a REST list's CPU.
pub fn json_bytes(
    message: &DynamicMessage,
    response_body: Option<&FieldDescriptor>,
) -> Result<Vec<u8>, ApiError> {
    if response_body.is_some() {
        return Ok(to_json(message, response_body)?.to_string().into_bytes());
    }
    let mut bytes = Vec::with_capacity(4096);
    message
        .serialize_with_options(
            &mut serde_json::Serializer::new(&mut bytes),
            &serialize_options(),
        )
        .map_err(|error| {
            tracing::error!(%error, "cannot render a response as JSON");
            ApiError::from(tonic::Status::internal("cannot render the response"))
        })?;
    Ok(bytes)
}

/// What an unset `response_body` field looks like.
fn empty_value(field: &FieldDescriptor) -> serde_json::Value {
    if field.is_list() {
        serde_json::Value::Array(Vec::new())
    } else {
        serde_json::Value::Object(serde_json::Map::new())
    }
}

/// Fields of a file download: a message with a `string content_type` and exactly one singular
/// `bytes` field (like `google.api.HttpBody`), and optionally a `string filename`.
#[derive(Debug, Clone)]
pub struct DownloadShape {
    pub data: FieldDescriptor,
    pub content_type: FieldDescriptor,
    pub filename: Option<FieldDescriptor>,
}

impl DownloadShape {
    pub fn of(message: &MessageDescriptor) -> Option<Self> {
        let string_field = |name: &str| {
            message
                .get_field_by_name(name)
                .filter(|field| matches!(field.kind(), Kind::String) && !field.is_list())
        };
        let content_type = string_field("content_type")?;
        let mut bytes_fields = message
            .fields()
            .filter(|field| matches!(field.kind(), Kind::Bytes) && !field.is_list());
        let data = bytes_fields.next()?;
        if bytes_fields.next().is_some() {
            return None;
        }
        Some(Self {
            data,
            content_type,
            filename: string_field("filename"),
        })
    }

    fn string(message: &DynamicMessage, field: &FieldDescriptor) -> String {
        message
            .get_field(field)
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default()
    }

    /// The content type when `message` (the first of a stream) is a download.
    pub fn content_type(&self, message: &DynamicMessage) -> Option<String> {
        Some(Self::string(message, &self.content_type)).filter(|value| !value.is_empty())
    }

    /// The bytes of one message of the download.
    pub fn data(&self, message: &DynamicMessage) -> Bytes {
        message
            .get_field(&self.data)
            .as_bytes()
            .cloned()
            .unwrap_or_default()
    }

    /// A 200 download with `body`, the content type and the file name of `first` (the only
    /// message of a unary answer, the first of a stream).
    pub fn respond(&self, first: &DynamicMessage, content_type: &str, body: Body) -> Response {
        let mut response = (StatusCode::OK, body).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(content_type) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        let filename = self
            .filename
            .as_ref()
            .map(|field| Self::string(first, field))
            .filter(|name| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_graphic() && c != '"')
            });
        if let Some(value) = filename.and_then(|name| {
            HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).ok()
        }) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
        response
    }
}

/// A JSON body with status 200.
pub fn json_response(json: &serde_json::Value) -> Response {
    json_text_response(json.to_string().into_bytes())
}

/// JSON text, already written, as a 200 answer.
pub fn json_text_response(json: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}
