//! REST transcoding round trips through the real gateway application, in process, against a
//! stand-in upstream. The stand-in serves `gatewaytest.v1.EchoService`, a contract written
//! for this test (below) so that every `google.api.http` feature is exercised, including the
//! ones no AstroBookings contract uses yet (nested path fields, `response_body`,
//! `additional_bindings`, a body field). It echoes the decoded request back, or answers the
//! gRPC code the request asks for. It stands in for an upstream only; nothing here replaces a
//! database.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use astro_gateway::{
    AppParts, Config,
    edge::{Caller, VerifyToken},
    ratelimit::RateLimits,
    upstream::UpstreamUrls,
};
use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, StreamBody};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, Value};
use serde_json::{Value as Json, json};

const TEST_PROTO: &str = r#"
syntax = "proto3";
package gatewaytest.v1;

import "astrobookings/common/v1/common.proto";
import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";

// A color, to test enums.
enum Color {
  COLOR_UNSPECIFIED = 0;
  COLOR_RED = 1;
  COLOR_BLUE = 2;
}

// A nested message.
message Inner {
  string name = 1;
  int64 count = 2;
  Color color = 3;
}

// Every kind of field the URL and the body can set.
message EchoRequest {
  string id = 1;
  Inner inner = 2;
  int32 page_size = 3;
  int64 big = 4;
  bool flag = 5;
  Color color = 6;
  repeated Color colors = 7;
  repeated string tags = 8;
  google.protobuf.Timestamp at = 9;
  double ratio = 10;
  string idempotency_key = 11;
  // Non-zero: the stand-in answers this gRPC status code.
  int32 code = 12;
  bytes raw = 13;
  uint64 unsigned = 14;
}

// The request as the upstream received it, and the metadata it carried.
message EchoResponse {
  EchoRequest echo = 1;
  string served_by = 2;
  map<string, string> metadata = 3;
}

// The stand-in upstream.
service EchoService {
  // Reads a thing.
  rpc Get(EchoRequest) returns (EchoResponse) {
    option (google.api.http) = {
      get: "/v1/things/{id}"
      additional_bindings {get: "/v1/{inner.name=shelves/*}/things/{id}"}
    };
    option (astrobookings.common.v1.access) = {public: true};
  }
  // Creates a thing.
  rpc Create(EchoRequest) returns (EchoResponse) {
    option (google.api.http) = {
      post: "/v1/things"
      body: "*"
    };
    option (astrobookings.common.v1.access) = {public: true};
  }
  // Updates a thing's inner part.
  rpc Update(EchoRequest) returns (EchoResponse) {
    option (google.api.http) = {
      patch: "/v1/things/{id}"
      body: "inner"
    };
    option (astrobookings.common.v1.access) = {public: true};
  }
  // Cancels a thing; answers only the echoed request.
  rpc Cancel(EchoRequest) returns (EchoResponse) {
    option (google.api.http) = {
      post: "/v1/things/{id}:cancel"
      body: "*"
      response_body: "echo"
    };
    option (astrobookings.common.v1.access) = {public: true};
  }
  // Uploads raw bytes (needs a token).
  rpc Upload(EchoRequest) returns (EchoResponse) {
    option (google.api.http) = {
      post: "/v1/things/{id}/raw"
      body: "raw"
    };
    option (astrobookings.common.v1.access) = {};
  }
  // Fails with the given code.
  rpc Fail(EchoRequest) returns (EchoResponse) {
    option (google.api.http) = {get: "/v1/fail/{code}"};
    option (astrobookings.common.v1.access) = {public: true};
  }
  // Streams a file of `page_size` chunks (each `big` bytes, or a numbered line), then ends with
  // `code` after `ratio` seconds; with `flag`, stalls before the end.
  rpc Download(EchoRequest) returns (stream Chunk) {
    option (google.api.http) = {get: "/v1/downloads/{id}"};
    option (astrobookings.common.v1.access) = {public: true};
  }
  // Streams `page_size` echoes, then ends with `code`.
  rpc Watch(EchoRequest) returns (stream EchoResponse) {
    option (google.api.http) = {get: "/v1/watch/{id}"};
    option (astrobookings.common.v1.access) = {public: true};
  }
}

// One chunk of a streamed file, shaped like ExportLogsResponse.
message Chunk {
  bytes data = 1;
  // First chunk only.
  string content_type = 2;
  // First chunk only.
  string filename = 3;
}
"#;

/// The AstroBookings contracts plus the test contract.
fn test_pool() -> DescriptorPool {
    let dir = std::env::temp_dir().join(format!("gateway-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("gatewaytest/v1")).expect("temp dir");
    std::fs::write(dir.join("gatewaytest/v1/echo.proto"), TEST_PROTO).expect("write proto");
    let proto_root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let mut compiler =
        protox::Compiler::new([dir.as_path(), proto_root.as_path()]).expect("compiler");
    compiler.include_source_info(true).include_imports(true);
    compiler
        .open_file("gatewaytest/v1/echo.proto")
        .expect("test proto compiles");
    let test_set = compiler.encode_file_descriptor_set();
    let _ = std::fs::remove_dir_all(&dir);
    let mut pool = astro_gateway::contracts::descriptor_pool().expect("contracts");
    // From the encoded bytes: decoded `FileDescriptorProto`s would lose the custom options.
    pool.decode_file_descriptor_set(test_set.as_slice())
        .expect("add test contract");
    pool
}

/// The stand-in upstream: echoes, or fails with the requested code.
async fn stand_in(pool: DescriptorPool, request: http::Request<Body>) -> http::Response<Body> {
    let method = request
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let grpc_timeout = request
        .headers()
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let metadata: Vec<(String, String)> = [
        "authorization",
        "x-request-id",
        "x-forwarded-for",
        "traceparent",
    ]
    .iter()
    .filter_map(|name| {
        let value = request.headers().get(*name)?.to_str().ok()?;
        Some(((*name).to_owned(), value.to_owned()))
    })
    .collect();
    let body = request
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let input = pool
        .get_message_by_name("gatewaytest.v1.EchoRequest")
        .expect("request type");
    let echo = DynamicMessage::decode(input, &body[5..]).expect("request decodes");
    if method == "Download" || method == "Watch" {
        return streamed(&pool, &method, &echo, &grpc_timeout);
    }
    let code = echo
        .get_field_by_name("code")
        .and_then(|value| value.as_i32())
        .unwrap_or(0);
    if code != 0 {
        let code = tonic::Code::from_i32(code);
        let status = if code == tonic::Code::InvalidArgument {
            use tonic_types::StatusExt as _;
            tonic::Status::with_error_details(
                code,
                "the id is too short",
                tonic_types::ErrorDetails::with_bad_request_violation("id", "too short"),
            )
        } else {
            tonic::Status::new(code, format!("stand-in answers {code:?}"))
        };
        return status.into_http();
    }
    let output = pool
        .get_message_by_name("gatewaytest.v1.EchoResponse")
        .expect("response type");
    let mut response = DynamicMessage::new(output);
    response.set_field_by_name("echo", Value::Message(echo));
    response.set_field_by_name("served_by", Value::String("stand-in".into()));
    let map: HashMap<MapKey, Value> = metadata
        .into_iter()
        .map(|(name, value)| (MapKey::String(name), Value::String(value)))
        .collect();
    response.set_field_by_name("metadata", Value::Map(map));
    let encoded = response.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(encoded.len()).expect("small").to_be_bytes());
    frame.extend_from_slice(&encoded);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let frames = futures::stream::iter([
        Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(frame))),
        Ok(http_body::Frame::trailers(trailers)),
    ]);
    http::Response::builder()
        .header("content-type", "application/grpc")
        .body(Body::new(StreamBody::new(frames)))
        .expect("response")
}

/// One gRPC message frame.
fn grpc_frame(message: &DynamicMessage) -> Bytes {
    let encoded = message.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(encoded.len()).expect("small").to_be_bytes());
    frame.extend_from_slice(&encoded);
    Bytes::from(frame)
}

/// How many messages the stand-in has produced for each streamed request id: what the gateway
/// has pulled from it.
fn produced(id: &str) -> Arc<AtomicU64> {
    static PRODUCED: OnceLock<Mutex<HashMap<String, Arc<AtomicU64>>>> = OnceLock::new();
    PRODUCED
        .get_or_init(Mutex::default)
        .lock()
        .expect("lock")
        .entry(id.to_owned())
        .or_default()
        .clone()
}

/// A server stream as `echo` asks for it (see the contract), each message made only when the
/// gateway's HTTP/2 flow control lets the stand-in send it.
fn streamed(
    pool: &DescriptorPool,
    method: &str,
    echo: &DynamicMessage,
    grpc_timeout: &str,
) -> http::Response<Body> {
    let number = |name: &str| {
        echo.get_field_by_name(name)
            .and_then(|value| value.as_i64().or(value.as_i32().map(i64::from)))
            .unwrap_or(0)
    };
    let count = u64::try_from(number("page_size")).expect("a count");
    let size = usize::try_from(number("big")).expect("a size");
    let code = i32::try_from(number("code")).expect("a code");
    let pause = echo
        .get_field_by_name("ratio")
        .and_then(|value| value.as_f64())
        .map_or(Duration::ZERO, Duration::from_secs_f64);
    let stall = echo
        .get_field_by_name("flag")
        .and_then(|value| value.as_bool())
        .unwrap_or(false);
    let id = echo
        .get_field_by_name("id")
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    if count == 0 && code != 0 {
        return tonic::Status::new(tonic::Code::from_i32(code), "the stand-in stream fails")
            .into_http();
    }
    let produced = produced(&id);
    let download = method == "Download";
    let (chunk, echo_response) = (
        pool.get_message_by_name("gatewaytest.v1.Chunk")
            .expect("chunk type"),
        pool.get_message_by_name("gatewaytest.v1.EchoResponse")
            .expect("response type"),
    );
    let grpc_timeout = grpc_timeout.to_owned();
    let message = move |index: u64| {
        if download {
            let mut message = DynamicMessage::new(chunk.clone());
            let data = if size > 0 {
                vec![b'x'; size]
            } else {
                format!("part {index}\n").into_bytes()
            };
            message.set_field_by_name("data", Value::Bytes(Bytes::from(data)));
            if index == 0 {
                message.set_field_by_name(
                    "content_type",
                    Value::String("text/plain; charset=utf-8".into()),
                );
                message.set_field_by_name("filename", Value::String(format!("things-{id}.txt")));
            }
            message
        } else {
            let mut message = DynamicMessage::new(echo_response.clone());
            message.set_field_by_name("served_by", Value::String(format!("{id}-{index}")));
            let map = HashMap::from([(
                MapKey::String("grpc-timeout".into()),
                Value::String(grpc_timeout.clone()),
            )]);
            message.set_field_by_name("metadata", Value::Map(map));
            message
        }
    };
    let frames = futures::stream::unfold(0_u64, move |index| {
        let produced = produced.clone();
        let message = message.clone();
        async move {
            if index < count {
                produced.fetch_add(1, Ordering::SeqCst);
                let frame = http_body::Frame::data(grpc_frame(&message(index)));
                return Some((Ok::<_, std::convert::Infallible>(frame), index + 1));
            }
            if index > count {
                return None;
            }
            tokio::time::sleep(pause).await;
            if stall {
                futures::future::pending::<()>().await;
            }
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from(code));
            if code != 0 {
                trailers.insert(
                    "grpc-message",
                    http::HeaderValue::from_static("the stand-in stream fails"),
                );
            }
            Some((Ok(http_body::Frame::trailers(trailers)), index + 1))
        }
    });
    http::Response::builder()
        .header("content-type", "application/grpc")
        .body(Body::new(StreamBody::new(frames)))
        .expect("response")
}

struct TestGateway {
    address: SocketAddr,
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    address
}

async fn start(max_body_bytes: usize) -> TestGateway {
    start_with(|config| config.max_body_bytes = max_body_bytes).await
}

/// A gateway with the test settings as `adjust` leaves them.
async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestGateway {
    let pool = test_pool();
    let upstream_pool = pool.clone();
    let upstream = serve(
        axum::Router::new().fallback(move |request: http::Request<Body>| {
            let pool = upstream_pool.clone();
            async move { stand_in(pool, request).await }
        }),
    )
    .await;
    let nowhere = "http://127.0.0.1:9".to_owned();
    let mut config = Config {
        listen_addr: ([127, 0, 0, 1], 0).into(),
        upstreams: UpstreamUrls {
            system: nowhere.clone(),
            agency: nowhere.clone(),
            booking: nowhere.clone(),
            finance: nowhere.clone(),
            notify: nowhere,
            extra: vec![(
                "echo".into(),
                "gatewaytest.v1.EchoService".into(),
                format!("http://{upstream}"),
            )],
        },
        upstream_timeout: Duration::from_secs(5),
        route_timeouts: HashMap::new(),
        stream_timeout: Duration::from_secs(60),
        cors_origins: "*".into(),
        drain_delay: Duration::ZERO,
        drain_timeout: Duration::from_secs(1),
        ready_cache: Duration::ZERO,
        max_body_bytes: 1024 * 1024,
        max_header_bytes: 16 * 1024,
        redis_url: None,
        rate_limits: RateLimits {
            groups: HashMap::new(),
        },
        trusted_proxy_hops: 0,
        admin_addr: None,
        web_dir: None,
    };
    adjust(&mut config);
    let app = astro_gateway::app_with(
        &config,
        AppParts {
            pool,
            verifier: Some(Arc::new(AnyTokenIsACaller)),
            metrics: astro_shared::metrics::Metrics::new("gateway"),
        },
    )
    .expect("gateway app");
    TestGateway {
        address: serve(app).await,
    }
}

/// This file tests transcoding against its own contract, not token cryptography (the mesh
/// tests in tests/tests/e2e/system_auth.rs forge and verify real tokens): here any non-empty
/// bearer token identifies a caller, so the protected test RPC can be reached.
struct AnyTokenIsACaller;

#[tonic::async_trait]
impl VerifyToken for AnyTokenIsACaller {
    async fn verify(&self, bearer_token: &str) -> Result<Caller, tonic::Status> {
        Ok(Caller {
            user_id: format!("test-caller-{}", bearer_token.len()),
            role: 1,
        })
    }
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    json: Json,
}

impl TestGateway {
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.address));
        if body.is_some() && !headers.iter().any(|(name, _)| *name == "content-type") {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
            .expect("request");
        let response = client.request(request).await.expect("gateway answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        Answer {
            status,
            headers,
            json,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], None).await
    }

    /// GET `path`, the body left to read as it comes.
    async fn open(&self, path: &str) -> http::Response<Body> {
        self.try_open(path).await.expect("gateway answers")
    }

    /// As [`Self::open`], or the error of a connection closed before the whole head came.
    async fn try_open(
        &self,
        path: &str,
    ) -> Result<http::Response<Body>, hyper_util::client::legacy::Error> {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        let request = http::Request::get(format!("http://{}{path}", self.address))
            .body(Full::new(Bytes::new()))
            .expect("request");
        Ok(client.request(request).await?.map(Body::new))
    }
}

#[tokio::test]
async fn path_variables_and_query_parameters_reach_the_upstream_typed() {
    let gateway = start(1024 * 1024).await;
    let answer = gateway
        .get(
            "/v1/things/t%201?pageSize=7&big=9007199254740993&flag=true&color=COLOR_RED\
              &colors=COLOR_RED&colors=2&tags=a&tags=b&at=2027-03-14T10:00:00Z&ratio=0.5\
              &inner.name=n&inner.count=-3&inner.color=COLOR_BLUE&unsigned=18446744073709551615",
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["servedBy"], "stand-in");
    let echo = &answer.json["echo"];
    assert_eq!(echo["id"], "t 1");
    assert_eq!(echo["pageSize"], 7);
    assert_eq!(echo["big"], "9007199254740993", "int64 travels as a string");
    assert_eq!(echo["unsigned"], "18446744073709551615");
    assert_eq!(echo["flag"], true);
    assert_eq!(echo["color"], "COLOR_RED", "enums travel as names");
    assert_eq!(echo["colors"], json!(["COLOR_RED", "COLOR_BLUE"]));
    assert_eq!(echo["tags"], json!(["a", "b"]));
    assert_eq!(
        echo["at"], "2027-03-14T10:00:00Z",
        "timestamps are RFC 3339"
    );
    assert_eq!(echo["ratio"], 0.5);
    assert_eq!(
        echo["inner"],
        json!({"name": "n", "count": "-3", "color": "COLOR_BLUE"})
    );
    // Proto field names work in the query string too.
    let answer = gateway.get("/v1/things/x?page_size=3").await;
    assert_eq!(answer.json["echo"]["pageSize"], 3);
}

#[tokio::test]
async fn additional_bindings_bind_nested_fields_from_multi_segment_paths() {
    let gateway = start(1024 * 1024).await;
    let answer = gateway.get("/v1/shelves/s1/things/t2").await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["echo"]["inner"]["name"], "shelves/s1");
    assert_eq!(answer.json["echo"]["id"], "t2");
}

#[tokio::test]
async fn a_whole_body_a_body_field_and_a_raw_body_become_the_request() {
    let gateway = start(1024 * 1024).await;
    let answer = gateway
        .send(
            "POST",
            "/v1/things",
            &[("idempotency-key", "key-12345678")],
            Some(r#"{"id": "a", "page_size": 2, "big": 5, "inner": {"name": "n"}, "at": "2027-01-01T00:00:00.5+01:00"}"#),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let echo = &answer.json["echo"];
    assert_eq!(echo["id"], "a");
    assert_eq!(echo["pageSize"], 2, "proto names are accepted in bodies");
    assert_eq!(
        echo["big"], "5",
        "int64 is accepted as a number and answered as a string"
    );
    assert_eq!(echo["at"], "2026-12-31T23:00:00.500Z");
    assert_eq!(
        echo["idempotencyKey"], "key-12345678",
        "Idempotency-Key fills the field"
    );

    // The body's own idempotency key wins over the header.
    let answer = gateway
        .send(
            "POST",
            "/v1/things",
            &[("idempotency-key", "from-header")],
            Some(r#"{"idempotencyKey": "from-body"}"#),
        )
        .await;
    assert_eq!(answer.json["echo"]["idempotencyKey"], "from-body");

    // body: "inner": the body is the Inner message; the rest from path and query.
    let answer = gateway
        .send(
            "PATCH",
            "/v1/things/t9?pageSize=4",
            &[],
            Some(r#"{"name": "renamed", "color": "COLOR_BLUE"}"#),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["echo"]["id"], "t9");
    assert_eq!(answer.json["echo"]["pageSize"], 4);
    assert_eq!(answer.json["echo"]["inner"]["name"], "renamed");

    // body: "raw" of type bytes: the raw body, untouched.
    let answer = gateway
        .send(
            "POST",
            "/v1/things/t1/raw",
            &[
                ("content-type", "text/plain"),
                ("authorization", "Bearer t"),
            ],
            Some("not json {"),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["echo"]["raw"], "bm90IGpzb24gew==");
}

#[tokio::test]
async fn verb_paths_with_response_body_answer_the_selected_field() {
    let gateway = start(1024 * 1024).await;
    let answer = gateway
        .send(
            "POST",
            "/v1/things/b7:cancel",
            &[],
            Some(r#"{"tags": ["x"]}"#),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(
        answer.json["id"], "b7",
        "response_body: the echo field alone"
    );
    assert_eq!(answer.json["tags"], json!(["x"]));
    // An empty body is an empty message.
    let answer = gateway
        .send("POST", "/v1/things/b8:cancel", &[], None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["id"], "b8");
    // The path wins over the body.
    let answer = gateway
        .send(
            "POST",
            "/v1/things/b9:cancel",
            &[],
            Some(r#"{"id": "other"}"#),
        )
        .await;
    assert_eq!(answer.json["id"], "b9");
}

#[tokio::test]
async fn metadata_travels_and_the_request_id_is_echoed() {
    let gateway = start(1024 * 1024).await;
    let answer = gateway
        .send(
            "GET",
            "/v1/things/m",
            &[("authorization", "Bearer abc"), ("x-request-id", "req-42")],
            None,
        )
        .await;
    assert_eq!(answer.headers["x-request-id"], "req-42");
    let metadata = &answer.json["metadata"];
    assert_eq!(metadata["authorization"], "Bearer abc");
    assert_eq!(metadata["x-request-id"], "req-42");
    assert_eq!(metadata["x-forwarded-for"], "127.0.0.1");
    // (trace context needs the process's telemetry: tests/tests/e2e/gateway_rest.rs checks it.)
    // Without one, the gateway makes a request id up and still sends it on.
    let answer = gateway.get("/v1/things/m").await;
    let generated = answer.headers["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(generated.len(), 36);
    assert_eq!(answer.json["metadata"]["x-request-id"], generated.as_str());
}

#[tokio::test]
async fn every_grpc_code_maps_to_its_http_status_with_a_status_body() {
    let gateway = start(1024 * 1024).await;
    let table = [
        (1, 499),
        (2, 500),
        (3, 400),
        (4, 504),
        (5, 404),
        (6, 409),
        (7, 403),
        (8, 429),
        (9, 400),
        (10, 409),
        (11, 400),
        (12, 501),
        (13, 500),
        (14, 503),
        (15, 500),
        (16, 401),
    ];
    for (code, http) in table {
        let answer = gateway.get(&format!("/v1/fail/{code}")).await;
        assert_eq!(answer.status, http, "gRPC code {code}: {}", answer.json);
        assert_eq!(answer.json["code"], code, "{}", answer.json);
        assert!(answer.json["message"].is_string());
        assert!(answer.json["details"].is_array());
        assert_eq!(answer.headers["content-type"], "application/json");
    }
    let answer = gateway.get("/v1/fail/3").await;
    assert_eq!(
        answer.json["details"][0],
        json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "id", "description": "too short"}]
        })
    );
}

#[tokio::test]
async fn client_mistakes_are_4xx_with_a_status_body() {
    let gateway = start(64).await;
    let cases: Vec<(Answer, u16, &str)> = vec![
        (gateway.get("/v1/nowhere").await, 404, "no such route"),
        (
            gateway.send("DELETE", "/v1/things", &[], None).await,
            405,
            "method",
        ),
        (
            gateway
                .send(
                    "POST",
                    "/v1/things",
                    &[],
                    Some("{\"id\": \"a\",\n \"id2\": 1}"),
                )
                .await,
            400,
            "line 2 column",
        ),
        (
            gateway
                .send("POST", "/v1/things", &[], Some("{\"id\": "))
                .await,
            400,
            "line 1 column",
        ),
        (
            gateway
                .send("POST", "/v1/things", &[], Some("{\"pageSize\": \"x\"}"))
                .await,
            400,
            "line 1 column 16",
        ),
        (
            gateway
                .send("POST", "/v1/things", &[], Some("{} trailing"))
                .await,
            400,
            "trailing",
        ),
        (
            gateway
                .send(
                    "POST",
                    "/v1/things",
                    &[("content-type", "text/plain")],
                    Some("{}"),
                )
                .await,
            415,
            "application/json",
        ),
        (
            gateway
                .send(
                    "POST",
                    "/v1/things",
                    &[],
                    Some(&format!("{{\"id\": \"{}\"}}", "x".repeat(100))),
                )
                .await,
            413,
            "larger",
        ),
        (
            gateway.get("/v1/things/a?pageSize=abc").await,
            400,
            "page_size",
        ),
        (
            gateway.get("/v1/things/a?pageSize=99999999999").await,
            400,
            "page_size",
        ),
        (
            gateway.get("/v1/things/a?color=COLOR_GREEN").await,
            400,
            "color",
        ),
        (gateway.get("/v1/things/a?flag=maybe").await, 400, "flag"),
        (gateway.get("/v1/things/a?nope=1").await, 400, "nope"),
        (gateway.get("/v1/things/a?inner=1").await, 400, "inner"),
        (gateway.get("/v1/things/a?at=yesterday").await, 400, "at"),
        (gateway.get("/v1/fail/abc").await, 400, "code"),
        (
            gateway
                .send("POST", "/v1/things?id=1", &[], Some("{}"))
                .await,
            400,
            "query",
        ),
        (
            gateway
                .send("POST", "/v1/things/t/raw", &[], Some("x"))
                .await,
            401,
            "token",
        ),
    ];
    for (answer, status, needle) in cases {
        assert_eq!(answer.status, status, "{}", answer.json);
        let message = answer.json["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(needle),
            "{message:?} should mention {needle:?}"
        );
        assert!(answer.json["code"].is_number());
    }
    let big_headers = "h".repeat(20 * 1024);
    let answer = gateway
        .send("GET", "/v1/things/a", &[("x-big", &big_headers)], None)
        .await;
    assert_eq!(answer.status, 431);
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes_from_the_same_descriptors() {
    let gateway = start(1024 * 1024).await;
    let answer = gateway.get("/openapi.json").await;
    assert_eq!(answer.status, 200);
    let document = answer.json;
    assert_eq!(document["openapi"], "3.0.3");
    let get = &document["paths"]["/v1/things/{id}"]["get"];
    assert_eq!(get["summary"], "Reads a thing");
    assert_eq!(get["security"], json!([]));
    let names: Vec<&str> = get["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|parameter| parameter["name"].as_str())
        .collect();
    for expected in [
        "id",
        "pageSize",
        "inner.name",
        "inner.count",
        "colors",
        "at",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert!(document["paths"]["/v1/{inner.name}/things/{id}"]["get"].is_object());
    assert_eq!(
        document["paths"]["/v1/things/{id}:cancel"]["post"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/gatewaytest.v1.EchoRequest"
    );
    // A streamed download says how it ends when the stream fails midway.
    let download = &document["paths"]["/v1/downloads/{id}"]["get"]["responses"]["200"];
    assert!(
        download["description"]
            .as_str()
            .is_some_and(|text| text.contains("chunked") && text.contains("the body is aborted")),
        "{download}"
    );
    assert_eq!(download["content"]["*/*"]["schema"]["format"], "binary");
    assert_eq!(
        document["paths"]["/v1/things/{id}/raw"]["post"]["security"],
        json!([{"bearer": []}])
    );
    let schemas = &document["components"]["schemas"];
    // Enums are named in answers; proto3 JSON also accepts their numbers in requests.
    assert_eq!(
        schemas["gatewaytest.v1.Color"]["oneOf"][0]["enum"],
        json!(["COLOR_UNSPECIFIED", "COLOR_RED", "COLOR_BLUE"])
    );
    assert_eq!(
        schemas["gatewaytest.v1.Color"]["oneOf"][1]["enum"],
        json!([0, 1, 2])
    );
    // proto3 JSON takes null for a scalar as "unset".
    assert_eq!(
        schemas["gatewaytest.v1.EchoRequest"]["properties"]["big"]["nullable"],
        true
    );
    assert_eq!(
        schemas["gatewaytest.v1.EchoRequest"]["properties"]["big"]["type"],
        "string"
    );
    assert_eq!(
        schemas["gatewaytest.v1.EchoRequest"]["properties"]["at"]["format"],
        "date-time"
    );
    assert_eq!(
        schemas["gatewaytest.v1.EchoRequest"]["properties"]["code"]["description"],
        "Non-zero: the stand-in answers this gRPC status code."
    );
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // The real contracts are there too, internal services are not.
    assert!(document["paths"]["/v1/bookings/{id}:cancel"]["post"].is_object());
    let tags: Vec<&str> = document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("path item").values())
        .filter_map(|operation| operation["tags"][0].as_str())
        .collect();
    assert!(tags.iter().all(|tag| !tag.contains("Internal")), "{tags:?}");
    let docs = gateway.get("/docs").await;
    assert_eq!(docs.status, 200);
    assert!(
        docs.json
            .as_str()
            .is_some_and(|html| html.contains("/v1/things/{id}:cancel"))
    );
}

#[tokio::test]
async fn a_streamed_download_is_one_chunked_file_with_the_first_chunk_s_type_and_name() {
    let gateway = start(1024 * 1024).await;
    let response = gateway.open("/v1/downloads/d1?pageSize=3").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"things-d1.txt\""
    );
    assert!(
        !headers.contains_key("content-length"),
        "streamed, so no length up front"
    );
    let body = response.into_body().collect().await.expect("a whole body");
    assert_eq!(body.to_bytes(), "part 0\npart 1\npart 2\n");
}

#[tokio::test]
async fn any_other_stream_is_the_json_array_of_its_messages_with_the_stream_s_deadline() {
    let gateway = start_with(|config| config.stream_timeout = Duration::from_secs(90)).await;
    let answer = gateway.get("/v1/watch/w1?pageSize=3").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["content-type"], "application/json");
    let served: Vec<&str> = answer
        .json
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|message| message["servedBy"].as_str())
        .collect();
    assert_eq!(served, ["w1-0", "w1-1", "w1-2"]);
    // The upstream is given the stream's deadline, not the unary one (5 s here).
    let deadline = answer.json[0]["metadata"]["grpc-timeout"]
        .as_str()
        .and_then(astro_shared::grpc_client::parse_grpc_timeout)
        .expect("a grpc-timeout");
    assert!(
        deadline > Duration::from_secs(80) && deadline <= Duration::from_secs(90),
        "{deadline:?}"
    );

    let empty = gateway.get("/v1/watch/w2").await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json, json!([]));
}

#[tokio::test]
async fn a_stream_failing_before_its_first_message_is_a_status_and_after_it_an_aborted_body() {
    let gateway = start(1024 * 1024).await;
    let answer = gateway.get("/v1/downloads/e1?code=5").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json["code"], 5);
    assert_eq!(answer.json["message"], "the stand-in stream fails");

    // The failure comes after what was sent had time to leave: the client has the status and
    // those bytes, then the body breaks.
    for (path, sent) in [
        (
            "/v1/downloads/e2?pageSize=2&code=13&ratio=0.2",
            "part 0\npart 1\n",
        ),
        ("/v1/watch/e3?pageSize=1&code=13&ratio=0.2", "[{"),
    ] {
        let response = gateway.open(path).await;
        assert_eq!(response.status(), 200, "{path}: the status was sent first");
        let (received, outcome) = read_to_end(response.into_body()).await;
        assert!(
            String::from_utf8_lossy(&received).starts_with(sent),
            "{path}: {received:?}"
        );
        assert!(
            outcome.is_err(),
            "{path}: the client sees the body broken, not complete"
        );
    }
    // The failure follows the first message at once: the connection may close before even the
    // head is flushed. Broken either way, never complete.
    for path in [
        "/v1/downloads/e4?pageSize=2&code=13",
        "/v1/watch/e5?pageSize=2&code=13",
    ] {
        match gateway.try_open(path).await {
            Ok(response) => {
                assert_eq!(response.status(), 200);
                let (_, outcome) = read_to_end(response.into_body()).await;
                assert!(outcome.is_err(), "{path}: the body is broken");
            }
            Err(error) => assert!(!error.is_connect(), "{path}: {error:?}"),
        }
    }
}

/// Every byte of `body` until it ends, and whether it ended whole.
async fn read_to_end(mut body: Body) -> (Vec<u8>, Result<(), axum::Error>) {
    let mut received = Vec::new();
    loop {
        match body.frame().await {
            Some(Ok(frame)) => received.extend(frame.into_data().unwrap_or_default()),
            Some(Err(error)) => return (received, Err(error)),
            None => return (received, Ok(())),
        }
    }
}

#[tokio::test]
async fn the_gateway_reads_a_stream_no_faster_than_its_client_and_stops_when_it_leaves() {
    const CHUNK: u64 = 32 * 1024;
    const CHUNKS: u64 = 4_000;
    // The upstream's HTTP/2 window (2 MiB), the socket buffers to the client and a chunk or
    // two in the gateway; far below the 125 MiB of the whole stream.
    const AHEAD_BOUND: u64 = 32 * 1024 * 1024 / CHUNK;
    let gateway = start(1024 * 1024).await;
    let response = gateway
        .open(&format!("/v1/downloads/bp?pageSize={CHUNKS}&big={CHUNK}"))
        .await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let first = body.frame().await.expect("a frame").expect("data");
    assert!(first.is_data());
    // The client stops reading: the gateway must stop pulling from the upstream.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pulled = produced("bp").load(Ordering::SeqCst);
    assert!(
        pulled < AHEAD_BOUND,
        "the gateway pulled {pulled} chunks of {CHUNKS} while its client read one"
    );
    // The client reads on: the stream moves again.
    for _ in 0..64 {
        body.frame().await.expect("a frame").expect("data");
    }
    assert!(produced("bp").load(Ordering::SeqCst) > pulled);
    // The client leaves: the upstream call is cancelled, nothing more is pulled.
    drop(body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at_leave = produced("bp").load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(produced("bp").load(Ordering::SeqCst), at_leave);
    assert!(at_leave < CHUNKS);
}

#[tokio::test]
async fn a_stream_outliving_its_deadline_is_aborted_but_not_at_the_unary_deadline() {
    let gateway = start_with(|config| {
        config.upstream_timeout = Duration::from_millis(300);
        config.stream_timeout = Duration::from_millis(1_500);
    })
    .await;
    let started = std::time::Instant::now();
    let response = gateway.open("/v1/downloads/s1?pageSize=1&flag=true").await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let first = body
        .frame()
        .await
        .expect("a frame")
        .expect("the first chunk");
    assert_eq!(first.into_data().expect("data"), "part 0\n");
    let end = body.frame().await;
    assert!(
        matches!(end, Some(Err(_))),
        "a stalled stream is aborted at its deadline"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1_400),
        "the unary deadline did not cut the stream: {elapsed:?}"
    );
}
