//! The one error type of the mesh and its single mapping to `tonic::Status`.
//!
//! Client mistakes carry a message meant for the client; everything else becomes a generic
//! message while the cause is logged with the request's trace, so internal text never leaks.

use std::{borrow::Cow, collections::HashMap, time::Duration};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Every way a request can fail, named by what the client should do about it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed; `field` names the offending field (proto field path).
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    /// The thing does not exist, or it is not the caller's (the two are indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is valid but the system's state forbids it now (e.g. no seats left).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A FAILED_PRECONDITION the client can act on by `reason` (a stable UPPER_SNAKE code, sent
    /// as `google.rpc.ErrorInfo` with `metadata`), e.g. `SEATS_UNAVAILABLE`.
    #[error("{message}")]
    Refused {
        reason: Cow<'static, str>,
        message: String,
        metadata: HashMap<String, String>,
    },
    /// A concurrent change won; retrying the whole operation may succeed.
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// A rate limit or quota; the client may retry after `retry_after`.
    #[error("{message}")]
    ResourceExhausted {
        message: String,
        retry_after: Duration,
    },
    /// A dependency (named for operators, e.g. "OperationsDB") cannot be reached right now.
    #[error("{dependency} is unavailable")]
    Unavailable {
        dependency: Cow<'static, str>,
        #[source]
        cause: anyhow::Error,
    },
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// A bug or an unexpected state: logged in full, answered with a generic message.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// `google.rpc.ErrorInfo.domain` of every reason the mesh sends.
pub const ERROR_DOMAIN: &str = "astrobookings.com";

/// `google.rpc.ErrorInfo.reason` of an UNAVAILABLE answer; `metadata.dependency` names what
/// could not be reached (e.g. `PaymentGW`, `OperationsDB`).
pub const UNAVAILABLE_REASON: &str = "DEPENDENCY_UNAVAILABLE";

/// The dependency name of the payment gateway: FinanceAPI's UNAVAILABLE naming it means that
/// nothing was submitted to the gateway.
pub const PAYMENT_GATEWAY: &str = "PaymentGW";

/// The dependency an UNAVAILABLE status names, if any.
pub fn unavailable_dependency(status: &Status) -> Option<String> {
    if status.code() != Code::Unavailable {
        return None;
    }
    let details = status.get_error_details();
    let info = details.error_info()?;
    (info.reason == UNAVAILABLE_REASON)
        .then(|| info.metadata.get("dependency").cloned())
        .flatten()
}

/// The result type of domain and store code.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// A field-level validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// This error with its field named `to` where it was `from`: for a request that calls a
    /// field of a shared rule by another name.
    pub fn renamed_field(self, from: &str, to: &str) -> Self {
        match self {
            Self::InvalidArgument { field, message } if field == from => Self::InvalidArgument {
                field: to.to_owned(),
                message,
            },
            other => other,
        }
    }

    /// A dependency failure.
    pub fn unavailable(dependency: &'static str, cause: impl Into<anyhow::Error>) -> Self {
        Self::Unavailable {
            dependency: Cow::Borrowed(dependency),
            cause: cause.into(),
        }
    }

    /// A FAILED_PRECONDITION with a machine-readable reason.
    pub fn refused(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Refused {
            reason: Cow::Borrowed(reason),
            message: message.into(),
            metadata: HashMap::new(),
        }
    }

    /// Adds one `ErrorInfo` metadata entry to a [`Self::Refused`]; other errors are unchanged.
    pub fn with_metadata(mut self, key: &str, value: impl Into<String>) -> Self {
        if let Self::Refused { metadata, .. } = &mut self {
            metadata.insert(key.to_owned(), value.into());
        }
        self
    }

    /// An error answered by another service of the mesh (a `Status`, or the `AppError` it was
    /// decoded to), seen by a caller that has no meaning of its own for it: the callee being
    /// unreachable, slow or out of capacity is this request's dependency failure, named for the
    /// callee (the client may retry); anything else is unexpected here (INTERNAL, its text kept
    /// for the log). Callers match the errors they expect before falling back to this.
    pub fn upstream(dependency: &'static str, answered: impl Into<Self>) -> Self {
        match answered.into() {
            error @ (Self::Unavailable { .. }
            | Self::DeadlineExceeded
            | Self::ResourceExhausted { .. }) => Self::unavailable(dependency, error),
            Self::Internal(cause) => {
                Self::Internal(cause.context(format!("{dependency} answered an internal error")))
            }
            other => Self::internal(anyhow::anyhow!("{dependency} answered {other}")),
        }
    }

    /// An unexpected failure.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    /// The gRPC code this error answers with.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument { .. } => Code::InvalidArgument,
            Self::NotFound(_) => Code::NotFound,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::FailedPrecondition(_) | Self::Refused { .. } => Code::FailedPrecondition,
            Self::Aborted(_) => Code::Aborted,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::ResourceExhausted { .. } => Code::ResourceExhausted,
            Self::Unavailable { .. } => Code::Unavailable,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::Internal(_) => Code::Internal,
        }
    }
}

impl From<AppError> for Status {
    fn from(error: AppError) -> Self {
        let code = error.code();
        match error {
            AppError::InvalidArgument { field, message } => Status::with_error_details(
                code,
                format!("{field}: {message}"),
                ErrorDetails::with_bad_request_violation(field, message),
            ),
            AppError::Refused {
                reason,
                message,
                metadata,
            } => Status::with_error_details(
                code,
                message,
                ErrorDetails::with_error_info(reason.into_owned(), ERROR_DOMAIN, metadata),
            ),
            AppError::ResourceExhausted {
                message,
                retry_after,
            } => Status::with_error_details(
                code,
                message,
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
            AppError::Unavailable { dependency, cause } => {
                tracing::warn!(dependency = %dependency, error = %format!("{cause:#}"), "dependency unavailable");
                // The dependency's name (not the cause) is machine-readable, so a caller can
                // tell "the payment gateway was not reached" from "our database blinked".
                Status::with_error_details(
                    code,
                    format!("{dependency} is unavailable, try again later"),
                    ErrorDetails::with_error_info(
                        UNAVAILABLE_REASON,
                        ERROR_DOMAIN,
                        HashMap::from([("dependency".to_owned(), dependency.into_owned())]),
                    ),
                )
            }
            AppError::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "internal error");
                Status::new(code, "internal error")
            }
            client_error @ (AppError::NotFound(_)
            | AppError::AlreadyExists(_)
            | AppError::FailedPrecondition(_)
            | AppError::Aborted(_)
            | AppError::Unauthenticated(_)
            | AppError::PermissionDenied(_)
            | AppError::DeadlineExceeded) => Status::new(code, client_error.to_string()),
        }
    }
}

/// The exact inverse of `From<AppError> for Status`, for a caller that answers with what its
/// callee said: BadRequest gives the field back, ErrorInfo the reason (or the unreachable
/// dependency), RetryInfo the delay. Codes the mesh never sends from an `AppError` (CANCELLED,
/// UNKNOWN, UNIMPLEMENTED, ...) are unexpected here and become INTERNAL, their text kept for
/// the log only, except CANCELLED: a call that ran out of time on the client's side, or the
/// callee's own request timeout (tonic's server answers it so), is DEADLINE_EXCEEDED.
impl From<Status> for AppError {
    fn from(status: Status) -> Self {
        let details = status.get_error_details();
        let message = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument => {
                let violation = details
                    .bad_request()
                    .and_then(|request| request.field_violations.first());
                match violation {
                    Some(violation) => Self::invalid(&violation.field, &violation.description),
                    None => Self::invalid("", message),
                }
            }
            Code::NotFound => Self::NotFound(match message.strip_suffix(" not found") {
                Some(what) => what.to_owned(),
                None => message,
            }),
            Code::AlreadyExists => Self::AlreadyExists(message),
            Code::FailedPrecondition => match details.error_info() {
                Some(info) => Self::Refused {
                    reason: Cow::Owned(info.reason.clone()),
                    message,
                    metadata: info.metadata.clone(),
                },
                None => Self::FailedPrecondition(message),
            },
            Code::Aborted => Self::Aborted(message),
            Code::Unauthenticated => Self::Unauthenticated(message),
            Code::PermissionDenied => Self::PermissionDenied(message),
            Code::ResourceExhausted => Self::ResourceExhausted {
                message,
                retry_after: details
                    .retry_info()
                    .and_then(|info| info.retry_delay)
                    .unwrap_or_default(),
            },
            Code::Unavailable => Self::Unavailable {
                dependency: Cow::Owned(
                    unavailable_dependency(&status).unwrap_or_else(|| "upstream".to_owned()),
                ),
                cause: anyhow::anyhow!("{message}"),
            },
            Code::DeadlineExceeded | Code::Cancelled => Self::DeadlineExceeded,
            _ => Self::internal(anyhow::anyhow!("{status}")),
        }
    }
}

/// `status` as an encoded `google.rpc.Status`, details included, to keep an answer for replay.
pub fn encode_status(status: &Status) -> Vec<u8> {
    use prost::Message as _;
    if !status.details().is_empty() {
        // tonic-types keeps the whole google.rpc.Status (code, message, details) there.
        return status.details().to_vec();
    }
    tonic_types::Status {
        code: status.code() as i32,
        message: status.message().to_owned(),
        details: Vec::new(),
    }
    .encode_to_vec()
}

/// The status of [`encode_status`]'s bytes.
pub fn decode_status(bytes: &[u8]) -> Result<Status, prost::DecodeError> {
    use prost::Message as _;
    let status = tonic_types::Status::decode(bytes)?;
    Ok(Status::with_details(
        Code::from_i32(status.code),
        status.message.clone(),
        bytes.to_vec().into(),
    ))
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::unavailable("OperationsDB", error),
            sqlx::Error::Database(database) => match database.code().as_deref() {
                // Serialization failure, deadlock: retrying the whole operation may succeed.
                Some("40001" | "40P01") => {
                    Self::Aborted("a concurrent change conflicted; retry".into())
                }
                // Shutting down, starting up, crash recovery, connection exceptions: the
                // server comes back, the request may be retried.
                Some(code)
                    if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03") =>
                {
                    Self::unavailable("OperationsDB", sqlx::Error::Database(database))
                }
                _ => Self::internal(sqlx::Error::Database(database)),
            },
            other => Self::internal(other),
        }
    }
}

impl From<mongodb::error::Error> for AppError {
    fn from(error: mongodb::error::Error) -> Self {
        use mongodb::error::ErrorKind;
        match *error.kind {
            ErrorKind::Io(_)
            | ErrorKind::ServerSelection { .. }
            | ErrorKind::ConnectionPoolCleared { .. } => Self::unavailable("SystemDB", error),
            _ => Self::internal(error),
        }
    }
}

impl From<fred::error::Error> for AppError {
    fn from(error: fred::error::Error) -> Self {
        use fred::error::ErrorKind;
        match error.kind() {
            ErrorKind::IO | ErrorKind::Timeout | ErrorKind::Canceled => {
                Self::unavailable("CacheDB", error)
            }
            _ => Self::internal(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server error with only its SQLSTATE, as PostgreSQL sends them.
    #[derive(Debug)]
    struct ServerError(&'static str);

    impl std::fmt::Display for ServerError {
        fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(formatter, "server error {}", self.0)
        }
    }

    impl std::error::Error for ServerError {}

    impl sqlx::error::DatabaseError for ServerError {
        fn message(&self) -> &str {
            "server error"
        }

        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }

        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }

        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    /// Every client-facing error survives a trip through a Status and back, details included.
    #[test]
    fn a_status_decodes_to_the_error_it_was_made_from() {
        let errors = [
            AppError::invalid("launch.price", "must be positive"),
            AppError::NotFound("launch 7".into()),
            AppError::AlreadyExists("the e-mail is taken".into()),
            AppError::FailedPrecondition("the launch has departed".into()),
            AppError::refused("SEATS_UNAVAILABLE", "2 seats left").with_metadata("seatsLeft", "2"),
            AppError::Aborted("retry".into()),
            AppError::Unauthenticated("invalid access token: expired".into()),
            AppError::PermissionDenied("agency only".into()),
            AppError::ResourceExhausted {
                message: "too many attempts".into(),
                retry_after: Duration::from_secs(30),
            },
            AppError::unavailable(PAYMENT_GATEWAY, anyhow::anyhow!("connection refused")),
            AppError::DeadlineExceeded,
        ];
        for error in errors {
            let text = error.to_string();
            let status = Status::from(error);
            let stored = decode_status(&encode_status(&status)).expect("decodes");
            for status in [Status::from(AppError::from(status.clone())), stored.clone()] {
                assert_eq!(status.code(), stored.code(), "{text}");
                assert_eq!(status.message(), stored.message(), "{text}");
                assert_eq!(
                    format!("{:?}", status.get_error_details()),
                    format!("{:?}", stored.get_error_details()),
                    "{text}"
                );
            }
            let again = AppError::from(stored);
            assert_eq!(again.to_string(), text.replace("connection refused", ""));
        }
        let unexpected = AppError::from(Status::unimplemented("not built"));
        assert_eq!(unexpected.code(), Code::Internal);
    }

    #[test]
    fn an_upstream_error_is_retryable_only_when_the_callee_could_not_serve() {
        let code = |status: Status| AppError::upstream("FinanceAPI", status).code();
        for status in [
            Status::unavailable("down"),
            Status::deadline_exceeded("slow"),
            Status::cancelled("timed out"),
            Status::from(AppError::ResourceExhausted {
                message: "busy".into(),
                retry_after: Duration::from_secs(1),
            }),
        ] {
            assert_eq!(code(status), Code::Unavailable);
        }
        for status in [
            Status::not_found("booking not found"),
            Status::failed_precondition("no"),
            Status::internal("bug"),
            Status::unimplemented("not built"),
        ] {
            assert_eq!(code(status), Code::Internal);
        }
        let unavailable = Status::from(AppError::upstream(
            "FinanceAPI",
            AppError::from(Status::unavailable("down")),
        ));
        assert_eq!(
            unavailable_dependency(&unavailable).as_deref(),
            Some("FinanceAPI"),
            "named for the service we called"
        );
    }

    #[test]
    fn postgresql_restarts_and_conflicts_are_retryable_not_internal() {
        let code_of = |sqlstate: &'static str| {
            Status::from(AppError::from(sqlx::Error::Database(Box::new(
                ServerError(sqlstate),
            ))))
            .code()
        };
        for sqlstate in ["57P01", "57P02", "57P03", "08006", "08001"] {
            assert_eq!(code_of(sqlstate), Code::Unavailable, "{sqlstate}");
        }
        for sqlstate in ["40001", "40P01"] {
            assert_eq!(code_of(sqlstate), Code::Aborted, "{sqlstate}");
        }
        assert_eq!(
            code_of("23505"),
            Code::Internal,
            "a unique violation is a bug here"
        );
    }

    #[test]
    fn internal_errors_never_leak_their_cause() {
        let status = Status::from(AppError::internal(anyhow::anyhow!(
            "password=hunter2 in query"
        )));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn invalid_argument_names_the_field_in_bad_request_details() {
        let status = Status::from(AppError::invalid("launch.price", "must be positive"));
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let violations = &details
            .bad_request()
            .expect("bad request detail")
            .field_violations;
        assert_eq!(violations[0].field, "launch.price");
        assert_eq!(violations[0].description, "must be positive");
    }

    #[test]
    fn refused_carries_reason_and_metadata_in_error_info() {
        let status = Status::from(
            AppError::refused("PAYMENT_DECLINED", "the card was declined")
                .with_metadata("bookingId", "b-1"),
        );
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "the card was declined");
        let details = status.get_error_details();
        let info = details.error_info().expect("error info detail");
        assert_eq!(info.reason, "PAYMENT_DECLINED");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(
            info.metadata.get("bookingId").map(String::as_str),
            Some("b-1")
        );
    }

    #[test]
    fn resource_exhausted_carries_retry_delay() {
        let status = Status::from(AppError::ResourceExhausted {
            message: "too many attempts".into(),
            retry_after: Duration::from_secs(30),
        });
        let details = status.get_error_details();
        let retry = details.retry_info().expect("retry info detail");
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(30)));
    }
}
