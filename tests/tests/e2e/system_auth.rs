//! SystemAPI against a hostile client, through the real mesh: forged tokens, password storage,
//! refresh rotation and reuse, logout, roles, disabled accounts, the login rate limit, and the
//! registration outbox.

use std::{collections::HashMap, time::Duration};

use astro_e2e::{
    Service,
    accounts::{
        PASSWORD, access_token, login, refresh_token, register_and_login, system_client,
        unique_email, with_token,
    },
    channel, eventually,
    keys::{TestKeys, unsigned_token, with_payload},
    mesh, mesh_with,
};
use astro_proto::astrobookings::{
    agency::v1::{ListRocketsRequest, agency_service_client::AgencyServiceClient},
    common::v1::{Contact, Role},
    notify::v1::{
        EnqueueNotificationRequest, NotificationEventType,
        notify_internal_service_client::NotifyInternalServiceClient,
    },
    system::v1::{
        ChangePasswordRequest, CreateEmployeeRequest, DisableUserRequest, EnableUserRequest,
        GetCurrentUserRequest, GetJwksRequest, ListUsersRequest, LogoutRequest,
        RefreshTokensRequest, RegisterRequest, UpdateCurrentUserRequest,
    },
};
use futures::TryStreamExt as _;
use mongodb::bson::{Document, doc};
use tonic::Code;
use tonic_types::StatusExt as _;

fn now() -> i64 {
    i64::try_from(astro_shared::auth::unix_now()).expect("time fits")
}

fn claims(user_id: &str, role: &str) -> serde_json::Value {
    let now = now();
    serde_json::json!({
        "sub": user_id, "role": role, "iss": "astrobookings", "aud": "astrobookings-api",
        "exp": now + 600, "iat": now, "nbf": now, "jti": uuid::Uuid::new_v4().to_string(),
        "token_use": "access",
    })
}

fn patched(base: &serde_json::Value, changes: serde_json::Value) -> serde_json::Value {
    let mut claims = base.clone();
    for (key, value) in changes.as_object().expect("object") {
        if value.is_null() {
            claims.as_object_mut().expect("object").remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}

#[tokio::test]
async fn twelve_forged_tokens_are_unauthenticated_and_a_token_30s_past_exp_passes() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::Gateway));
    let (user, session) = register_and_login(&mut system, "forgery-target", Role::Agency).await;
    let valid = claims(&user.id, "AGENCY");
    let keys = &mesh.keys;
    let kid = keys.signing.key_id.clone();
    let foreign = TestKeys::generate().expect("foreign key");

    let mut foreign_with_our_kid = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    foreign_with_our_kid.kid = Some(kid.clone());
    let mut unknown_kid = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    unknown_kid.kid = Some("no-such-key".to_owned());
    let genuine = keys.sign(&valid);
    let oversized = keys.sign(&patched(
        &valid,
        serde_json::json!({ "padding": "x".repeat(9000) }),
    ));
    assert!(oversized.len() > 8 * 1024);

    let forged = [
        ("alg none", unsigned_token(&kid, &valid)),
        (
            "HS256 signed with the public key",
            keys.hs256_with_public_key(&valid),
        ),
        (
            "a foreign key",
            foreign.sign_with_header(&foreign_with_our_kid, &valid),
        ),
        (
            "expired beyond the leeway",
            keys.sign(&patched(&valid, serde_json::json!({ "exp": now() - 120 }))),
        ),
        (
            "nbf in the future",
            keys.sign(&patched(&valid, serde_json::json!({ "nbf": now() + 300 }))),
        ),
        (
            "wrong iss",
            keys.sign(&patched(&valid, serde_json::json!({ "iss": "evil" }))),
        ),
        (
            "wrong aud",
            keys.sign(&patched(&valid, serde_json::json!({ "aud": "other-api" }))),
        ),
        (
            "no exp",
            keys.sign(&patched(&valid, serde_json::json!({ "exp": null }))),
        ),
        (
            "a refresh token as an access token",
            refresh_token(&session),
        ),
        (
            "an unknown key id",
            keys.sign_with_header(&unknown_kid, &valid),
        ),
        (
            "a tampered payload",
            with_payload(
                &genuine,
                &patched(&valid, serde_json::json!({ "role": "ADMIN" })),
            ),
        ),
        ("a token over 8 KB", oversized),
    ];
    assert_eq!(forged.len(), 12);

    // SystemAPI through the gateway, and AgencyAPI directly (it verifies on its own, against
    // the JWKS it fetches from SystemAPI).
    let mut agency = AgencyServiceClient::new(channel(mesh.address(Service::Agency)));
    for (what, token) in &forged {
        let status = system
            .get_current_user(with_token(GetCurrentUserRequest {}, token))
            .await
            .expect_err(what);
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "SystemAPI accepted {what}: {status:?}"
        );
        let status = agency
            .list_rockets(with_token(ListRocketsRequest::default(), token))
            .await
            .expect_err(what);
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "AgencyAPI accepted {what}: {status:?}"
        );
    }

    // Within the 60 s leeway: accepted by both (AgencyAPI lists the agency's rockets: none yet).
    let late = keys.sign(&patched(&valid, serde_json::json!({ "exp": now() - 30 })));
    let me = system
        .get_current_user(with_token(GetCurrentUserRequest {}, &late))
        .await
        .expect("a token 30 s past exp is within the leeway")
        .into_inner();
    assert_eq!(me.user.expect("user").id, user.id);
    let rockets = agency
        .list_rockets(with_token(ListRocketsRequest::default(), &late))
        .await
        .expect("a token 30 s past exp is within the leeway for AgencyAPI too")
        .into_inner();
    assert!(rockets.rockets.is_empty());

    // The genuine token: the JWKS published matches the key that signs.
    let jwks = system
        .get_jwks(GetJwksRequest {})
        .await
        .expect("jwks")
        .into_inner();
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].kid, kid);
    assert_eq!(jwks.keys[0].alg, "EdDSA");
    system
        .get_current_user(with_token(
            GetCurrentUserRequest {},
            &access_token(&session),
        ))
        .await
        .expect("the issued token works");
}

#[tokio::test]
async fn every_stored_password_hash_is_argon2id_at_owasp_cost() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::Gateway));
    register_and_login(&mut system, "hash-a", Role::Traveler).await;
    register_and_login(&mut system, "hash-b", Role::Agency).await;

    let users: Vec<Document> = astro_e2e::system_db(&mesh)
        .await
        .collection::<Document>("users")
        .find(doc! {})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("users");
    assert_eq!(users.len(), 3, "two registered users and the first ADMIN");
    for user in users {
        let hash = user.get_str("password_hash").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        let params = hash.split('$').nth(3).expect("params");
        let value = |name: &str| -> u32 {
            params
                .split(',')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
                .and_then(|value| value.parse().ok())
                .expect("param")
        };
        assert!(value("m") >= 19_456, "{hash}");
        assert!(value("t") >= 2, "{hash}");
        assert!(value("p") >= 1, "{hash}");
        assert!(!hash.contains(PASSWORD));
    }
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::Gateway));
    let (_, session) = register_and_login(&mut system, "rotation", Role::Traveler).await;
    let first = refresh_token(&session);

    let second = system
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: first.clone(),
        })
        .await
        .expect("first rotation")
        .into_inner()
        .tokens
        .expect("tokens");
    assert_ne!(second.refresh_token, first);
    assert!(!second.access_token.is_empty());

    let replay = system
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: first,
        })
        .await
        .expect_err("a rotated token is spent");
    assert_eq!(replay.code(), Code::Unauthenticated);

    // The replay revoked the family: the legitimate latest token is dead too.
    let after_replay = system
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: second.refresh_token,
        })
        .await
        .expect_err("family revoked");
    assert_eq!(after_replay.code(), Code::Unauthenticated);

    // Another login starts a new family that works.
    let fresh = login(&mut system, &session.user.expect("user").email, PASSWORD)
        .await
        .expect("login");
    system
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: refresh_token(&fresh),
        })
        .await
        .expect("a new family rotates");
}

#[tokio::test]
async fn after_logout_the_access_token_is_refused_by_another_service_at_once() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::Gateway));
    let (_, session) = register_and_login(&mut system, "logout", Role::Agency).await;
    let token = access_token(&session);
    let mut agency = AgencyServiceClient::new(channel(mesh.address(Service::Agency)));
    agency
        .list_rockets(with_token(ListRocketsRequest::default(), &token))
        .await
        .expect("authenticated before logout");

    system
        .logout(with_token(
            LogoutRequest {
                refresh_token: refresh_token(&session),
            },
            &token,
        ))
        .await
        .expect("logout");

    let after = agency
        .list_rockets(with_token(ListRocketsRequest::default(), &token))
        .await
        .expect_err("revoked");
    assert_eq!(after.code(), Code::Unauthenticated, "{after:?}");
    let me = system
        .get_current_user(with_token(GetCurrentUserRequest {}, &token))
        .await
        .expect_err("revoked");
    assert_eq!(me.code(), Code::Unauthenticated);
    let refresh = system
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: refresh_token(&session),
        })
        .await
        .expect_err("family revoked by logout");
    assert_eq!(refresh.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn only_an_admin_creates_employees_and_visitors_cannot_pick_employee_roles() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::Gateway));
    let (_, traveler) = register_and_login(&mut system, "traveler", Role::Traveler).await;
    let employee = CreateEmployeeRequest {
        email: unique_email("it"),
        password: PASSWORD.to_owned(),
        name: "IT person".to_owned(),
        role: Role::It.into(),
    };
    let denied = system
        .create_employee(with_token(employee.clone(), &access_token(&traveler)))
        .await
        .expect_err("a traveler is not an ADMIN");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let anonymous = system
        .create_employee(employee.clone())
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    for role in [Role::Finance, Role::It, Role::Admin] {
        let refused = system
            .register(RegisterRequest {
                email: unique_email("sneaky"),
                password: PASSWORD.to_owned(),
                name: "Sneaky".to_owned(),
                role: role.into(),
            })
            .await
            .expect_err("visitors cannot pick employee roles");
        assert_eq!(refused.code(), Code::InvalidArgument, "{role:?}");
        let violations = refused.get_error_details();
        assert_eq!(
            violations
                .bad_request()
                .expect("field errors")
                .field_violations[0]
                .field,
            "role"
        );
    }

    let admin = login(&mut system, &mesh.admin_email, &mesh.admin_password)
        .await
        .expect("the first ADMIN from configuration logs in");
    let created = system
        .create_employee(with_token(employee.clone(), &access_token(&admin)))
        .await
        .expect("an ADMIN creates an IT employee")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(created.role(), Role::It);
    let it = login(&mut system, &employee.email, PASSWORD)
        .await
        .expect("the employee logs in");
    assert_eq!(it.user.expect("user").role(), Role::It);

    let admin_as_employee = system
        .create_employee(with_token(
            CreateEmployeeRequest {
                email: unique_email("admin2"),
                role: Role::Admin.into(),
                ..employee.clone()
            },
            &access_token(&admin),
        ))
        .await
        .expect_err("employees are FINANCE or IT");
    assert_eq!(admin_as_employee.code(), Code::InvalidArgument);
    let duplicate = system
        .create_employee(with_token(employee, &access_token(&admin)))
        .await
        .expect_err("e-mail taken");
    assert_eq!(duplicate.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn a_disabled_user_can_neither_log_in_nor_use_an_existing_token() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::Gateway));
    let (user, session) = register_and_login(&mut system, "to-disable", Role::Agency).await;
    let admin = login(&mut system, &mesh.admin_email, &mesh.admin_password)
        .await
        .expect("admin");
    system
        .disable_user(with_token(
            DisableUserRequest {
                id: user.id.clone(),
                reason: "test".to_owned(),
            },
            &access_token(&admin),
        ))
        .await
        .expect("disable");

    let token = access_token(&session);
    let me = system
        .get_current_user(with_token(GetCurrentUserRequest {}, &token))
        .await
        .expect_err("disabled");
    assert_eq!(me.code(), Code::Unauthenticated);
    let mut agency = AgencyServiceClient::new(channel(mesh.address(Service::Agency)));
    let elsewhere = agency
        .list_rockets(with_token(ListRocketsRequest::default(), &token))
        .await
        .expect_err("disabled everywhere");
    assert_eq!(elsewhere.code(), Code::Unauthenticated);
    let relogin = login(&mut system, &user.email, PASSWORD)
        .await
        .expect_err("disabled");
    assert_eq!(relogin.code(), Code::Unauthenticated);
    assert_eq!(
        relogin.message(),
        "invalid e-mail or password",
        "no hint that the account exists"
    );
    let refresh = system
        .refresh_tokens(RefreshTokensRequest {
            refresh_token: refresh_token(&session),
        })
        .await
        .expect_err("disabled");
    assert_eq!(refresh.code(), Code::Unauthenticated);

    system
        .enable_user(with_token(
            EnableUserRequest {
                id: user.id.clone(),
            },
            &access_token(&admin),
        ))
        .await
        .expect("enable");
    let back = login(&mut system, &user.email, PASSWORD)
        .await
        .expect("enabled again");
    system
        .get_current_user(with_token(GetCurrentUserRequest {}, &access_token(&back)))
        .await
        .expect("a new token works");

    let listed = system
        .list_users(with_token(
            ListUsersRequest {
                query: user.email.to_uppercase(),
                ..ListUsersRequest::default()
            },
            &access_token(&admin),
        ))
        .await
        .expect("list users")
        .into_inner();
    assert_eq!(
        listed.users.len(),
        1,
        "the query matches the e-mail case-insensitively"
    );
    assert_eq!(listed.users[0].id, user.id);
}

#[tokio::test]
async fn the_login_rate_limit_triggers_and_recovers() {
    let mesh = mesh_with(HashMap::from([
        (
            "ASTRO_SYSTEM_LOGIN_MAX_FAILURES_PER_EMAIL".to_owned(),
            "3".to_owned(),
        ),
        (
            "ASTRO_SYSTEM_LOGIN_MAX_FAILURES_PER_CLIENT".to_owned(),
            "5".to_owned(),
        ),
        (
            "ASTRO_SYSTEM_LOGIN_FAILURE_WINDOW_MS".to_owned(),
            "5000".to_owned(),
        ),
    ]))
    .await;
    let mut system = system_client(mesh.address(Service::System));
    let (user, _) = register_and_login(&mut system, "limited", Role::Traveler).await;

    for _ in 0..3 {
        let wrong = login(&mut system, &user.email, "wrong password!!")
            .await
            .expect_err("wrong");
        assert_eq!(wrong.code(), Code::Unauthenticated);
    }
    let limited = login(&mut system, &user.email, PASSWORD)
        .await
        .expect_err("even the right password waits now");
    assert_eq!(limited.code(), Code::ResourceExhausted);
    let retry = limited.get_error_details();
    let delay = retry
        .retry_info()
        .and_then(|info| info.retry_delay)
        .expect("retry delay");
    assert!(
        delay <= Duration::from_secs(5) && delay > Duration::ZERO,
        "{delay:?}"
    );

    tokio::time::sleep(delay + Duration::from_millis(200)).await;
    login(&mut system, &user.email, PASSWORD)
        .await
        .expect("recovered after the window");

    // Per client address: failures on many e-mails from one address.
    let address = format!("198.51.100.{}", rand_octet());
    let from_one_client = |email: String| {
        let mut request =
            tonic::Request::new(astro_proto::astrobookings::system::v1::LoginRequest {
                email,
                password: "wrong password!!".to_owned(),
            });
        request
            .metadata_mut()
            .insert("x-forwarded-for", address.parse().expect("ascii"));
        request
    };
    for _ in 0..5 {
        let wrong = system
            .login(from_one_client(unique_email("nobody")))
            .await
            .expect_err("wrong");
        assert_eq!(wrong.code(), Code::Unauthenticated);
    }
    let limited = system
        .login(from_one_client(unique_email("nobody")))
        .await
        .expect_err("client address budget spent");
    assert_eq!(limited.code(), Code::ResourceExhausted);
}

fn rand_octet() -> u8 {
    u8::try_from(uuid::Uuid::new_v4().as_u128() % 250).expect("fits") + 1
}

#[tokio::test]
async fn unknown_e_mail_and_wrong_password_answer_alike() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::Gateway));
    let (user, _) = register_and_login(&mut system, "alike", Role::Traveler).await;
    let wrong_password = login(&mut system, &user.email, "not the password")
        .await
        .expect_err("wrong");
    let unknown = login(&mut system, &unique_email("ghost"), PASSWORD)
        .await
        .expect_err("unknown");
    assert_eq!(wrong_password.code(), Code::Unauthenticated);
    assert_eq!(unknown.code(), wrong_password.code());
    assert_eq!(unknown.message(), wrong_password.message());
}

#[tokio::test]
async fn a_user_reads_and_updates_its_own_account() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::Gateway));
    let (user, session) = register_and_login(&mut system, "self", Role::Traveler).await;
    let token = access_token(&session);
    let renamed = system
        .update_current_user(with_token(
            UpdateCurrentUserRequest {
                name: Some("  Ada Lovelace ".to_owned()),
            },
            &token,
        ))
        .await
        .expect("rename")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(renamed.name, "Ada Lovelace");
    assert_eq!(renamed.id, user.id);

    let wrong = system
        .change_password(with_token(
            ChangePasswordRequest {
                current_password: "not it at all".to_owned(),
                new_password: "a brand new passphrase".to_owned(),
            },
            &token,
        ))
        .await
        .expect_err("the old password is checked");
    assert_eq!(wrong.code(), Code::InvalidArgument);
    system
        .change_password(with_token(
            ChangePasswordRequest {
                current_password: PASSWORD.to_owned(),
                new_password: "a brand new passphrase".to_owned(),
            },
            &token,
        ))
        .await
        .expect("change password");
    login(&mut system, &user.email, "a brand new passphrase")
        .await
        .expect("the new password works");
    let old = login(&mut system, &user.email, PASSWORD)
        .await
        .expect_err("the old one no longer");
    assert_eq!(old.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn registration_queues_exactly_one_confirmation_email_in_notify_even_if_redelivered() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::Gateway));
    let (user, _) = register_and_login(&mut system, "outbox", Role::Traveler).await;
    let outbox = astro_e2e::system_db(&mesh)
        .await
        .collection::<Document>("outbox");

    let entry = outbox
        .find_one(doc! { "recipient_user_id": &user.id })
        .await
        .expect("find")
        .expect("the registration wrote an outbox entry with the user");
    assert_eq!(
        entry.get_str("event_type").expect("type"),
        "NOTIFICATION_EVENT_TYPE_USER_REGISTERED"
    );
    assert_eq!(entry.get_str("recipient_email").expect("email"), user.email);
    assert!(
        entry
            .get_document("data")
            .expect("data")
            .get_str("confirmation_token")
            .is_ok_and(|token| token.len() >= 40)
    );
    assert!(
        !entry
            .get_str("traceparent")
            .expect("traceparent")
            .is_empty()
    );

    // The relay hands it to NotifyAPI, which queues it, then marks the entry delivered.
    let delivered = eventually(Duration::from_secs(10), || {
        let outbox = outbox.clone();
        let user_id = user.id.clone();
        async move {
            outbox
                .find_one(doc! { "recipient_user_id": &user_id })
                .await
                .ok()
                .flatten()
                .is_some_and(|entry| entry.get_bool("delivered").unwrap_or(false))
        }
    })
    .await;
    assert!(delivered, "the relay delivered the entry to NotifyAPI");
    let event_id = entry.get_str("_id").expect("event id").to_owned();
    let notifications = astro_e2e::system_db(&mesh)
        .await
        .collection::<Document>("notifications");
    let queued = notifications
        .find(doc! { "event_id": &event_id })
        .await
        .expect("find")
        .try_collect::<Vec<_>>()
        .await
        .expect("read");
    assert_eq!(queued.len(), 1, "exactly one notification: {queued:?}");
    // Queued, and by now perhaps already sent to the mesh's SMTP server.
    assert!(
        ["PENDING", "SENT"].contains(&queued[0].get_str("status").expect("status")),
        "{queued:?}"
    );
    assert_eq!(
        queued[0]
            .get_document("recipient")
            .expect("recipient")
            .get_str("user_id")
            .expect("user id"),
        user.id
    );

    // A redelivery (a relay that crashed before marking the entry) queues nothing new.
    let mut notify =
        NotifyInternalServiceClient::new(mesh.internal_channel(Service::Notify, Service::System));
    let again = notify
        .enqueue_notification(EnqueueNotificationRequest {
            event_id: event_id.clone(),
            event_type: NotificationEventType::UserRegistered.into(),
            recipient: Some(Contact {
                user_id: user.id.clone(),
                name: user.name.clone(),
                email: user.email.clone(),
                phone: String::new(),
            }),
            ..EnqueueNotificationRequest::default()
        })
        .await
        .expect("a repeat is accepted")
        .into_inner();
    assert!(!again.created, "the repeat found the first one");
    assert_eq!(
        again.notification.expect("notification").id,
        queued[0].get_str("_id").expect("id")
    );
    assert_eq!(
        notifications
            .count_documents(doc! { "event_id": &event_id })
            .await
            .expect("count"),
        1
    );
}
