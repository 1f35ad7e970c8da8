//! gRPC adapters of SystemAPI: decode, authorize, call the domain, encode. RPCs that no issue
//! has built yet keep the generated default and answer UNIMPLEMENTED.

use astro_proto::astrobookings::system::v1::{
    system_internal_service_server::SystemInternalService, system_service_server::SystemService,
};

use crate::State;

/// Serves both the public `SystemService` and the internal `SystemInternalService`.
#[derive(Clone)]
pub struct SystemApi {
    #[expect(dead_code, reason = "read by the RPCs that the SystemAPI issue builds")]
    state: State,
}

impl SystemApi {
    pub fn new(state: State) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl SystemService for SystemApi {}

#[tonic::async_trait]
impl SystemInternalService for SystemApi {}
