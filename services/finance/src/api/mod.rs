//! gRPC adapters of FinanceAPI: decode, authorize, call the domain, encode. RPCs that no issue
//! has built yet keep the generated default and answer UNIMPLEMENTED.

use astro_proto::astrobookings::finance::v1::{
    finance_internal_service_server::FinanceInternalService, finance_service_server::FinanceService,
};

use crate::State;

/// Serves both the public `FinanceService` and the internal `FinanceInternalService`.
#[derive(Clone)]
pub struct FinanceApi {
    #[expect(
        dead_code,
        reason = "read by the RPCs that the FinanceAPI issue builds"
    )]
    state: State,
}

impl FinanceApi {
    pub fn new(state: State) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl FinanceService for FinanceApi {}

#[tonic::async_trait]
impl FinanceInternalService for FinanceApi {}
