//! Every failure the REST surface answers: a `google.rpc.Status` in proto3 JSON (`code`,
//! `message`, `details`) with the HTTP status mapped from the gRPC code the way grpc-gateway
//! does. This is the one mapping table of the gateway.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use tonic::{Code, Status};

/// The HTTP status for a gRPC code (grpc-gateway's `HTTPStatusFromCode`).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        // 499 "client closed request", as grpc-gateway answers.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A failure on its way to the client: the gRPC status, and the HTTP status when it is not
/// the mapped one (405, 413, 415, 431 have no gRPC code of their own).
#[derive(Debug)]
pub struct ApiError {
    pub status: Status,
    pub http: StatusCode,
    /// Seconds for `Retry-After` (rate limits, unavailable upstreams).
    pub retry_after: Option<u64>,
    /// `Allow` for 405.
    pub allow: Option<String>,
}

impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        let retry_after = status
            .metadata()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        Self {
            http: http_status(status.code()),
            status,
            retry_after,
            allow: None,
        }
    }
}

impl ApiError {
    /// A client mistake answered with `http` and the gRPC `code` that best describes it.
    pub fn new(http: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self {
            status: Status::new(code, message),
            http,
            retry_after: None,
            allow: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Code::InvalidArgument, message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, Code::NotFound, "no such route")
    }

    pub fn method_not_allowed(allow: String) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Code::Unimplemented,
            "method not allowed on this route",
        );
        error.allow = Some(allow);
        error
    }

    /// Renders the status as JSON; `pool` must know `google.rpc.Status` and the detail types.
    pub fn into_response_with(self, pool: &DescriptorPool) -> Response {
        let body = status_json(&self.status, pool);
        let mut response = (
            self.http,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body.to_string(),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(allow) = self
            .allow
            .and_then(|allow| HeaderValue::from_str(&allow).ok())
        {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        response
    }
}

/// `{"code", "message", "details"}`: the details come from `grpc-status-details-bin` when the
/// upstream sent them and every detail type is known, else they are empty.
pub fn status_json(status: &Status, pool: &DescriptorPool) -> serde_json::Value {
    let details = decode_details(status, pool).unwrap_or_default();
    serde_json::json!({
        "code": i32::from(status.code()),
        "message": status.message(),
        "details": details,
    })
}

fn decode_details(status: &Status, pool: &DescriptorPool) -> Option<Vec<serde_json::Value>> {
    if status.details().is_empty() {
        return None;
    }
    let descriptor = pool.get_message_by_name("google.rpc.Status")?;
    let decoded = DynamicMessage::decode(descriptor, status.details()).ok()?;
    let options = SerializeOptions::new().skip_default_fields(true);
    match decoded.serialize_with_options(serde_json::value::Serializer, &options) {
        Ok(serde_json::Value::Object(mut fields)) => match fields.remove("details") {
            Some(serde_json::Value::Array(details)) => Some(details),
            _ => None,
        },
        Ok(_) => None,
        Err(error) => {
            tracing::warn!(%error, "cannot render error details as JSON; sending none");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_like_grpc_gateway() {
        let table = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        for (code, http) in table {
            assert_eq!(http_status(code).as_u16(), http, "{code:?}");
        }
    }
}
