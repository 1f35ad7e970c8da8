//! gRPC adapters of AgencyAPI: decode, authorize, call the domain, encode. RPCs that no issue
//! has built yet keep the generated default and answer UNIMPLEMENTED.

use astro_proto::astrobookings::agency::v1::{
    agency_internal_service_server::AgencyInternalService, agency_service_server::AgencyService,
};

use crate::State;

/// Serves both the public `AgencyService` and the internal `AgencyInternalService`.
#[derive(Clone)]
pub struct AgencyApi {
    #[expect(dead_code, reason = "read by the RPCs that the AgencyAPI issue builds")]
    state: State,
}

impl AgencyApi {
    pub fn new(state: State) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl AgencyService for AgencyApi {}

#[tonic::async_trait]
impl AgencyInternalService for AgencyApi {}
