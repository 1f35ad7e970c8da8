//! Health as seen from outside: the gateway answers `grpc.health.v1` for each public service
//! by asking the upstream that serves it, and `/readyz` is ready only when every upstream is
//! SERVING.

use std::{pin::Pin, time::Duration};

use futures::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};
use tonic_health::pb::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
    health_client::HealthClient, health_server::Health,
};

use crate::upstream::{Upstream, Upstreams};

const UPSTREAM_HEALTH_DEADLINE: Duration = Duration::from_secs(2);

/// `grpc.health.v1.Health` of the gateway, forwarded per service to its upstream.
#[derive(Clone)]
pub struct GatewayHealth {
    upstreams: Upstreams,
}

impl GatewayHealth {
    pub fn new(upstreams: Upstreams) -> Self {
        Self { upstreams }
    }

    fn upstream(&self, service: &str) -> Result<&Upstream, Status> {
        self.upstreams
            .by_service(service)
            .ok_or_else(|| Status::not_found(format!("unknown service {service:?}")))
    }
}

/// Asks `upstream` for the health of its public service.
pub async fn check_upstream(upstream: &Upstream) -> Result<ServingStatus, Status> {
    let mut request = Request::new(HealthCheckRequest {
        service: upstream.service.clone(),
    });
    request.set_timeout(UPSTREAM_HEALTH_DEADLINE);
    let response = HealthClient::new(upstream.channel.clone())
        .check(request)
        .await?;
    Ok(response.into_inner().status())
}

/// Every upstream's status, in a fixed order.
pub async fn check_all(upstreams: &Upstreams) -> Vec<(&Upstream, Result<ServingStatus, Status>)> {
    let checks = upstreams
        .iter()
        .map(|upstream| async move { (upstream, check_upstream(upstream).await) });
    futures::future::join_all(checks).await
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for GatewayHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = request.into_inner().service;
        // The empty name means the gateway as a whole: serving when every upstream is.
        let status = if service.is_empty() {
            let all_serving = check_all(&self.upstreams)
                .await
                .iter()
                .all(|(_, status)| matches!(status, Ok(ServingStatus::Serving)));
            if all_serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            }
        } else {
            check_upstream(self.upstream(&service)?).await?
        };
        Ok(Response::new(HealthCheckResponse {
            status: status.into(),
        }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let service = request.into_inner().service;
        let upstream = self.upstream(&service)?;
        let stream = HealthClient::new(upstream.channel.clone())
            .watch(HealthCheckRequest { service })
            .await?
            .into_inner();
        Ok(Response::new(stream.boxed()))
    }
}
