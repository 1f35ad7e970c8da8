//! Ready-made actors and data for the e2e tests and the load tools, made through the real RPCs
//! (through the gateway at `gateway`): an agency with a complete profile, rockets, launches,
//! travelers with a complete profile, passengers of a given age, and the payment gateway's view
//! of a booking's money.

use std::net::SocketAddr;

use astro_proto::astrobookings::{
    agency::v1::{
        CreateRocketRequest, Launch, ScheduleLaunchRequest, UpdateAgencyProfileRequest,
        agency_service_client::AgencyServiceClient,
    },
    booking::v1::{
        CreateBookingRequest, Passenger, RegisterTravelerRequest,
        booking_service_client::BookingServiceClient,
    },
    common::v1::{Address, Money, RocketRange, Role},
};
use chrono::{DateTime, Datelike as _, Duration, Utc};
use tonic::transport::Channel;

use crate::accounts::{
    PASSWORD, access_token, login_patiently, patiently, register_and_login, system_client,
    unique_email, with_token,
};
use astro_proto::astrobookings::system::v1::CreateEmployeeRequest;

/// A signed-in account: its id and access token.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub email: String,
    pub token: String,
}

pub fn agency_client(gateway: SocketAddr) -> AgencyServiceClient<Channel> {
    AgencyServiceClient::new(crate::channel(gateway))
}

pub fn booking_client(address: SocketAddr) -> BookingServiceClient<Channel> {
    BookingServiceClient::new(crate::channel(address))
}

fn address() -> Address {
    Address {
        line1: "1 Rocket Road".to_owned(),
        city: "Hawthorne".to_owned(),
        region: "CA".to_owned(),
        postal_code: "90250".to_owned(),
        country_code: "US".to_owned(),
        ..Address::default()
    }
}

/// A complete agency profile under `name` (an agency needs one to schedule launches).
pub fn agency_profile(name: &str) -> UpdateAgencyProfileRequest {
    UpdateAgencyProfileRequest {
        name: name.to_owned(),
        description: "Trips to space".to_owned(),
        contact_email: "ops@agency.example".to_owned(),
        contact_phone: "+14155550100".to_owned(),
        tax_id: "US-12-3456789".to_owned(),
        legal_address: Some(address()),
    }
}

/// An AGENCY account with a complete profile.
pub async fn agency(gateway: SocketAddr, label: &str) -> Actor {
    agency_named(gateway, label, &format!("{label} Space")).await
}

/// An AGENCY account with a complete profile under `name`.
pub async fn agency_named(gateway: SocketAddr, label: &str, name: &str) -> Actor {
    let mut system = system_client(gateway);
    let (user, session) = register_and_login(&mut system, label, Role::Agency).await;
    let token = access_token(&session);
    agency_client(gateway)
        .update_agency_profile(with_token(agency_profile(name), &token))
        .await
        .expect("agency profile written");
    Actor {
        id: user.id,
        email: user.email,
        token,
    }
}

/// An employee of `role` created by the mesh's first ADMIN, signed in.
pub async fn employee(mesh: &crate::Mesh, role: Role) -> Actor {
    let mut system = system_client(mesh.address(crate::Service::Gateway));
    let admin = login_patiently(&system, &mesh.admin_email, &mesh.admin_password)
        .await
        .expect("the first ADMIN logs in");
    let email = unique_email("employee");
    let user = system
        .create_employee(with_token(
            CreateEmployeeRequest {
                email: email.clone(),
                password: PASSWORD.to_owned(),
                name: "IT on call".to_owned(),
                role: role.into(),
            },
            &access_token(&admin),
        ))
        .await
        .expect("an ADMIN creates an employee")
        .into_inner()
        .user
        .expect("the employee");
    let session = login_patiently(&system, &email, PASSWORD)
        .await
        .expect("the employee logs in");
    Actor {
        id: user.id,
        email,
        token: access_token(&session),
    }
}

/// An interplanetary rocket of `capacity` seats; returns its id.
pub async fn rocket(gateway: SocketAddr, agency: &Actor, capacity: i32) -> String {
    let name = format!("Falcon {}", uuid::Uuid::new_v4().simple());
    rocket_named(
        gateway,
        agency,
        &name,
        capacity,
        RocketRange::Interplanetary,
    )
    .await
}

/// A rocket named `name`; returns its id.
pub async fn rocket_named(
    gateway: SocketAddr,
    agency: &Actor,
    name: &str,
    capacity: i32,
    range: RocketRange,
) -> String {
    agency_client(gateway)
        .create_rocket(with_token(
            CreateRocketRequest {
                name: name.to_owned(),
                passenger_capacity: capacity,
                range: range.into(),
            },
            &agency.token,
        ))
        .await
        .expect("rocket created")
        .into_inner()
        .rocket
        .expect("rocket")
        .id
}

/// `days` days from now.
pub fn in_days(days: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: (Utc::now() + Duration::days(days)).timestamp(),
        nanos: 0,
    }
}

/// What a launch to schedule differs in.
#[derive(Debug, Clone, Copy)]
pub struct LaunchPlan<'a> {
    pub spaceport: &'a str,
    pub destination: &'a str,
    /// Days from now.
    pub days: i64,
    pub price_minor: i64,
    pub currency: &'a str,
}

impl<'a> LaunchPlan<'a> {
    /// A launch from Cape Canaveral priced in USD cents per seat.
    pub fn usd(destination: &'a str, days: i64, price_minor: i64) -> Self {
        Self {
            spaceport: "Cape Canaveral",
            destination,
            days,
            price_minor,
            currency: "USD",
        }
    }
}

/// Schedules a launch of `rocket_id` as `plan` says; returns it as AgencyAPI answers.
pub async fn schedule(
    gateway: SocketAddr,
    agency: &Actor,
    rocket_id: &str,
    plan: LaunchPlan<'_>,
) -> Launch {
    agency_client(gateway)
        .schedule_launch(with_token(
            ScheduleLaunchRequest {
                rocket_id: rocket_id.to_owned(),
                spaceport: plan.spaceport.to_owned(),
                destination: plan.destination.to_owned(),
                scheduled_at: Some(in_days(plan.days)),
                price_per_seat: Some(Money {
                    amount_minor: plan.price_minor,
                    currency: plan.currency.to_owned(),
                }),
                minimum_occupancy: 1,
            },
            &agency.token,
        ))
        .await
        .expect("launch scheduled")
        .into_inner()
        .launch
        .expect("launch")
}

/// A launch of `rocket_id` in `days` days at `price_minor` USD cents per seat; returns its id.
pub async fn launch(
    gateway: SocketAddr,
    agency: &Actor,
    rocket_id: &str,
    days: i64,
    price_minor: i64,
) -> String {
    let destination = format!("Moon {}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let plan = LaunchPlan::usd(&destination, days, price_minor);
    schedule(gateway, agency, rocket_id, plan).await.id
}

/// A traveler registered in one step through BookingAPI (complete profile), signed in.
pub async fn traveler(gateway: SocketAddr, label: &str) -> Actor {
    traveler_with_email(gateway, &unique_email(label), &format!("Traveler {label}")).await
}

/// As [`traveler`], registered under `email` and `name`.
pub async fn traveler_with_email(gateway: SocketAddr, email: &str, name: &str) -> Actor {
    let email = email.to_owned();
    // One idempotency key for every attempt: a retry returns the traveler the first made.
    let request = RegisterTravelerRequest {
        email: email.clone(),
        password: PASSWORD.to_owned(),
        name: name.to_owned(),
        phone: "+14155550123".to_owned(),
        tax_id: "TX-123456".to_owned(),
        billing_address: Some(address()),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
    };
    let booking = booking_client(gateway);
    let traveler = patiently("traveler registration", || {
        let mut booking = booking.clone();
        let request = request.clone();
        async move { booking.register_traveler(request).await }
    })
    .await
    .expect("traveler registered")
    .into_inner()
    .traveler
    .expect("traveler");
    let session = login_patiently(&system_client(gateway), &email, PASSWORD)
        .await
        .expect("traveler login");
    Actor {
        id: traveler.id,
        email,
        token: access_token(&session),
    }
}

/// A passenger who is `age` years old (whole years) on `launch_at`'s date.
pub fn passenger_aged(age: i32, launch_at: DateTime<Utc>) -> Passenger {
    let day = launch_at.date_naive();
    // Born on the launch day `age` years earlier: exactly `age` on that day. Falls back to the
    // day before for 29 February.
    let birth = day
        .with_year(day.year() - age)
        .or_else(|| {
            day.pred_opt()
                .and_then(|day| day.with_year(day.year() - age))
        })
        .expect("a birth date");
    Passenger {
        full_name: format!("Passenger {age}"),
        date_of_birth: birth.format("%Y-%m-%d").to_string(),
        email: "passenger@example.com".to_owned(),
        phone: String::new(),
    }
}

/// Everyday passengers (35 years old on any launch within the next decades).
pub fn passengers(count: usize) -> Vec<Passenger> {
    (0..count)
        .map(|index| Passenger {
            full_name: format!("Passenger {index}"),
            date_of_birth: "1990-05-17".to_owned(),
            email: format!("passenger{index}@example.com"),
            phone: String::new(),
        })
        .collect()
}

/// A booking of `passengers` on `launch_id`, paid with localstripe's test card that succeeds,
/// under a fresh idempotency key.
pub fn booking_request(launch_id: &str, passengers: Vec<Passenger>) -> CreateBookingRequest {
    CreateBookingRequest {
        launch_id: launch_id.to_owned(),
        passengers,
        payment_method_id: "pm_card_visa".to_owned(),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
    }
}

/// The payment gateway's (localstripe's) own record of a PaymentIntent: amount, amount
/// received, and how many refunds and how much was refunded against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayPayment {
    pub status: String,
    pub amount: i64,
    pub refunds: usize,
    pub refunded: i64,
}

/// Reads PaymentIntent `id` and its refunds from the Stripe API at `stripe_url`.
pub async fn gateway_payment(stripe_url: &str, id: &str) -> anyhow::Result<GatewayPayment> {
    let auth = ("authorization", "Bearer sk_test_astrobookings");
    let intent = crate::rest::send(
        "GET",
        &format!("{stripe_url}v1/payment_intents/{id}"),
        &[auth],
        None,
    )
    .await?;
    anyhow::ensure!(intent.status == 200, "payment intent {id}: {}", intent.json);
    let charge_id = match &intent.json["latest_charge"] {
        serde_json::Value::String(id) => id.clone(),
        other => other["id"].as_str().unwrap_or_default().to_owned(),
    };
    let charge = crate::rest::send(
        "GET",
        &format!("{stripe_url}v1/charges/{charge_id}"),
        &[auth],
        None,
    )
    .await?;
    let refunds = charge.json["refunds"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(GatewayPayment {
        status: intent.json["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        amount: intent.json["amount"].as_i64().unwrap_or_default(),
        refunds: refunds.len(),
        refunded: charge.json["amount_refunded"].as_i64().unwrap_or_default(),
    })
}
