//! gRPC adapters of SystemAPI: decode the request into domain input, call the use case, encode
//! the answer (`convert`). Who may call what is enforced before these run, by the auth layer
//! from the contracts' access options; the caller is in the request's extensions. RPCs that no
//! issue has built yet keep the generated default and answer UNIMPLEMENTED.

pub mod convert;
pub mod internal;
pub mod monitoring;

use astro_proto::astrobookings::system::v1::{
    ChangePasswordRequest, ChangePasswordResponse, ConfirmEmailRequest, ConfirmEmailResponse,
    CreateEmployeeRequest, CreateEmployeeResponse, DisableUserRequest, DisableUserResponse,
    EnableUserRequest, EnableUserResponse, ExportLogsRequest, ExportLogsResponse,
    GetCurrentUserRequest, GetCurrentUserResponse, GetJwksRequest, GetJwksResponse,
    GetSyncJobRequest, GetSyncJobResponse, GetSystemStatusRequest, GetSystemStatusResponse, Jwk,
    ListEmployeesRequest, ListEmployeesResponse, ListLogsRequest, ListLogsResponse,
    ListSyncJobsRequest, ListSyncJobsResponse, ListSystemMetricsRequest, ListSystemMetricsResponse,
    ListUsersRequest, ListUsersResponse, LoginRequest, LoginResponse, LogoutRequest,
    LogoutResponse, RefreshTokensRequest, RefreshTokensResponse, RegisterRequest, RegisterResponse,
    StartSyncJobRequest, StartSyncJobResponse, UpdateCurrentUserRequest, UpdateCurrentUserResponse,
    WatchSyncJobRequest, WatchSyncJobResponse, system_service_server::SystemService,
};
use astro_shared::{auth::caller, telemetry::current_traceparent};
use futures::{StreamExt as _, TryStreamExt as _};
use tonic::{Request, Response, Status, codegen::BoxStream};

use crate::{
    app::{
        ClientInfo,
        admin::Admin,
        directory::Directory,
        logs::{LogIngest, Logs},
        monitoring::Monitoring,
        registration::Registration,
        sessions::Sessions,
        sync_jobs::SyncJobs,
        tokens::Tokens,
    },
    domain::accounts::{
        NewAccount, UserFilter, employee_listing_roles, employee_role, self_registration_role,
        user_listing_roles, user_query,
    },
    domain::sync_jobs::parse_job_id,
};
use convert::LogQuery as _;

/// The use cases the RPCs call.
#[derive(Clone)]
pub struct State {
    pub registration: Registration,
    pub sessions: Sessions,
    pub admin: Admin,
    pub directory: Directory,
    /// IT's reading of the activity logs.
    pub logs: Logs,
    /// Every service's activity log entries, stored.
    pub ingest: LogIngest,
    /// The public keys published as JWKS.
    pub jwks: Vec<Jwk>,
    /// ValidateToken for the mesh.
    pub tokens: Tokens,
    /// IT's synchronization jobs.
    pub sync_jobs: SyncJobs,
    /// Metric windows and the system status.
    pub monitoring: Monitoring,
}

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
        let account = NewAccount::parse(&input.email, &input.password, &input.name)?;
        let role = self_registration_role(input.role)?;
        let user = self
            .state
            .registration
            .register(account, input.password, role, &client)
            .await?;
        Ok(Response::new(RegisterResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn confirm_email(
        &self,
        request: Request<ConfirmEmailRequest>,
    ) -> Result<Response<ConfirmEmailResponse>, Status> {
        let user = self
            .state
            .registration
            .confirm_email(&request.into_inner().token)
            .await?;
        Ok(Response::new(ConfirmEmailResponse {
            user: Some(convert::user(&user)),
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
            .sessions
            .login(&input.email, input.password, &client)
            .await?;
        Ok(Response::new(LoginResponse {
            user: Some(convert::user(&session.account)),
            tokens: Some(convert::token_pair(session.tokens)),
        }))
    }

    async fn refresh_tokens(
        &self,
        request: Request<RefreshTokensRequest>,
    ) -> Result<Response<RefreshTokensResponse>, Status> {
        let session = self
            .state
            .sessions
            .refresh(&request.into_inner().refresh_token)
            .await?;
        Ok(Response::new(RefreshTokensResponse {
            tokens: Some(convert::token_pair(session.tokens)),
        }))
    }

    async fn logout(
        &self,
        request: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        let caller = caller(&request)?.clone();
        self.state
            .sessions
            .logout(&caller, &request.into_inner().refresh_token)
            .await?;
        Ok(Response::new(LogoutResponse {}))
    }

    async fn get_current_user(
        &self,
        request: Request<GetCurrentUserRequest>,
    ) -> Result<Response<GetCurrentUserResponse>, Status> {
        let user = self.state.sessions.me(caller(&request)?).await?;
        Ok(Response::new(GetCurrentUserResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn update_current_user(
        &self,
        request: Request<UpdateCurrentUserRequest>,
    ) -> Result<Response<UpdateCurrentUserResponse>, Status> {
        let caller = caller(&request)?.clone();
        let user = match request.into_inner().name {
            Some(name) => {
                self.state
                    .sessions
                    .rename(&caller, &name, &current_traceparent())
                    .await?
            }
            None => self.state.sessions.me(&caller).await?,
        };
        Ok(Response::new(UpdateCurrentUserResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn change_password(
        &self,
        request: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let caller = caller(&request)?.clone();
        let input = request.into_inner();
        self.state
            .sessions
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
        let account = NewAccount::parse(&input.email, &input.password, &input.name)?;
        let role = employee_role(input.role)?;
        let user = self
            .state
            .admin
            .create_employee(&admin, account, input.password, role, &client)
            .await?;
        Ok(Response::new(CreateEmployeeResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn list_employees(
        &self,
        request: Request<ListEmployeesRequest>,
    ) -> Result<Response<ListEmployeesResponse>, Status> {
        let input = request.into_inner();
        let filter = UserFilter {
            roles: employee_listing_roles(input.role)?,
            disabled: (!input.include_disabled).then_some(false),
            text: None,
        };
        let page = self
            .state
            .admin
            .list_employees(&filter, &input.page_token, input.page_size)
            .await?;
        Ok(Response::new(ListEmployeesResponse {
            employees: page.items.iter().map(convert::user).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let input = request.into_inner();
        let filter = UserFilter {
            roles: user_listing_roles(input.role)?,
            disabled: input.disabled,
            text: user_query(&input.query)?,
        };
        let listed = self
            .state
            .admin
            .list_users(&filter, &input.page_token, input.page_size)
            .await?;
        Ok(Response::new(ListUsersResponse {
            users: listed.page.items.iter().map(convert::user).collect(),
            next_page_token: listed.page.next_page_token,
            total_size: i64::try_from(listed.total).unwrap_or(i64::MAX),
        }))
    }

    async fn disable_user(
        &self,
        request: Request<DisableUserRequest>,
    ) -> Result<Response<DisableUserResponse>, Status> {
        let admin = caller(&request)?.clone();
        let user = self
            .state
            .admin
            .set_disabled(
                &admin,
                &request.into_inner().id,
                true,
                &current_traceparent(),
            )
            .await?;
        Ok(Response::new(DisableUserResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn enable_user(
        &self,
        request: Request<EnableUserRequest>,
    ) -> Result<Response<EnableUserResponse>, Status> {
        let admin = caller(&request)?.clone();
        let user = self
            .state
            .admin
            .set_disabled(
                &admin,
                &request.into_inner().id,
                false,
                &current_traceparent(),
            )
            .await?;
        Ok(Response::new(EnableUserResponse {
            user: Some(convert::user(&user)),
        }))
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
        let input = request.into_inner();
        let (filter, order) = input.log_query()?;
        let page = self
            .state
            .logs
            .list(&filter, order, &input.page_token, input.page_size)
            .await?;
        Ok(Response::new(ListLogsResponse {
            entries: page.items.iter().map(convert::log_entry).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    /// Streams the export: each chunk is read from SystemDB as the client takes the previous
    /// one, never collected here.
    async fn export_logs(
        &self,
        request: Request<ExportLogsRequest>,
    ) -> Result<Response<BoxStream<ExportLogsResponse>>, Status> {
        let it = caller(&request)?.clone();
        let input = request.into_inner();
        let (filter, order) = input.log_query()?;
        let format = convert::export_format(&input.format)?;
        let chunks = self
            .state
            .logs
            .export(&it, &filter, order, format)
            .await?
            .map_ok(convert::export_chunk)
            .map_err(Status::from)
            .boxed();
        Ok(Response::new(chunks))
    }

    async fn start_sync_job(
        &self,
        request: Request<StartSyncJobRequest>,
    ) -> Result<Response<StartSyncJobResponse>, Status> {
        let it = caller(&request)?.clone();
        let data_sets = convert::start_data_sets(&request.get_ref().data_sets)?;
        let started = self
            .state
            .sync_jobs
            .start(&it, &data_sets, &current_traceparent())
            .await?;
        Ok(Response::new(StartSyncJobResponse {
            started_jobs: started.started.iter().map(convert::sync_job).collect(),
            running_jobs: started.running.iter().map(convert::sync_job).collect(),
        }))
    }

    async fn list_sync_jobs(
        &self,
        request: Request<ListSyncJobsRequest>,
    ) -> Result<Response<ListSyncJobsResponse>, Status> {
        let input = request.into_inner();
        let filter = convert::job_filter(&input)?;
        let page = self
            .state
            .sync_jobs
            .list(&filter, &input.page_token, input.page_size)
            .await?;
        Ok(Response::new(ListSyncJobsResponse {
            jobs: page.items.iter().map(convert::sync_job).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_sync_job(
        &self,
        request: Request<GetSyncJobRequest>,
    ) -> Result<Response<GetSyncJobResponse>, Status> {
        let id = parse_job_id(&request.get_ref().id)?;
        let job = self.state.sync_jobs.get(&id).await?;
        Ok(Response::new(GetSyncJobResponse {
            job: Some(convert::sync_job(&job)),
        }))
    }

    async fn watch_sync_job(
        &self,
        request: Request<WatchSyncJobRequest>,
    ) -> Result<Response<BoxStream<WatchSyncJobResponse>>, Status> {
        let updates = self
            .state
            .sync_jobs
            .watch(&parse_job_id(&request.get_ref().id)?)
            .await?
            .map_ok(|job| WatchSyncJobResponse {
                job: Some(convert::sync_job(&job)),
            })
            .map_err(Status::from)
            .boxed();
        Ok(Response::new(updates))
    }

    async fn get_system_status(
        &self,
        _request: Request<GetSystemStatusRequest>,
    ) -> Result<Response<GetSystemStatusResponse>, Status> {
        let health = self.state.monitoring.status().await;
        Ok(Response::new(monitoring::system_status(health)))
    }

    async fn list_system_metrics(
        &self,
        request: Request<ListSystemMetricsRequest>,
    ) -> Result<Response<ListSystemMetricsResponse>, Status> {
        let input = request.into_inner();
        let filter = monitoring::metric_filter(&input)?;
        let page = self
            .state
            .monitoring
            .list(&filter, &input.page_token, input.page_size)
            .await?;
        Ok(Response::new(ListSystemMetricsResponse {
            metrics: page
                .items
                .into_iter()
                .map(monitoring::system_metric)
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }
}
