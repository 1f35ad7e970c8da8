//! The other services BookingAPI calls, as adapters with plain inputs and answers: FinanceAPI
//! (all money) and SystemAPI (accounts). Their errors come back typed, as the errors the callee
//! answered ([`answered`]); the use cases re-map what they expect and pass the rest to
//! [`unexpected`].

pub mod finance;
pub mod system;

use astro_shared::AppError;
use tonic::{Code, Status};

/// A callee's error status as the error it was made from (`AppError::from`, the exact inverse
/// of the mesh's mapping), except CANCELLED, which no `AppError` answers: the call, or the
/// callee's own request, ran out of time, so the callee counts as unavailable.
pub fn answered(dependency: &'static str, status: Status) -> AppError {
    if status.code() == Code::Cancelled {
        return AppError::upstream(dependency, status);
    }
    AppError::from(status)
}

/// A callee's error the use case has no meaning for, as `AppError::upstream` sees a raw status:
/// the callee unreachable, slow or out of capacity is this request's dependency failure (the
/// client may retry); anything else is unexpected here (INTERNAL, its text kept for the log).
pub fn unexpected(dependency: &'static str, error: AppError) -> AppError {
    match error {
        AppError::Unavailable { .. }
        | AppError::DeadlineExceeded
        | AppError::ResourceExhausted { .. } => AppError::unavailable(dependency, error),
        AppError::Internal(cause) => {
            AppError::Internal(cause.context(format!("{dependency} answered an internal error")))
        }
        other => AppError::internal(anyhow::anyhow!("{dependency} answered {other}")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn unexpected_answers_are_retryable_only_when_the_callee_could_not_serve() {
        let code = |status: Status| unexpected("FinanceAPI", answered("FinanceAPI", status)).code();
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
        let unavailable = Status::from(unexpected(
            "FinanceAPI",
            answered("FinanceAPI", Status::unavailable("down")),
        ));
        assert_eq!(
            astro_shared::error::unavailable_dependency(&unavailable).as_deref(),
            Some("FinanceAPI"),
            "named for the service we called"
        );
    }
}
