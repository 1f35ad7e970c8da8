//! Catalogue reads: the first page of ListLaunches, or GetLaunch of a random launch, over
//! gRPC (to BookingAPI, the gateway or the bare tonic anchor), grpc-web or REST.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use astro_e2e::fixtures::booking_client;
use astro_proto::astrobookings::booking::v1::{GetLaunchRequest, ListLaunchesRequest};
use prost::Message as _;

use crate::load::{
    Http, Outcome, Rng, Sample, grpc_error, grpc_web_outcome, rest_error, transport_error,
};

pub const LIST_LAUNCHES: &str = "/astrobookings.booking.v1.BookingService/ListLaunches";
pub const GET_LAUNCH: &str = "/astrobookings.booking.v1.BookingService/GetLaunch";
/// The page a catalogue list asks for.
pub const PAGE_SIZE: i32 = 20;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Read {
    List,
    Get,
}

#[derive(Clone)]
pub enum ReadPath {
    Grpc(SocketAddr),
    GrpcWeb(Http),
    Rest(Http),
}

/// Reads until `deadline`.
pub async fn read_until(
    path: ReadPath,
    read: Read,
    launches: Arc<Vec<String>>,
    worker: usize,
    deadline: Instant,
) -> Vec<Sample> {
    let mut rng = Rng::new(worker);
    let mut grpc = match &path {
        ReadPath::Grpc(address) => Some(booking_client(*address)),
        _ => None,
    };
    let list = ListLaunchesRequest {
        page_size: PAGE_SIZE,
        ..ListLaunchesRequest::default()
    };
    let list_bytes = list.encode_to_vec();
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        let launch = if launches.is_empty() {
            String::new()
        } else {
            launches[rng.below(launches.len())].clone()
        };
        let started = Instant::now();
        let answer = match (&path, grpc.as_mut()) {
            (ReadPath::Grpc(_), Some(client)) => {
                let answer = match read {
                    Read::List => client.list_launches(list.clone()).await.map(drop),
                    Read::Get => client
                        .get_launch(GetLaunchRequest { id_or_slug: launch })
                        .await
                        .map(drop),
                };
                match answer {
                    Ok(()) => (Outcome::Ok, None),
                    Err(status) => grpc_error(&status),
                }
            }
            (ReadPath::GrpcWeb(http), _) => {
                let answer = match read {
                    Read::List => http.grpc_web(LIST_LAUNCHES, &list_bytes).await,
                    Read::Get => {
                        let request = GetLaunchRequest { id_or_slug: launch }.encode_to_vec();
                        http.grpc_web(GET_LAUNCH, &request).await
                    }
                };
                grpc_web_outcome(answer)
            }
            (ReadPath::Rest(http), _) => {
                let path = match read {
                    Read::List => format!("/v1/launches?pageSize={PAGE_SIZE}"),
                    Read::Get => format!("/v1/launches/{launch}"),
                };
                match http.rest("GET", &path, &[], None).await {
                    Ok((200, _)) => (Outcome::Ok, None),
                    Ok((status, json)) => rest_error(status, &json),
                    Err(error) => transport_error(&error),
                }
            }
            (ReadPath::Grpc(_), None) => (Outcome::Error("no client".to_owned()), None),
        };
        samples.push(Sample::of(started, answer));
    }
    samples
}
