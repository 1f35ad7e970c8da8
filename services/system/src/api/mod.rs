//! gRPC adapters of SystemAPI: decode, call the domain, encode. Who may call what is enforced
//! before these run, by the auth layer from the contracts' access options. RPCs that no issue
//! has built yet keep the generated default and answer UNIMPLEMENTED.

use astro_proto::astrobookings::system::v1::{
    BatchGetUsersRequest, BatchGetUsersResponse, ChangePasswordRequest, ChangePasswordResponse,
    ConfirmEmailRequest, ConfirmEmailResponse, CreateAccountRequest, CreateAccountResponse,
    CreateEmployeeRequest, CreateEmployeeResponse, DeleteAccountRequest, DeleteAccountResponse,
    DisableUserRequest, DisableUserResponse, EnableUserRequest, EnableUserResponse,
    GetCurrentUserRequest, GetCurrentUserResponse, GetJwksRequest, GetJwksResponse, GetUserRequest,
    GetUserResponse, ListEmployeesRequest, ListEmployeesResponse, ListUsersByRoleRequest,
    ListUsersByRoleResponse, ListUsersRequest, ListUsersResponse, LoginRequest, LoginResponse,
    LogoutRequest, LogoutResponse, RefreshTokensRequest, RefreshTokensResponse, RegisterRequest,
    RegisterResponse, UpdateCurrentUserRequest, UpdateCurrentUserResponse,
    system_internal_service_server::SystemInternalService, system_service_server::SystemService,
};
use astro_shared::{auth::caller, telemetry::current_traceparent};
use tonic::{Request, Response, Status, codegen::BoxStream};

// Activity logs (ListLogs, ExportLogs, IngestLogs) live in their own module.
pub mod logs;

use astro_proto::astrobookings::system::v1::{
    ExportLogsRequest, ExportLogsResponse, IngestLogsRequest, IngestLogsResponse, ListLogsRequest,
    ListLogsResponse,
};

use crate::{State, accounts::ClientInfo, domain, store::users::UserFilter};

/// Serves both the public `SystemService` and the internal `SystemInternalService`.
#[derive(Clone)]
pub struct SystemApi {
    state: State,
}

impl SystemApi {
    pub fn new(state: State) -> Self {
        Self { state }
    }
}

/// The client address and the trace to record. SystemAPI's callers are the gateway, which sets
/// `x-forwarded-for` to the one address it saw: the rightmost entry (one trusted hop), else the
/// peer. IPv6 clients count per /64 network, as in the gateway's rate limits.
fn client_info<T>(request: &Request<T>) -> ClientInfo {
    let forwarded = request
        .metadata()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| astro_shared::client_address::from_forwarded_for(value, 1));
    let address = forwarded
        .or_else(|| request.remote_addr().map(|peer| peer.ip()))
        .map_or_else(
            || "unknown".to_owned(),
            astro_shared::client_address::bucket,
        );
    ClientInfo {
        address,
        traceparent: current_traceparent(),
    }
}

#[tonic::async_trait]
impl SystemService for SystemApi {
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let client = client_info(&request);
        let input = request.into_inner();
        let user = self
            .state
            .accounts
            .register(
                &input.email,
                input.password,
                &input.name,
                input.role,
                &client,
            )
            .await?;
        Ok(Response::new(RegisterResponse {
            user: Some(user.to_proto()),
        }))
    }

    async fn confirm_email(
        &self,
        request: Request<ConfirmEmailRequest>,
    ) -> Result<Response<ConfirmEmailResponse>, Status> {
        let user = self
            .state
            .accounts
            .confirm_email(&request.into_inner().token)
            .await?;
        Ok(Response::new(ConfirmEmailResponse {
            user: Some(user.to_proto()),
        }))
    }

    async fn login(
        &self,
        request: Request<LoginRequest>,
    ) -> Result<Response<LoginResponse>, Status> {
        let client = client_info(&request);
        let input = request.into_inner();
        let session = self
            .state
            .accounts
            .login(&input.email, input.password, &client)
            .await?;
        Ok(Response::new(LoginResponse {
            tokens: Some(session.tokens),
            user: Some(session.user.to_proto()),
        }))
    }

    async fn refresh_tokens(
        &self,
        request: Request<RefreshTokensRequest>,
    ) -> Result<Response<RefreshTokensResponse>, Status> {
        let session = self
            .state
            .accounts
            .refresh(&request.into_inner().refresh_token)
            .await?;
        Ok(Response::new(RefreshTokensResponse {
            tokens: Some(session.tokens),
        }))
    }

    async fn logout(
        &self,
        request: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        let caller = caller(&request)?.clone();
        self.state
            .accounts
            .logout(&caller, &request.into_inner().refresh_token)
            .await?;
        Ok(Response::new(LogoutResponse {}))
    }

    async fn get_current_user(
        &self,
        request: Request<GetCurrentUserRequest>,
    ) -> Result<Response<GetCurrentUserResponse>, Status> {
        let user = self.state.accounts.me(caller(&request)?).await?;
        Ok(Response::new(GetCurrentUserResponse {
            user: Some(user.to_proto()),
        }))
    }

    async fn update_current_user(
        &self,
        request: Request<UpdateCurrentUserRequest>,
    ) -> Result<Response<UpdateCurrentUserResponse>, Status> {
        let caller = caller(&request)?.clone();
        let user = match request.into_inner().name {
            Some(name) => self.state.accounts.rename(&caller, &name).await?,
            None => self.state.accounts.me(&caller).await?,
        };
        Ok(Response::new(UpdateCurrentUserResponse {
            user: Some(user.to_proto()),
        }))
    }

    async fn change_password(
        &self,
        request: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let caller = caller(&request)?.clone();
        let input = request.into_inner();
        self.state
            .accounts
            .change_password(&caller, input.current_password, input.new_password)
            .await?;
        Ok(Response::new(ChangePasswordResponse {}))
    }

    async fn create_employee(
        &self,
        request: Request<CreateEmployeeRequest>,
    ) -> Result<Response<CreateEmployeeResponse>, Status> {
        let client = client_info(&request);
        let admin = caller(&request)?.clone();
        let input = request.into_inner();
        let user = self
            .state
            .accounts
            .create_employee(
                &admin,
                &input.email,
                input.password,
                &input.name,
                input.role,
                &client,
            )
            .await?;
        Ok(Response::new(CreateEmployeeResponse {
            user: Some(user.to_proto()),
        }))
    }

    async fn list_employees(
        &self,
        request: Request<ListEmployeesRequest>,
    ) -> Result<Response<ListEmployeesResponse>, Status> {
        let input = request.into_inner();
        let filter = UserFilter {
            roles: domain::employee_listing_roles(input.role)?,
            disabled: (!input.include_disabled).then_some(false),
            text: None,
        };
        let page = self
            .state
            .accounts
            .list_users(&filter, &input.page_token, input.page_size)
            .await?;
        Ok(Response::new(ListEmployeesResponse {
            employees: page.users,
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let input = request.into_inner();
        let filter = UserFilter {
            roles: domain::user_listing_roles(input.role)?,
            disabled: input.disabled,
            text: domain::user_query(&input.query)?,
        };
        let page = self
            .state
            .accounts
            .list_users(&filter, &input.page_token, input.page_size)
            .await?;
        Ok(Response::new(ListUsersResponse {
            users: page.users,
            next_page_token: page.next_page_token,
            total_size: i64::try_from(page.total).unwrap_or(i64::MAX),
        }))
    }

    async fn disable_user(
        &self,
        request: Request<DisableUserRequest>,
    ) -> Result<Response<DisableUserResponse>, Status> {
        let admin = caller(&request)?.clone();
        let user = self
            .state
            .accounts
            .set_disabled(&admin, &request.into_inner().id, true)
            .await?;
        Ok(Response::new(DisableUserResponse { user: Some(user) }))
    }

    async fn enable_user(
        &self,
        request: Request<EnableUserRequest>,
    ) -> Result<Response<EnableUserResponse>, Status> {
        let admin = caller(&request)?.clone();
        let user = self
            .state
            .accounts
            .set_disabled(&admin, &request.into_inner().id, false)
            .await?;
        Ok(Response::new(EnableUserResponse { user: Some(user) }))
    }

    async fn get_jwks(
        &self,
        _request: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        Ok(Response::new(GetJwksResponse {
            keys: self.state.jwks.clone(),
        }))
    }

    async fn list_logs(
        &self,
        request: Request<ListLogsRequest>,
    ) -> Result<Response<ListLogsResponse>, Status> {
        Ok(Response::new(
            logs::list_logs(&self.state.logs, request.into_inner()).await?,
        ))
    }

    async fn export_logs(
        &self,
        request: Request<ExportLogsRequest>,
    ) -> Result<Response<BoxStream<ExportLogsResponse>>, Status> {
        let it = caller(&request)?.clone();
        let input = request.into_inner();
        let format = input.format.trim().to_ascii_lowercase();
        let chunks = logs::export_logs(&self.state.logs, input).await?;
        // Exporting logs takes data out of the platform: worth an entry of its own.
        self.state.activity.info(
            "logs.exported",
            Some(&it.user_id),
            "activity logs exported",
            &[("format", if format.is_empty() { "csv" } else { &format })],
        );
        Ok(Response::new(chunks))
    }
}

#[tonic::async_trait]
impl SystemInternalService for SystemApi {
    async fn ingest_logs(
        &self,
        request: Request<IngestLogsRequest>,
    ) -> Result<Response<IngestLogsResponse>, Status> {
        Ok(Response::new(
            logs::ingest_logs(&self.state.logs, request.into_inner()).await?,
        ))
    }

    async fn create_account(
        &self,
        request: Request<CreateAccountRequest>,
    ) -> Result<Response<CreateAccountResponse>, Status> {
        let client = client_info(&request);
        let input = request.into_inner();
        let account = self
            .state
            .accounts
            .create_for_registration_flow(
                &input.idempotency_key,
                &input.email,
                input.password,
                &input.name,
                input.role,
                &client,
            )
            .await?;
        Ok(Response::new(CreateAccountResponse {
            user: Some(account.user.to_proto()),
            created: account.created,
        }))
    }

    async fn delete_account(
        &self,
        request: Request<DeleteAccountRequest>,
    ) -> Result<Response<DeleteAccountResponse>, Status> {
        let client = client_info(&request);
        let input = request.into_inner();
        let deleted = self
            .state
            .accounts
            .delete_unused_registration(&input.user_id, &input.reason, &client)
            .await?;
        Ok(Response::new(DeleteAccountResponse { deleted }))
    }

    async fn get_user(
        &self,
        request: Request<GetUserRequest>,
    ) -> Result<Response<GetUserResponse>, Status> {
        let user = self
            .state
            .accounts
            .get_user(&request.into_inner().user_id)
            .await?;
        Ok(Response::new(GetUserResponse { user: Some(user) }))
    }

    async fn batch_get_users(
        &self,
        request: Request<BatchGetUsersRequest>,
    ) -> Result<Response<BatchGetUsersResponse>, Status> {
        let batch = self
            .state
            .accounts
            .batch_get_users(&request.into_inner().user_ids)
            .await?;
        Ok(Response::new(BatchGetUsersResponse {
            users: batch.users,
            missing_user_ids: batch.missing_user_ids,
        }))
    }

    async fn list_users_by_role(
        &self,
        request: Request<ListUsersByRoleRequest>,
    ) -> Result<Response<ListUsersByRoleResponse>, Status> {
        let input = request.into_inner();
        let page = self
            .state
            .accounts
            .list_contacts(input.role, &input.page_token, input.page_size)
            .await?;
        Ok(Response::new(ListUsersByRoleResponse {
            contacts: page.contacts,
            next_page_token: page.next_page_token,
        }))
    }
}
