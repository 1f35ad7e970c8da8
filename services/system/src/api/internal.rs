//! `SystemInternalService`: what the other services of the mesh ask of SystemAPI (log
//! ingestion, registration flows' accounts and their undoing, account look-ups), and the same
//! ingestion for SystemAPI's own activity log.

use astro_proto::astrobookings::system::v1::{
    BatchGetUsersRequest, BatchGetUsersResponse, CreateAccountRequest, CreateAccountResponse,
    DeleteAccountRequest, DeleteAccountResponse, GetUserRequest, GetUserResponse,
    IngestLogsRequest, IngestLogsResponse, ListRevokedTokensRequest, ListRevokedTokensResponse,
    ListUsersByRoleRequest, ListUsersByRoleResponse, LogEntry, RecordMetricsRequest,
    RecordMetricsResponse, RevokedToken, ValidateTokenRequest, ValidateTokenResponse,
    system_internal_service_server::SystemInternalService,
};
use astro_shared::{
    AppError,
    activity::{LogSink, MAX_INGEST_BATCH},
    auth::{Revocation, Revoked},
    paging::page_size,
    service_auth::{CallingService, service_name},
};
use futures::future::BoxFuture;
use tonic::{Request, Response, Status};

use super::{SystemApi, client_info, convert, monitoring};
use crate::{
    app::logs::LogIngest,
    domain::accounts::{
        NewAccount, contact_listing_role, parse_idempotency_key, parse_user_id, parse_user_ids,
        self_registration_role,
    },
};

const REVOKED_PAGE_DEFAULT: u32 = 1_000;
const REVOKED_PAGE_MAX: u32 = 5_000;

/// Milliseconds since the epoch as a contract time.
fn time(millis: u64) -> Option<prost_types::Timestamp> {
    chrono::DateTime::from_timestamp_millis(i64::try_from(millis).unwrap_or(i64::MAX))
        .map(astro_shared::convert::timestamp)
}

fn revoked_token(revocation: &Revocation) -> RevokedToken {
    let id = revocation.id.clone();
    let (jti, session_id, user_id) = match revocation.revoked {
        Revoked::Token => (id, String::new(), String::new()),
        Revoked::Session => (String::new(), id, String::new()),
        Revoked::User => (String::new(), String::new(), id),
    };
    RevokedToken {
        jti,
        session_id,
        user_id,
        revoked_at: time(revocation.revoked_at_ms),
        expires_at: time(revocation.expires_at_ms),
    }
}

/// SystemAPI's own activity goes straight to the store: no hop through its own listener
/// (whose address may be `0.0.0.0` or unreachable from inside a container) and no extra
/// trace per batch, with the same checks as IngestLogs.
pub struct StoreSink(pub LogIngest);

impl LogSink for StoreSink {
    fn ingest<'a>(&'a self, entries: &'a [LogEntry]) -> BoxFuture<'a, Result<(), AppError>> {
        Box::pin(async move {
            let records = convert::log_records(entries)?;
            self.0.ingest(&records).await
        })
    }
}

#[tonic::async_trait]
impl SystemInternalService for SystemApi {
    async fn validate_token(
        &self,
        request: Request<ValidateTokenRequest>,
    ) -> Result<Response<ValidateTokenResponse>, Status> {
        let caller = self
            .state
            .tokens
            .validate(&request.get_ref().access_token)
            .await?;
        Ok(Response::new(ValidateTokenResponse {
            user_id: caller.user_id,
            role: caller.role.into(),
            jti: caller.token_id,
            issued_at: time(caller.issued_at_ms),
            expires_at: time(caller.expires_at.saturating_mul(1000)),
        }))
    }

    async fn list_revoked_tokens(
        &self,
        request: Request<ListRevokedTokensRequest>,
    ) -> Result<Response<ListRevokedTokensResponse>, Status> {
        let input = request.into_inner();
        let limit = page_size(input.page_size, REVOKED_PAGE_DEFAULT, REVOKED_PAGE_MAX)?;
        let since_ms = match input.revoked_since {
            None => 0,
            Some(since) => astro_shared::convert::from_timestamp(Some(&since))
                .and_then(|since| u64::try_from(since.timestamp_millis()).ok())
                .ok_or_else(|| AppError::invalid("revoked_since", "is not a valid time"))?,
        };
        let list = self
            .state
            .tokens
            .revoked_since(since_ms, &input.page_token, limit)
            .await?;
        Ok(Response::new(ListRevokedTokensResponse {
            tokens: list.page.items.iter().map(revoked_token).collect(),
            next_page_token: list.page.next_page_token,
            as_of: time(list.as_of_ms),
        }))
    }

    async fn ingest_logs(
        &self,
        request: Request<IngestLogsRequest>,
    ) -> Result<Response<IngestLogsResponse>, Status> {
        let entries = request.into_inner().entries;
        if entries.is_empty() || entries.len() > MAX_INGEST_BATCH {
            return Err(AppError::invalid("entries", "must hold 1 to 1,000 entries").into());
        }
        let records = convert::log_records(&entries)?;
        self.state.ingest.ingest(&records).await?;
        Ok(Response::new(IngestLogsResponse {
            accepted: i32::try_from(records.len()).unwrap_or(i32::MAX),
        }))
    }

    async fn record_metrics(
        &self,
        request: Request<RecordMetricsRequest>,
    ) -> Result<Response<RecordMetricsResponse>, Status> {
        let caller = request
            .extensions()
            .get::<CallingService>()
            .map(|calling| service_name(calling.0))
            .ok_or_else(|| Status::unauthenticated("a service token is required"))?;
        let input = request.into_inner();
        let reporter = input
            .reporter
            .map(crate::clients::status::instance)
            .ok_or_else(|| AppError::invalid("reporter", "is required"))?;
        let points = monitoring::metric_points(input.metrics)?;
        let accepted = self
            .state
            .monitoring
            .record(caller, &reporter, &points)
            .await?;
        Ok(Response::new(RecordMetricsResponse {
            accepted: i32::try_from(accepted).unwrap_or(i32::MAX),
        }))
    }

    async fn create_account(
        &self,
        request: Request<CreateAccountRequest>,
    ) -> Result<Response<CreateAccountResponse>, Status> {
        let client = client_info(&request);
        let input = request.into_inner();
        let key = parse_idempotency_key(&input.idempotency_key)?;
        let account = NewAccount::parse(&input.email, &input.password, &input.name)?;
        let role = self_registration_role(input.role)?;
        let created = self
            .state
            .registration
            .create_for_registration_flow(&key, account, input.password, role, &client)
            .await?;
        Ok(Response::new(CreateAccountResponse {
            user: Some(convert::user(&created.account)),
            created: created.created,
        }))
    }

    async fn delete_account(
        &self,
        request: Request<DeleteAccountRequest>,
    ) -> Result<Response<DeleteAccountResponse>, Status> {
        let client = client_info(&request);
        let input = request.into_inner();
        let user_id = parse_user_id("user_id", &input.user_id)?;
        let deleted = self
            .state
            .registration
            .delete_unused_registration(&user_id, &input.reason, &client)
            .await?;
        Ok(Response::new(DeleteAccountResponse { deleted }))
    }

    async fn get_user(
        &self,
        request: Request<GetUserRequest>,
    ) -> Result<Response<GetUserResponse>, Status> {
        let user_id = parse_user_id("user_id", &request.into_inner().user_id)?;
        let user = self.state.directory.get(&user_id).await?;
        Ok(Response::new(GetUserResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn batch_get_users(
        &self,
        request: Request<BatchGetUsersRequest>,
    ) -> Result<Response<BatchGetUsersResponse>, Status> {
        let ids = parse_user_ids(&request.into_inner().user_ids)?;
        let batch = self.state.directory.batch_get(&ids).await?;
        Ok(Response::new(BatchGetUsersResponse {
            users: batch.accounts.iter().map(convert::user).collect(),
            missing_user_ids: batch.missing_user_ids,
        }))
    }

    async fn list_users_by_role(
        &self,
        request: Request<ListUsersByRoleRequest>,
    ) -> Result<Response<ListUsersByRoleResponse>, Status> {
        let input = request.into_inner();
        let role = contact_listing_role(input.role)?;
        let page = self
            .state
            .directory
            .list_by_role(role, &input.page_token, input.page_size)
            .await?;
        Ok(Response::new(ListUsersByRoleResponse {
            contacts: page.items.iter().map(convert::contact).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}
