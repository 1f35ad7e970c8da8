//! SystemInternalService's account RPCs through a real mesh, as the registration flows of
//! BookingAPI and AgencyAPI use them: CreateAccount (idempotent on its key, also under
//! concurrent retries), DeleteAccount (the compensation of a registration that could not
//! finish, which also cancels the confirmation e-mail), and the look-ups GetUser,
//! BatchGetUsers and ListUsersByRole.

use astro_shared::grpc_client::TracedChannel;
use std::time::Duration;

use astro_e2e::{
    Mesh, Service,
    accounts::{PASSWORD, access_token, login, system_client, unique_email, with_token},
    eventually, mesh,
};
use astro_proto::astrobookings::{
    common::v1::Role,
    system::v1::{
        BatchGetUsersRequest, CreateAccountRequest, CreateAccountResponse, DeleteAccountRequest,
        DisableUserRequest, GetUserRequest, ListRevokedTokensRequest, ListUsersByRoleRequest,
        LogoutRequest, RegisterRequest, ValidateTokenRequest,
        system_internal_service_client::SystemInternalServiceClient,
    },
};
use mongodb::bson::{DateTime, Document, doc};
use tonic::Code;

type Internal = SystemInternalServiceClient<TracedChannel>;

/// SystemAPI's internal RPCs as BookingAPI calls them (registrations, account reads).
fn internal(mesh: &Mesh) -> Internal {
    internal_as(mesh, Service::Booking)
}

fn internal_as(mesh: &Mesh, caller: Service) -> Internal {
    SystemInternalServiceClient::new(mesh.internal_channel(Service::System, caller))
}

fn request(key: &str, email: &str, role: Role) -> CreateAccountRequest {
    CreateAccountRequest {
        idempotency_key: key.to_owned(),
        email: email.to_owned(),
        password: PASSWORD.to_owned(),
        name: "Registration Flow".to_owned(),
        role: role.into(),
    }
}

async fn create(
    client: &mut Internal,
    key: &str,
    email: &str,
    role: Role,
) -> Result<CreateAccountResponse, tonic::Status> {
    client
        .create_account(request(key, email, role))
        .await
        .map(tonic::Response::into_inner)
}

fn new_key() -> String {
    format!("registration-{}", uuid::Uuid::new_v4())
}

#[tokio::test]
async fn a_created_account_logs_in_and_its_confirmation_email_is_relayed() {
    let mesh = mesh().await;
    let mut client = internal(&mesh);
    let email = unique_email("created");
    let created = create(
        &mut client,
        &new_key(),
        &email.to_uppercase(),
        Role::Traveler,
    )
    .await
    .expect("create");
    assert!(created.created);
    let user = created.user.expect("user");
    assert_eq!(user.email, email, "stored lower-cased");
    assert_eq!(user.role(), Role::Traveler);
    assert!(!user.email_confirmed, "like a self-registration");
    assert!(user.last_login_at.is_none());

    let database = astro_e2e::system_db(&mesh).await;
    let stored = database
        .collection::<Document>("users")
        .find_one(doc! { "_id": &user.id })
        .await
        .expect("find")
        .expect("stored");
    assert!(
        stored
            .get_str("password_hash")
            .expect("hash")
            .starts_with("$argon2id$"),
        "hashed with argon2id"
    );

    let mut system = system_client(mesh.address(Service::Gateway));
    let session = login(&mut system, &email, PASSWORD)
        .await
        .expect("the new account logs in");
    assert_eq!(session.user.expect("user").id, user.id);

    // The confirmation e-mail went through the outbox, like a self-registration's.
    let outbox = database.collection::<Document>("outbox");
    let entry = outbox
        .find_one(doc! { "recipient_user_id": &user.id })
        .await
        .expect("find")
        .expect("an outbox entry with the account");
    assert_eq!(
        entry.get_str("event_type").expect("type"),
        "NOTIFICATION_EVENT_TYPE_USER_REGISTERED"
    );
    assert!(
        entry
            .get_document("data")
            .expect("data")
            .get_str("confirmation_token")
            .is_ok_and(|token| token.len() >= 40)
    );
    let delivered = eventually(Duration::from_secs(20), || {
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
    assert!(
        delivered,
        "the relay delivered the confirmation to NotifyAPI"
    );

    let fetched = client
        .get_user(GetUserRequest {
            user_id: user.id.clone(),
        })
        .await
        .expect("get user")
        .into_inner()
        .user
        .expect("user");
    assert!(fetched.last_login_at.is_some(), "the login was recorded");
}

#[tokio::test]
async fn retries_with_one_key_make_one_account_even_when_concurrent() {
    let mesh = mesh().await;
    let mut client = internal(&mesh);

    let key = new_key();
    let email = unique_email("retried");
    let first = create(&mut client, &key, &email, Role::Agency)
        .await
        .expect("first");
    let again = create(&mut client, &key, &email, Role::Agency)
        .await
        .expect("retry");
    assert!(first.created);
    assert!(!again.created, "a replay");
    assert_eq!(
        first.user.expect("user").id,
        again.user.expect("user").id,
        "the account of the first call"
    );

    let key = new_key();
    let email = unique_email("concurrent");
    let calls = (0..5).map(|_| {
        let mut client = client.clone();
        let key = key.clone();
        let email = email.clone();
        tokio::spawn(async move { create(&mut client, &key, &email, Role::Traveler).await })
    });
    let answers: Vec<CreateAccountResponse> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| joined.expect("task").expect("every retry succeeds"))
        .collect();
    assert_eq!(
        answers.iter().filter(|answer| answer.created).count(),
        1,
        "exactly one call created it"
    );
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|answer| answer.user.as_ref().expect("user").id.clone())
        .collect();
    assert_eq!(ids.len(), 1, "one account id for all: {ids:?}");
    let database = astro_e2e::system_db(&mesh).await;
    assert_eq!(
        database
            .collection::<Document>("users")
            .count_documents(doc! { "email": &email })
            .await
            .expect("count"),
        1
    );
    let id = ids.into_iter().next().expect("id");
    assert_eq!(
        database
            .collection::<Document>("outbox")
            .count_documents(doc! { "recipient_user_id": &id })
            .await
            .expect("count"),
        1,
        "one confirmation e-mail"
    );
}

#[tokio::test]
async fn reused_keys_taken_emails_and_wrong_roles_are_refused() {
    let mesh = mesh().await;
    let mut client = internal(&mesh);
    let key = new_key();
    let email = unique_email("first");
    create(&mut client, &key, &email, Role::Traveler)
        .await
        .expect("create");

    let other_email = create(&mut client, &key, &unique_email("other"), Role::Traveler)
        .await
        .expect_err("same key, another e-mail");
    assert_eq!(other_email.code(), Code::FailedPrecondition);

    let taken = create(
        &mut client,
        &new_key(),
        &email.to_uppercase(),
        Role::Traveler,
    )
    .await
    .expect_err("e-mail taken by another registration");
    assert_eq!(taken.code(), Code::AlreadyExists);

    // An e-mail taken by a self-registration is taken too.
    let mut system = system_client(mesh.address(Service::Gateway));
    let registered = unique_email("self");
    system
        .register(RegisterRequest {
            email: registered.clone(),
            password: PASSWORD.to_owned(),
            name: "Self".to_owned(),
            role: Role::Traveler.into(),
        })
        .await
        .expect("register");
    let taken = create(&mut client, &new_key(), &registered, Role::Traveler)
        .await
        .expect_err("taken by a self-registration");
    assert_eq!(taken.code(), Code::AlreadyExists);

    for role in [Role::Admin, Role::Finance, Role::It, Role::Unspecified] {
        let refused = create(&mut client, &new_key(), &unique_email("role"), role)
            .await
            .expect_err("not a registration role");
        assert_eq!(refused.code(), Code::InvalidArgument, "{role:?}");
    }
    let short_key = create(&mut client, "short", &unique_email("key"), Role::Traveler)
        .await
        .expect_err("key too short");
    assert_eq!(short_key.code(), Code::InvalidArgument);
    let mut weak = request(&new_key(), &unique_email("weak"), Role::Traveler);
    weak.password = "short".to_owned();
    let weak = client
        .create_account(weak)
        .await
        .expect_err("weak password");
    assert_eq!(weak.code(), Code::InvalidArgument);
    let bad_email = create(&mut client, &new_key(), "not-an-email", Role::Traveler)
        .await
        .expect_err("bad e-mail");
    assert_eq!(bad_email.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn delete_account_undoes_a_fresh_account_and_cancels_its_email() {
    let mesh = mesh().await;
    let mut client = internal(&mesh);
    let key = new_key();
    let email = unique_email("undone");
    let user = create(&mut client, &key, &email, Role::Traveler)
        .await
        .expect("create")
        .user
        .expect("user");

    let deleted = client
        .delete_account(DeleteAccountRequest {
            user_id: user.id.clone(),
            reason: "traveler profile creation failed".to_owned(),
        })
        .await
        .expect("delete")
        .into_inner();
    assert!(deleted.deleted);

    let mut system = system_client(mesh.address(Service::Gateway));
    let refused = login(&mut system, &email, PASSWORD)
        .await
        .expect_err("the account is gone");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let missing = client
        .get_user(GetUserRequest {
            user_id: user.id.clone(),
        })
        .await
        .expect_err("gone");
    assert_eq!(missing.code(), Code::NotFound);

    // Its confirmation e-mail is cancelled and never relayed.
    let outbox = astro_e2e::system_db(&mesh)
        .await
        .collection::<Document>("outbox");
    let entry = outbox
        .find_one(doc! { "recipient_user_id": &user.id })
        .await
        .expect("find")
        .expect("the entry is kept, marked");
    assert!(entry.get_datetime("cancelled_at").is_ok(), "{entry:?}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let entry = outbox
        .find_one(doc! { "recipient_user_id": &user.id })
        .await
        .expect("find")
        .expect("entry");
    assert!(
        !entry.get_bool("delivered").expect("delivered"),
        "{entry:?}"
    );
    assert_eq!(
        entry.get_i32("attempts").expect("attempts"),
        0,
        "never claimed"
    );

    // Idempotent: deleting again finds nothing.
    let again = client
        .delete_account(DeleteAccountRequest {
            user_id: user.id.clone(),
            reason: String::new(),
        })
        .await
        .expect("delete again")
        .into_inner();
    assert!(!again.deleted);

    // The undone registration's key is free again: a retry of the whole flow starts over.
    let retried = create(&mut client, &key, &email, Role::Traveler)
        .await
        .expect("create again");
    assert!(retried.created);
    assert_ne!(retried.user.expect("user").id, user.id);
}

#[tokio::test]
async fn delete_account_refuses_used_old_or_self_registered_accounts() {
    let mesh = mesh().await;
    let mut client = internal(&mesh);
    let mut system = system_client(mesh.address(Service::Gateway));
    let users = astro_e2e::system_db(&mesh)
        .await
        .collection::<Document>("users");

    let email = unique_email("used");
    let used = create(&mut client, &new_key(), &email, Role::Traveler)
        .await
        .expect("create")
        .user
        .expect("user");
    login(&mut system, &email, PASSWORD).await.expect("login");
    let refused = client
        .delete_account(DeleteAccountRequest {
            user_id: used.id.clone(),
            reason: "too late".to_owned(),
        })
        .await
        .expect_err("it logged in");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    login(&mut system, &email, PASSWORD)
        .await
        .expect("the account still works");

    let old = create(&mut client, &new_key(), &unique_email("old"), Role::Agency)
        .await
        .expect("create")
        .user
        .expect("user");
    let day_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 25 * 3600 * 1000);
    users
        .update_one(
            doc! { "_id": &old.id },
            doc! { "$set": { "created_at": day_ago } },
        )
        .await
        .expect("age the account");
    let refused = client
        .delete_account(DeleteAccountRequest {
            user_id: old.id.clone(),
            reason: "too late".to_owned(),
        })
        .await
        .expect_err("older than 24 hours");
    assert_eq!(refused.code(), Code::FailedPrecondition);

    let registered = system
        .register(RegisterRequest {
            email: unique_email("self"),
            password: PASSWORD.to_owned(),
            name: "Self".to_owned(),
            role: Role::Traveler.into(),
        })
        .await
        .expect("register")
        .into_inner()
        .user
        .expect("user");
    let refused = client
        .delete_account(DeleteAccountRequest {
            user_id: registered.id.clone(),
            reason: "not ours".to_owned(),
        })
        .await
        .expect_err("not made by CreateAccount");
    assert_eq!(refused.code(), Code::FailedPrecondition);

    for id in [&used.id, &old.id, &registered.id] {
        assert_eq!(
            users
                .count_documents(doc! { "_id": id })
                .await
                .expect("count"),
            1,
            "kept"
        );
    }
    let empty = client
        .delete_account(DeleteAccountRequest::default())
        .await
        .expect_err("no id");
    assert_eq!(empty.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn users_are_read_one_by_one_in_batches_and_listed_by_role() {
    let mesh = mesh().await;
    // NotifyAPI is the one caller allowed every read (it finds recipients by role).
    let mut client = internal_as(&mesh, Service::Notify);
    let mut registrar = internal(&mesh);

    // Four agencies with e-mails in a known order, one of them disabled.
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut agencies = Vec::new();
    for letter in ["d", "b", "a", "c"] {
        let email = format!("{letter}-agency-{tag}@astrobookings.test");
        let user = create(&mut registrar, &new_key(), &email, Role::Agency)
            .await
            .expect("create")
            .user
            .expect("user");
        agencies.push(user);
    }
    let traveler = create(
        &mut registrar,
        &new_key(),
        &unique_email("traveler"),
        Role::Traveler,
    )
    .await
    .expect("create")
    .user
    .expect("user");
    let disabled = agencies
        .iter()
        .find(|user| user.email.starts_with("c-"))
        .expect("c")
        .clone();
    let mut system = system_client(mesh.address(Service::Gateway));
    let admin = login(&mut system, &mesh.admin_email, &mesh.admin_password)
        .await
        .expect("admin");
    system
        .disable_user(with_token(
            DisableUserRequest {
                id: disabled.id.clone(),
                reason: "test".to_owned(),
            },
            &access_token(&admin),
        ))
        .await
        .expect("disable");

    // GetUser.
    let fetched = client
        .get_user(GetUserRequest {
            user_id: traveler.id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(fetched.email, traveler.email);
    assert_eq!(fetched.name, traveler.name);
    assert_eq!(fetched.role(), Role::Traveler);
    let unknown = uuid::Uuid::now_v7().to_string();
    let missing = client
        .get_user(GetUserRequest {
            user_id: unknown.clone(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound);
    let empty = client
        .get_user(GetUserRequest::default())
        .await
        .expect_err("no id");
    assert_eq!(empty.code(), Code::InvalidArgument);

    // BatchGetUsers: duplicates ignored, unknown ids listed.
    let batch = client
        .batch_get_users(BatchGetUsersRequest {
            user_ids: vec![
                traveler.id.clone(),
                agencies[0].id.clone(),
                unknown.clone(),
                traveler.id.clone(),
            ],
        })
        .await
        .expect("batch")
        .into_inner();
    let mut found: Vec<String> = batch.users.iter().map(|user| user.id.clone()).collect();
    found.sort();
    let mut expected = vec![traveler.id.clone(), agencies[0].id.clone()];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(batch.missing_user_ids, vec![unknown.clone()]);
    let too_many = client
        .batch_get_users(BatchGetUsersRequest {
            user_ids: (0..501).map(|index| format!("id-{index}")).collect(),
        })
        .await
        .expect_err("more than 500");
    assert_eq!(too_many.code(), Code::InvalidArgument);

    // ListUsersByRole: enabled agencies by e-mail, two per page.
    let mut emails = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_users_by_role(ListUsersByRoleRequest {
                role: Role::Agency.into(),
                page_size: 2,
                page_token: page_token.clone(),
            })
            .await
            .expect("list")
            .into_inner();
        pages += 1;
        assert!(page.contacts.len() <= 2);
        for contact in &page.contacts {
            let user = agencies
                .iter()
                .find(|user| user.id == contact.user_id)
                .expect("one of the agencies");
            assert_eq!(contact.name, user.name);
            emails.push(contact.email.clone());
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(pages, 2, "the last page says there is no next one");
    let expected: Vec<String> = ["a", "b", "d"]
        .iter()
        .map(|letter| format!("{letter}-agency-{tag}@astrobookings.test"))
        .collect();
    assert_eq!(emails, expected, "enabled only, ordered by e-mail");

    let travelers = client
        .list_users_by_role(ListUsersByRoleRequest {
            role: Role::Traveler.into(),
            ..ListUsersByRoleRequest::default()
        })
        .await
        .expect("list travelers")
        .into_inner();
    assert_eq!(travelers.contacts.len(), 1);
    assert_eq!(travelers.contacts[0].user_id, traveler.id);
    let admins = client
        .list_users_by_role(ListUsersByRoleRequest {
            role: Role::Admin.into(),
            ..ListUsersByRoleRequest::default()
        })
        .await
        .expect("list admins")
        .into_inner();
    assert_eq!(admins.contacts.len(), 1);
    assert_eq!(admins.contacts[0].email, mesh.admin_email);

    let unspecified = client
        .list_users_by_role(ListUsersByRoleRequest::default())
        .await
        .expect_err("no role");
    assert_eq!(unspecified.code(), Code::InvalidArgument);
    let bad_token = client
        .list_users_by_role(ListUsersByRoleRequest {
            role: Role::Agency.into(),
            page_token: "not a token".to_owned(),
            ..ListUsersByRoleRequest::default()
        })
        .await
        .expect_err("bad token");
    assert_eq!(bad_token.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn validate_token_names_the_caller_until_the_token_is_revoked() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::System));
    let (user, session) =
        astro_e2e::accounts::register_and_login(&mut system, "validated", Role::Traveler).await;
    let token = access_token(&session);
    let mut finance = internal_as(&mesh, Service::Finance);
    let validate = |token: String| {
        let mut client = finance.clone();
        async move {
            client
                .validate_token(ValidateTokenRequest {
                    access_token: token,
                })
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let valid = validate(token.clone())
        .await
        .expect("a fresh token is valid");
    assert_eq!(valid.user_id, user.id);
    assert_eq!(valid.role(), Role::Traveler);
    assert!(!valid.jti.is_empty());
    let issued = valid.issued_at.expect("iat").seconds;
    let expires = valid.expires_at.expect("exp").seconds;
    assert!(expires > issued, "{issued} < {expires}");

    let empty = validate(String::new()).await.expect_err("no token");
    assert_eq!(empty.code(), Code::InvalidArgument);
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    for bad in [tampered, "not.a.jwt".to_owned()] {
        let refused = validate(bad).await.expect_err("a bad token");
        assert_eq!(refused.code(), Code::Unauthenticated);
    }

    // After logout the same, still unexpired, token is refused.
    system
        .logout(with_token(LogoutRequest::default(), &token))
        .await
        .expect("logout");
    let revoked = validate(token.clone()).await.expect_err("revoked");
    assert_eq!(revoked.code(), Code::Unauthenticated);
    assert!(
        revoked.message().contains("revoked"),
        "{}",
        revoked.message()
    );

    // Only the mesh's services may ask: a caller without a service identity is refused.
    let anonymous =
        SystemInternalServiceClient::new(astro_e2e::channel(mesh.address(Service::System)))
            .validate_token(ValidateTokenRequest {
                access_token: access_token(
                    &login(&mut system, &user.email, PASSWORD)
                        .await
                        .expect("login"),
                ),
            })
            .await
            .expect_err("no service identity");
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    finance = internal_as(&mesh, Service::Notify);
    assert!(
        finance
            .validate_token(ValidateTokenRequest {
                access_token: access_token(
                    &login(&mut system, &user.email, PASSWORD)
                        .await
                        .expect("login")
                ),
            })
            .await
            .is_ok(),
        "every service of the mesh may ask"
    );
}

#[tokio::test]
async fn list_revoked_tokens_pages_every_revocation_in_order_since_a_time() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::Gateway));
    let internal = internal_as(&mesh, Service::Booking);
    let list = |since: Option<prost_types::Timestamp>, page_size: i32, page_token: String| {
        let mut client = internal.clone();
        async move {
            client
                .list_revoked_tokens(ListRevokedTokensRequest {
                    revoked_since: since,
                    page_size,
                    page_token,
                })
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let empty = list(None, 0, String::new()).await.expect("an empty list");
    assert!(empty.tokens.is_empty(), "{empty:?}");
    assert!(empty.as_of.is_some());

    // A logout revokes one token, by its jti.
    let (_, session) =
        astro_e2e::accounts::register_and_login(&mut system, "logout", Role::Traveler).await;
    let token = access_token(&session);
    let jti = internal
        .clone()
        .validate_token(ValidateTokenRequest {
            access_token: token.clone(),
        })
        .await
        .expect("valid")
        .into_inner()
        .jti;
    system
        .logout(with_token(LogoutRequest::default(), &token))
        .await
        .expect("logout");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = prost_types::Timestamp::from(std::time::SystemTime::now());
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Disabling an account revokes every token its user holds.
    let (disabled, _) =
        astro_e2e::accounts::register_and_login(&mut system, "disabled", Role::Traveler).await;
    let admin = login(&mut system, &mesh.admin_email, &mesh.admin_password)
        .await
        .expect("admin");
    system
        .disable_user(with_token(
            DisableUserRequest {
                id: disabled.id.clone(),
                reason: "revocation list".to_owned(),
            },
            &access_token(&admin),
        ))
        .await
        .expect("disable");

    // One entry a page, oldest first, until the token runs out.
    let first = list(None, 1, String::new()).await.expect("first page");
    assert_eq!(first.tokens.len(), 1, "{first:?}");
    assert_eq!(first.tokens[0].jti, jti);
    assert!(first.tokens[0].user_id.is_empty() && first.tokens[0].session_id.is_empty());
    assert!(!first.next_page_token.is_empty());
    let second = list(None, 1, first.next_page_token.clone())
        .await
        .expect("second page");
    assert_eq!(second.tokens.len(), 1, "{second:?}");
    assert_eq!(second.tokens[0].user_id, disabled.id);
    assert!(second.tokens[0].jti.is_empty());
    let revoked_at = |entry: &astro_proto::astrobookings::system::v1::RevokedToken| {
        let time = entry.revoked_at.expect("revoked_at");
        (time.seconds, time.nanos)
    };
    assert!(revoked_at(&first.tokens[0]) <= revoked_at(&second.tokens[0]));
    let expires = second.tokens[0].expires_at.expect("expires_at");
    assert!(expires.seconds > second.tokens[0].revoked_at.expect("revoked_at").seconds);
    assert!(
        second.next_page_token.is_empty(),
        "the last page: {second:?}"
    );

    // Since a time: only what was revoked at or after it.
    let since = list(Some(between), 0, String::new()).await.expect("since");
    let users: Vec<&str> = since
        .tokens
        .iter()
        .map(|entry| entry.user_id.as_str())
        .collect();
    assert_eq!(users, [disabled.id.as_str()], "{since:?}");

    // Bad paging is the client's mistake.
    let negative = list(None, -1, String::new()).await.expect_err("negative");
    assert_eq!(negative.code(), Code::InvalidArgument);
    let foreign = list(Some(between), 1, first.next_page_token)
        .await
        .expect_err("a token of another query");
    assert_eq!(foreign.code(), Code::InvalidArgument);
}
