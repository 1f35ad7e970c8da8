//! Channels for calls to other services of the mesh. Every call carries the caller's trace
//! context and a deadline (`grpc-timeout`), so no request waits forever on a neighbour and the
//! trace continues across the hop.

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use astro_proto::astrobookings::common::v1::MeshService;

use http::{HeaderValue, Request};
use tonic::{
    body::Body,
    transport::{Channel, Endpoint},
};

use crate::service_auth::{SERVICE_TOKEN_HEADER, ServiceIdentity};

/// Opens a channel that connects on first use (and reconnects), so a process starts even
/// while its neighbours are still down.
pub fn lazy_channel(url: &str, connect_timeout: Duration) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|error| anyhow::anyhow!("invalid upstream URL {url:?}: {error}"))?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    Ok(endpoint.connect_lazy())
}

/// A channel that injects trace context and a default deadline into every request, and the
/// caller's service token when it is [`Self::signed_by`] an identity.
#[derive(Debug, Clone)]
pub struct TracedChannel {
    inner: Channel,
    default_deadline: Duration,
    credentials: Option<(Arc<ServiceIdentity>, MeshService)>,
}

impl TracedChannel {
    /// Wraps `inner`; a request without its own `grpc-timeout` gets `default_deadline`.
    pub fn new(inner: Channel, default_deadline: Duration) -> Self {
        Self {
            inner,
            default_deadline,
            credentials: None,
        }
    }

    /// Every request carries a service token of `identity` for `callee`: how a service calls
    /// another's internal RPCs.
    #[must_use]
    pub fn signed_by(mut self, identity: &Arc<ServiceIdentity>, callee: MeshService) -> Self {
        self.credentials = Some((Arc::clone(identity), callee));
        self
    }

    /// A [`lazy_channel`] to `url` (2 s connect timeout), traced, with `default_deadline`:
    /// how every process reaches its neighbours.
    pub fn lazy(url: &str, default_deadline: Duration) -> anyhow::Result<Self> {
        Ok(Self::new(
            lazy_channel(url, CONNECT_TIMEOUT)?,
            default_deadline,
        ))
    }
}

/// Whether a call failed because its deadline (`grpc-timeout`) passed before the answer came.
/// tonic's channel reports that as its own error (`TimeoutExpired`), not as a status of the
/// callee, so it looks like a broken connection unless asked for by type.
pub fn deadline_passed(error: &(dyn std::error::Error + 'static)) -> bool {
    crate::telemetry::causes(error).any(|cause| cause.is::<tonic::TimeoutExpired>())
}

/// How long connecting to a neighbour may take before the call fails as UNAVAILABLE.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl tower::Service<Request<Body>> for TracedChannel {
    type Response = <Channel as tower::Service<Request<Body>>>::Response;
    type Error = <Channel as tower::Service<Request<Body>>>::Error;
    type Future = <Channel as tower::Service<Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        crate::telemetry::inject_context(&tracing::Span::current(), request.headers_mut());
        ensure_deadline(request.headers_mut(), self.default_deadline);
        if let Some((identity, callee)) = &self.credentials {
            // Signing cannot fail with a loaded key; if it ever did, the callee refuses the call
            // as UNAUTHENTICATED, which says more than a transport error would.
            match identity
                .token_for(*callee)
                .map(|token| HeaderValue::from_str(&token))
            {
                Ok(Ok(token)) => {
                    request.headers_mut().insert(SERVICE_TOKEN_HEADER, token);
                }
                Ok(Err(error)) => tracing::error!(%error, "service token is not a header value"),
                Err(error) => tracing::error!(%error, "cannot sign a service token"),
            }
        }
        tower::Service::call(&mut self.inner, request)
    }
}

/// Sets `grpc-timeout` to `deadline` unless the request already carries a shorter one.
pub fn ensure_deadline(headers: &mut http::HeaderMap, deadline: Duration) {
    let existing = headers
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_grpc_timeout);
    if existing.is_some_and(|existing| existing <= deadline) {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&format_grpc_timeout(deadline)) {
        headers.insert("grpc-timeout", value);
    }
}

/// Parses a `grpc-timeout` value (`<digits><unit>`, unit one of `H M S m u n`).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// Formats a deadline as `grpc-timeout` (at most 8 digits, in milliseconds or coarser).
pub fn format_grpc_timeout(deadline: Duration) -> String {
    let millis = deadline.as_millis();
    if millis < 100_000_000 {
        format!("{millis}m")
    } else {
        format!("{}S", deadline.as_secs().min(99_999_999))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_round_trips() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout("123456789m"), None);
        assert_eq!(format_grpc_timeout(Duration::from_millis(1500)), "1500m");
    }

    #[test]
    fn shorter_caller_deadline_is_kept_and_longer_is_capped() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", HeaderValue::from_static("100m"));
        ensure_deadline(&mut headers, Duration::from_secs(5));
        assert_eq!(headers["grpc-timeout"], "100m");

        headers.insert("grpc-timeout", HeaderValue::from_static("60S"));
        ensure_deadline(&mut headers, Duration::from_secs(5));
        assert_eq!(headers["grpc-timeout"], "5000m");

        headers.remove("grpc-timeout");
        ensure_deadline(&mut headers, Duration::from_secs(5));
        assert_eq!(headers["grpc-timeout"], "5000m");
    }
}
