//! gRPC adapters of FinanceAPI: decode the request into domain input, call the use case,
//! encode the answer. Who may call what is enforced before these run, by the auth layer from the
//! contracts' access options. RPCs that no issue has built yet keep the generated default and
//! answer UNIMPLEMENTED.

mod convert;
mod internal;

use astro_proto::astrobookings::finance::v1::finance_service_server::FinanceService;

use crate::State;

/// Serves both the public `FinanceService` and the internal `FinanceInternalService`.
#[derive(Clone)]
pub struct FinanceApi {
    state: State,
}

impl FinanceApi {
    pub fn new(state: State) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl FinanceService for FinanceApi {}
