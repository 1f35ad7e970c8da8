//! The public services the gateway exposes and where each one runs. Internal services
//! (`...InternalService`) are deliberately absent, so no outside caller can reach them.

use std::{sync::Arc, time::Duration};

use astro_proto::astrobookings::{
    agency::v1::agency_service_server, booking::v1::booking_service_server,
    finance::v1::finance_service_server, notify::v1::notify_service_server,
    system::v1::system_service_server,
};
use astro_shared::grpc_client::{CONNECT_TIMEOUT, TracedChannel, lazy_channel};

/// One upstream process and the public gRPC service it serves.
#[derive(Clone)]
pub struct Upstream {
    /// A short name for logs and `/readyz` (`system`, `agency`, ...).
    pub name: String,
    /// The fully-qualified gRPC service name, e.g. `astrobookings.booking.v1.BookingService`.
    pub service: String,
    pub url: String,
    /// For the calls that give their own deadline (REST, the gRPC proxy, health checks): it
    /// reaches the upstream unchanged up to the longest the gateway gives (a long stream's).
    pub channel: TracedChannel,
    /// The same connection with the default deadline as ceiling, for calls made on the
    /// gateway's own behalf (the JWKS).
    capped: TracedChannel,
}

/// Every public upstream, looked up by gRPC service name. Shared, not copied: the gateway's
/// state is cloned for every request, and copying each upstream's channels and names was a
/// measurable part of the CPU of a relayed call.
#[derive(Clone)]
pub struct Upstreams {
    upstreams: Arc<[Upstream]>,
}

/// Where each public service runs.
#[derive(Debug, Clone)]
pub struct UpstreamUrls {
    pub system: String,
    pub agency: String,
    pub booking: String,
    pub finance: String,
    pub notify: String,
    /// More public services and where they run: (short name, gRPC service name, URL). Empty in
    /// production; tests add a stand-in service compiled from their own contract.
    pub extra: Vec<(String, String, String)>,
}

impl Upstreams {
    /// Lazy channels to every upstream: the gateway starts even while they are down.
    /// `longest_deadline` is the longest any route gives its upstream call: a channel's own
    /// deadline is a ceiling, and one at `default_deadline` would cut a longer route's to it.
    pub fn connect(
        urls: &UpstreamUrls,
        default_deadline: Duration,
        longest_deadline: Duration,
    ) -> anyhow::Result<Self> {
        let standard = [
            ("system", system_service_server::SERVICE_NAME, &urls.system),
            ("agency", agency_service_server::SERVICE_NAME, &urls.agency),
            (
                "booking",
                booking_service_server::SERVICE_NAME,
                &urls.booking,
            ),
            (
                "finance",
                finance_service_server::SERVICE_NAME,
                &urls.finance,
            ),
            ("notify", notify_service_server::SERVICE_NAME, &urls.notify),
        ];
        let targets = standard
            .into_iter()
            .map(|(name, service, url)| (name.to_owned(), service.to_owned(), url.clone()))
            .chain(urls.extra.iter().cloned());
        let upstreams = targets
            .map(|(name, service, url)| {
                let connection = lazy_channel(&url, CONNECT_TIMEOUT)?;
                Ok(Upstream {
                    name,
                    service,
                    url,
                    channel: TracedChannel::new(
                        connection.clone(),
                        longest_deadline.max(default_deadline),
                    ),
                    capped: TracedChannel::new(connection, default_deadline),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            upstreams: upstreams.into(),
        })
    }

    /// The upstream serving the gRPC service `service` (fully qualified), if it is public.
    pub fn by_service(&self, service: &str) -> Option<&Upstream> {
        self.upstreams
            .iter()
            .find(|upstream| upstream.service == service)
    }

    /// SystemAPI's channel with the default deadline (for the JWKS).
    pub fn system_channel(&self) -> Option<TracedChannel> {
        self.by_service(system_service_server::SERVICE_NAME)
            .map(|upstream| upstream.capped.clone())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Upstream> {
        self.upstreams.iter()
    }

    /// The gRPC names of every public service.
    pub fn service_names(&self) -> Vec<&str> {
        self.upstreams
            .iter()
            .map(|upstream| upstream.service.as_str())
            .collect()
    }
}
