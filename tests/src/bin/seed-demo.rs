//! Demo data for `./dev up`, made through the gateway's real RPCs: an agency with rockets and
//! bookable launches, and a traveler with a complete profile. Runs once: if the demo agency can
//! log in already, it does nothing.
//!
//! Usage: `seed-demo [gateway host:port]` (default 127.0.0.1:8080).

use std::net::SocketAddr;

use astro_e2e::{
    accounts::{access_token, login, system_client, with_token},
    fixtures::{agency_client, booking_client},
};
use astro_proto::astrobookings::{
    agency::v1::{CreateRocketRequest, ScheduleLaunchRequest, UpdateAgencyProfileRequest},
    booking::v1::RegisterTravelerRequest,
    common::v1::{Address, Money, RocketRange, Role},
    system::v1::RegisterRequest,
};

const AGENCY_EMAIL: &str = "demo-agency@astrobookings.local";
const TRAVELER_EMAIL: &str = "demo-traveler@astrobookings.local";
const PASSWORD: &str = "demo-password-2026";

fn address() -> Address {
    Address {
        line1: "1 Rocket Road".into(),
        city: "Hawthorne".into(),
        region: "CA".into(),
        postal_code: "90250".into(),
        country_code: "US".into(),
        ..Address::default()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let gateway: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned())
        .parse()?;
    let mut system = system_client(gateway);
    if login(&mut system, AGENCY_EMAIL, PASSWORD).await.is_ok() {
        println!("demo data already present ({AGENCY_EMAIL})");
        return Ok(());
    }
    system
        .register(RegisterRequest {
            email: AGENCY_EMAIL.into(),
            password: PASSWORD.into(),
            name: "Orbital Demo Agency".into(),
            role: Role::Agency.into(),
        })
        .await?;
    let token = access_token(&login(&mut system, AGENCY_EMAIL, PASSWORD).await?);
    let mut agency = agency_client(gateway);
    agency
        .update_agency_profile(with_token(
            UpdateAgencyProfileRequest {
                name: "Orbital Demo Agency".into(),
                description: "Weekend trips to orbit and beyond".into(),
                contact_email: AGENCY_EMAIL.into(),
                contact_phone: "+14155550100".into(),
                tax_id: "US-12-3456789".into(),
                legal_address: Some(address()),
            },
            &token,
        ))
        .await?;
    let now = chrono::Utc::now().timestamp();
    let rockets = [
        ("Falcon X", 12, RocketRange::LowEarthOrbit),
        ("Starhopper", 6, RocketRange::Interplanetary),
    ];
    let mut launches = 0;
    for (index, (name, capacity, range)) in rockets.into_iter().enumerate() {
        let rocket = agency
            .create_rocket(with_token(
                CreateRocketRequest {
                    name: name.into(),
                    passenger_capacity: capacity,
                    range: range.into(),
                },
                &token,
            ))
            .await?
            .into_inner()
            .rocket
            .unwrap_or_default();
        for (destination, days, price) in [("Moon", 45, 25_000_000), ("Mars", 420, 90_000_000)] {
            let offset = i64::try_from(index).unwrap_or(0) * 7;
            agency
                .schedule_launch(with_token(
                    ScheduleLaunchRequest {
                        rocket_id: rocket.id.clone(),
                        spaceport: "Cape Canaveral".into(),
                        destination: destination.into(),
                        scheduled_at: Some(prost_types::Timestamp {
                            seconds: now + (days + offset) * 86_400,
                            nanos: 0,
                        }),
                        price_per_seat: Some(Money {
                            amount_minor: price,
                            currency: "USD".into(),
                        }),
                        minimum_occupancy: 2,
                    },
                    &token,
                ))
                .await?;
            launches += 1;
        }
    }
    booking_client(gateway)
        .register_traveler(RegisterTravelerRequest {
            email: TRAVELER_EMAIL.into(),
            password: PASSWORD.into(),
            name: "Demo Traveler".into(),
            phone: "+14155550123".into(),
            tax_id: "TX-123456".into(),
            billing_address: Some(address()),
            idempotency_key: "seed-demo-traveler".into(),
        })
        .await?;
    println!(
        "demo data: agency {AGENCY_EMAIL} with 2 rockets and {launches} launches, traveler \
         {TRAVELER_EMAIL}; password {PASSWORD}"
    );
    Ok(())
}
