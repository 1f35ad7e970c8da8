//! Travelers: one-step registration (the account in SystemAPI, the profile here, with no
//! half-made traveler left if either fails) and the traveler's own profile.

use astro_proto::astrobookings::{
    booking::v1::RegisterTravelerRequest,
    common::v1::Role,
    system::v1::{CreateAccountRequest, DeleteAccountRequest, GetUserRequest},
};
use astro_shared::{AppError, changes::Origin};
use tonic::Code;
use uuid::Uuid;

use crate::{
    SERVICE_NAME, State,
    domain::{booking::parse_idempotency_key, traveler::TravelerDetails},
    store::travelers::TravelerRow,
};

/// Creates the TRAVELER account, then its profile; if the profile cannot be stored the account
/// is deleted again. Idempotent on the request's key (SystemAPI's CreateAccount is, and the
/// profile write is an upsert of the same values).
pub async fn register(
    state: &State,
    request: RegisterTravelerRequest,
) -> Result<TravelerRow, AppError> {
    // Everything this service checks is checked before the account exists.
    let details = TravelerDetails::parse(
        &request.phone,
        &request.tax_id,
        request.billing_address.as_ref(),
    )?;
    let key = parse_idempotency_key(&request.idempotency_key, false)?;
    let key = if key.is_empty() {
        // No key: the call is not deduplicated, but SystemAPI needs one per account.
        Uuid::new_v4().to_string()
    } else {
        format!("register-traveler:{key}")
    };
    let created = state
        .system
        .clone()
        .create_account(CreateAccountRequest {
            idempotency_key: key,
            email: request.email,
            password: request.password,
            name: request.name,
            role: Role::Traveler.into(),
        })
        .await
        .map_err(account_error)?
        .into_inner();
    let user = created
        .user
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("CreateAccount answered no user")))?;
    let id = Uuid::parse_str(&user.id).map_err(AppError::internal)?;
    let origin = Origin::user(SERVICE_NAME, &user.id);
    match state
        .store
        .save_traveler(id, &user.name, &user.email, &details, &origin)
        .await
    {
        Ok(traveler) => {
            state.activity.info(
                "traveler.registered",
                Some(&user.id),
                "traveler registered",
                &[],
            );
            Ok(traveler)
        }
        Err(error) => {
            // Compensate: no account without its profile. If this fails too, the account is
            // left profile-less, which GetTravelerProfile handles (an incomplete profile).
            let deleted = state
                .system
                .clone()
                .delete_account(DeleteAccountRequest {
                    user_id: user.id.clone(),
                    reason: "the traveler profile could not be stored".into(),
                })
                .await;
            if let Err(status) = deleted {
                tracing::error!(user_id = %user.id, %status, "could not delete the account of a failed registration");
            }
            Err(error)
        }
    }
}

/// SystemAPI's answer to CreateAccount as this RPC's error: its validation errors are the
/// client's (same fields), anything else a dependency failure.
fn account_error(status: tonic::Status) -> AppError {
    match status.code() {
        Code::InvalidArgument => {
            use tonic_types::StatusExt as _;
            let field = status
                .get_details_bad_request()
                .and_then(|bad| bad.field_violations.into_iter().next())
                .map(|violation| violation.field)
                .unwrap_or_default();
            AppError::invalid(field, status.message().to_owned())
        }
        Code::AlreadyExists => AppError::AlreadyExists(status.message().to_owned()),
        Code::FailedPrecondition => AppError::invalid(
            "idempotency_key",
            "was already used to register another e-mail",
        ),
        Code::ResourceExhausted => AppError::ResourceExhausted {
            message: status.message().to_owned(),
            retry_after: std::time::Duration::from_secs(60),
        },
        _ => AppError::upstream("SystemAPI", status),
    }
}

/// The caller's traveler record; an account registered through /v1/auth/register gets one now
/// (name and e-mail from SystemAPI, profile incomplete).
pub async fn own_profile(state: &State, user_id: &str) -> Result<TravelerRow, AppError> {
    let id = Uuid::parse_str(user_id).map_err(AppError::internal)?;
    if let Some(traveler) = state.store.traveler(id).await? {
        return Ok(traveler);
    }
    let (name, email) = account(state, user_id).await?;
    state
        .store
        .ensure_traveler(id, &name, &email, &Origin::user(SERVICE_NAME, user_id))
        .await
}

/// Replaces the caller's contact and tax information.
pub async fn update_profile(
    state: &State,
    user_id: &str,
    details: &TravelerDetails,
) -> Result<TravelerRow, AppError> {
    let current = own_profile(state, user_id).await?;
    state
        .store
        .save_traveler(
            current.id,
            &current.name,
            &current.email,
            details,
            &Origin::user(SERVICE_NAME, user_id),
        )
        .await
}

async fn account(state: &State, user_id: &str) -> Result<(String, String), AppError> {
    let user = state
        .system
        .clone()
        .get_user(GetUserRequest {
            user_id: user_id.to_owned(),
        })
        .await
        .map_err(|status| AppError::upstream("SystemAPI", status))?
        .into_inner()
        .user
        .unwrap_or_default();
    Ok((user.name, user.email))
}
