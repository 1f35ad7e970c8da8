//! Page tokens through the real path (gateway, service, its database): a token works for the
//! query it came from and is INVALID_ARGUMENT on `page_token` when replayed with other filters,
//! in SystemAPI (ListUsers, on SystemDB) and AgencyAPI (ListRockets, on OperationsDB).

use astro_e2e::{
    Service,
    accounts::{access_token, login, register_and_login, system_client, with_token},
    fixtures, mesh,
};
use astro_proto::astrobookings::{
    agency::v1::ListRocketsRequest,
    common::v1::{RocketRange, Role},
    system::v1::ListUsersRequest,
};
use tonic::Code;

#[tokio::test]
async fn a_page_token_serves_its_own_query_only() {
    let mesh = mesh().await;
    let gateway = mesh.address(Service::Gateway);

    // SystemAPI: two travelers make a second page of ListUsers(role = TRAVELER, one per page).
    let mut system = system_client(gateway);
    for label in ["pager-a", "pager-b"] {
        register_and_login(&mut system, label, Role::Traveler).await;
    }
    let admin = login(&mut system, &mesh.admin_email, &mesh.admin_password)
        .await
        .expect("the first ADMIN logs in");
    let admin = access_token(&admin);
    let travelers = |page_token: String, role: Role| ListUsersRequest {
        role: role.into(),
        page_size: 1,
        page_token,
        ..ListUsersRequest::default()
    };
    let first = system
        .list_users(with_token(travelers(String::new(), Role::Traveler), &admin))
        .await
        .expect("first page")
        .into_inner();
    assert_eq!(first.users.len(), 1);
    assert!(!first.next_page_token.is_empty(), "a second page follows");
    let second = system
        .list_users(with_token(
            travelers(first.next_page_token.clone(), Role::Traveler),
            &admin,
        ))
        .await
        .expect("the token serves its own query")
        .into_inner();
    assert_eq!(second.users.len(), 1);
    assert_ne!(second.users[0].id, first.users[0].id);
    let replayed = system
        .list_users(with_token(
            travelers(first.next_page_token, Role::Agency),
            &admin,
        ))
        .await
        .expect_err("a token of another role's list is refused");
    assert_eq!(replayed.code(), Code::InvalidArgument);
    assert_eq!(astro_e2e::violated_field(&replayed), "page_token");

    // AgencyAPI: two rockets make a second page of ListRockets(one per page).
    let agency = fixtures::agency(gateway, "pager").await;
    for _ in 0..2 {
        fixtures::rocket(gateway, &agency, 4).await;
    }
    let mut agencies = fixtures::agency_client(gateway);
    let rockets = |page_token: String, range: RocketRange| ListRocketsRequest {
        range: range.into(),
        page_size: 1,
        page_token,
        ..ListRocketsRequest::default()
    };
    let first = agencies
        .list_rockets(with_token(
            rockets(String::new(), RocketRange::Unspecified),
            &agency.token,
        ))
        .await
        .expect("first page")
        .into_inner();
    assert!(!first.next_page_token.is_empty(), "a second page follows");
    let second = agencies
        .list_rockets(with_token(
            rockets(first.next_page_token.clone(), RocketRange::Unspecified),
            &agency.token,
        ))
        .await
        .expect("the token serves its own query")
        .into_inner();
    assert_ne!(second.rockets[0].id, first.rockets[0].id);
    let replayed = agencies
        .list_rockets(with_token(
            rockets(first.next_page_token, RocketRange::Interplanetary),
            &agency.token,
        ))
        .await
        .expect_err("a token of another range's list is refused");
    assert_eq!(replayed.code(), Code::InvalidArgument);
    assert_eq!(astro_e2e::violated_field(&replayed), "page_token");
}
