//! Account helpers for tests: register, log in and call with a token, through real RPCs.

use std::net::SocketAddr;

use astro_proto::astrobookings::{
    common::v1::Role,
    system::v1::{
        LoginRequest, LoginResponse, RegisterRequest, User,
        system_service_client::SystemServiceClient,
    },
};
use tonic::transport::Channel;

/// A SystemAPI client on `address` (the gateway or SystemAPI itself).
pub fn system_client(address: SocketAddr) -> SystemServiceClient<Channel> {
    SystemServiceClient::new(crate::channel(address))
}

/// `message` with `authorization: Bearer <token>`.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ASCII token"),
    );
    request
}

/// A unique e-mail for this test run.
pub fn unique_email(label: &str) -> String {
    format!(
        "{label}-{}@astrobookings.test",
        uuid::Uuid::new_v4().simple()
    )
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Runs `call` up to three times while it answers DEADLINE_EXCEEDED or UNAVAILABLE. On 2
/// shared cores a password hash can outlast its deadline while parallel tests hash too; only
/// for calls that are safe to repeat (logins, registrations under one idempotency key).
pub async fn patiently<T, F, Fut>(what: &str, mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        match call().await {
            Err(status)
                if attempts < 3
                    && matches!(
                        status.code(),
                        tonic::Code::DeadlineExceeded | tonic::Code::Unavailable
                    ) =>
            {
                eprintln!("{what} timed out ({status:?}); trying again");
            }
            outcome => return outcome,
        }
    }
}

/// [`login`], tried again when it outlasts its deadline (see [`patiently`]).
pub async fn login_patiently(
    client: &SystemServiceClient<Channel>,
    email: &str,
    password: &str,
) -> Result<LoginResponse, tonic::Status> {
    patiently("login", || {
        let mut client = client.clone();
        async move { login(&mut client, email, password).await }
    })
    .await
}

/// Registers an account with [`PASSWORD`] and logs it in. On 2 shared cores a registration
/// can outlast its deadline while parallel tests hash passwords; it is then tried again, and
/// a retry that finds the e-mail taken means the first attempt went through.
pub async fn register_and_login(
    client: &mut SystemServiceClient<Channel>,
    label: &str,
    role: Role,
) -> (User, LoginResponse) {
    let email = unique_email(label);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let registered = client
            .register(RegisterRequest {
                email: email.clone(),
                password: PASSWORD.to_owned(),
                name: format!("Test {label}"),
                role: role.into(),
            })
            .await;
        match registered {
            Ok(answer) => {
                let user = answer.into_inner().user.expect("user");
                let session = login_patiently(client, &email, PASSWORD)
                    .await
                    .expect("login");
                return (user, session);
            }
            Err(status) if attempts > 1 && status.code() == tonic::Code::AlreadyExists => {
                let session = login_patiently(client, &email, PASSWORD)
                    .await
                    .expect("login");
                let user = session.user.clone().expect("the account that logged in");
                return (user, session);
            }
            Err(status)
                if attempts < 3
                    && matches!(
                        status.code(),
                        tonic::Code::DeadlineExceeded | tonic::Code::Unavailable
                    ) =>
            {
                eprintln!("registration timed out ({status:?}); trying again");
            }
            Err(status) => panic!("register: {status:?}"),
        }
    }
}

pub async fn login(
    client: &mut SystemServiceClient<Channel>,
    email: &str,
    password: &str,
) -> Result<LoginResponse, tonic::Status> {
    client
        .login(LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// The access token of a login.
pub fn access_token(session: &LoginResponse) -> String {
    session
        .tokens
        .as_ref()
        .expect("tokens")
        .access_token
        .clone()
}

/// The refresh token of a login.
pub fn refresh_token(session: &LoginResponse) -> String {
    session
        .tokens
        .as_ref()
        .expect("tokens")
        .refresh_token
        .clone()
}
