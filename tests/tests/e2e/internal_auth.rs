//! Internal RPCs are for the services named in the contract only: every RPC of every
//! `*InternalService`, called as an attacker on the network would (no token, a user's token, a
//! token of a service not allowed, a token for another callee, a key nobody trusts) and as the
//! allowed callers do.

use std::{str::FromStr as _, time::Duration};

use astro_e2e::{
    Service, channel, fixtures,
    grpc_web::{self, Encoding},
    mesh,
};
use astro_proto::astrobookings::common::v1::{MeshService, Role};
use astro_shared::{
    auth::{AccessPolicy, AccessRule, is_internal_service},
    grpc_client::TracedChannel,
    service_auth::{SERVICE_TOKEN_HEADER, all_services},
};
use bytes::{Buf as _, BufMut as _};
use http::uri::PathAndQuery;
use prost_reflect::DescriptorPool;
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

/// Sends and receives message bytes as they are, so one helper calls any RPC with an empty
/// request (every field at its default).
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        Self
    }

    fn decoder(&mut self) -> Self {
        Self
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buffer: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buffer.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buffer: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buffer.copy_to_bytes(buffer.remaining()).to_vec()))
    }
}

/// One unary call of `path` with an empty request; the status it ends with (OK included).
async fn call<T>(transport: T, path: &str, headers: &[(&'static str, String)]) -> Status
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let mut grpc = tonic::client::Grpc::new(transport);
    if let Err(error) = grpc.ready().await {
        return Status::unavailable(format!("not ready: {}", error.into()));
    }
    let mut request = tonic::Request::new(Vec::new());
    request.set_timeout(Duration::from_secs(10));
    for (name, value) in headers {
        request
            .metadata_mut()
            .insert(*name, value.parse().expect("metadata value"));
    }
    let path = PathAndQuery::from_str(path).expect("path");
    match grpc.unary(request, path, RawCodec).await {
        Ok(_) => Status::ok(""),
        Err(status) => status,
    }
}

/// Every internal RPC of the contracts: (process that serves it, gRPC path, allowed callers).
fn internal_rpcs() -> Vec<(Service, String, Vec<MeshService>)> {
    let pool = DescriptorPool::decode(astro_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let mut rpcs = Vec::new();
    for service in pool
        .services()
        .filter(|service| is_internal_service(service.full_name()))
    {
        let processes = match service.package_name() {
            "astrobookings.system.v1" => vec![Service::System],
            "astrobookings.agency.v1" => vec![Service::Agency],
            "astrobookings.booking.v1" => vec![Service::Booking],
            "astrobookings.finance.v1" => vec![Service::Finance],
            "astrobookings.notify.v1" => vec![Service::Notify],
            // The common contracts (instance status) are served by every backend.
            "astrobookings.common.v1" => Service::BACKENDS.to_vec(),
            other => panic!("internal service in an unknown package {other}"),
        };
        let policy = AccessPolicy::from_contracts(&[service.full_name()]).expect("policy");
        for method in service.methods() {
            let path = format!("/{}/{}", service.full_name(), method.name());
            let Some(AccessRule::Services(callers)) = policy.rule(&path).cloned() else {
                panic!("{path} has no internal access rule");
            };
            for process in &processes {
                rpcs.push((*process, path.clone(), callers.clone()));
            }
        }
    }
    assert!(
        rpcs.len() >= 30,
        "the contracts have {} internal RPCs",
        rpcs.len()
    );
    rpcs
}

fn as_process(service: MeshService) -> Service {
    match service {
        MeshService::System => Service::System,
        MeshService::Agency => Service::Agency,
        MeshService::Booking => Service::Booking,
        MeshService::Finance => Service::Finance,
        MeshService::Notify => Service::Notify,
        MeshService::Gateway => Service::Gateway,
        MeshService::Unspecified => panic!("no process"),
    }
}

#[tokio::test]
async fn internal_rpcs_refuse_callers_without_a_service_token_and_the_gateway_does_not_know_them() {
    let mesh = mesh().await;
    let employee = fixtures::employee(&mesh, Role::It).await;
    let bearer = format!("Bearer {}", employee.token);
    let gateway = mesh.gateway_url();
    for (process, path, _) in internal_rpcs() {
        let anonymous = call(channel(mesh.address(process)), &path, &[]).await;
        assert_eq!(
            anonymous.code(),
            Code::Unauthenticated,
            "{path}: {anonymous:?}"
        );
        assert!(
            anonymous.message().contains("service token is required"),
            "{path}: {anonymous:?}"
        );
        // Even an IT employee's access token opens no internal RPC.
        let user = call(
            channel(mesh.address(process)),
            &path,
            &[("authorization", bearer.clone())],
        )
        .await;
        assert_eq!(
            user.code(),
            Code::Unauthenticated,
            "{path} with a user token"
        );

        let via_gateway = call(channel(mesh.address(Service::Gateway)), &path, &[]).await;
        assert_eq!(
            via_gateway.code(),
            Code::Unimplemented,
            "{path} via the gateway"
        );
        let via_grpc_web = grpc_web::call(&gateway, &path, &[], Encoding::Binary, &[])
            .await
            .expect("grpc-web call");
        assert_eq!(
            via_grpc_web.grpc_status,
            Some(Code::Unimplemented as i32),
            "{path} via grpc-web"
        );
    }

    // Reflection advertises the public services only.
    for process in Service::BACKENDS {
        let mut reflection = ServerReflectionClient::new(channel(mesh.address(process)));
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = reflection
            .server_reflection_info(tokio_stream::once(request))
            .await
            .expect("reflection")
            .into_inner();
        let answer = answers
            .message()
            .await
            .expect("reflection answer")
            .expect("one answer");
        let Some(MessageResponse::ListServicesResponse(listed)) = answer.message_response else {
            panic!("not a service list: {answer:?}");
        };
        let names: Vec<String> = listed
            .service
            .into_iter()
            .map(|service| service.name)
            .collect();
        assert!(
            names.iter().any(|name| name == process.grpc_service()),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|name| is_internal_service(name)),
            "{} lists {names:?}",
            process.name()
        );
    }
}

#[tokio::test]
async fn only_the_services_the_contract_names_may_call_an_internal_rpc() {
    let mesh = mesh().await;
    let mut refused = 0;
    for (process, path, callers) in internal_rpcs() {
        let callee = process.mesh_service();
        for caller in all_services() {
            let signed = mesh.internal_channel(process, as_process(caller));
            let status = call(signed, &path, &[]).await;
            if caller == MeshService::Gateway {
                // Signed, but with a key the mesh does not trust (the gateway has none).
                assert_eq!(
                    status.code(),
                    Code::Unauthenticated,
                    "{path} as the gateway"
                );
            } else if callers.contains(&caller) {
                assert!(
                    !matches!(
                        status.code(),
                        Code::Unauthenticated | Code::PermissionDenied
                    ),
                    "{path} as an allowed {caller:?}: {status:?}"
                );
            } else {
                assert_eq!(
                    status.code(),
                    Code::PermissionDenied,
                    "{path} as {caller:?}: {status:?}"
                );
                refused += 1;
            }
        }
        // An allowed caller's token made out to another service is not accepted here.
        let allowed = as_process(callers[0]);
        let other = Service::BACKENDS
            .into_iter()
            .find(|service| *service != process)
            .expect("another service");
        let misdirected =
            TracedChannel::new(channel(mesh.address(process)), Duration::from_secs(10)).signed_by(
                mesh.service_keys.identity(allowed.mesh_service()),
                other.mesh_service(),
            );
        let status = call(misdirected, &path, &[]).await;
        assert_eq!(status.code(), Code::Unauthenticated, "{path}: {status:?}");
        assert_ne!(callee, other.mesh_service());
    }
    assert!(refused > 50, "only {refused} refusals were tried");

    // An expired token of an allowed caller, sent by hand.
    let booking = mesh.service_keys.identity(MeshService::Booking);
    let now = astro_shared::auth::unix_now();
    let expired = booking
        .sign(MeshService::Finance, now - 600, now - 540)
        .expect("token");
    let status = call(
        channel(mesh.address(Service::Finance)),
        "/astrobookings.finance.v1.FinanceInternalService/RefundBooking",
        &[(SERVICE_TOKEN_HEADER, expired)],
    )
    .await;
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("expired"), "{status:?}");
}
