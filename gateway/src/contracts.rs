//! What the contracts say about each public RPC, read once at start-up from the descriptor
//! set: its REST routes (`google.api.http`, additional bindings included), who may call it
//! (`astrobookings.common.v1.access`), and its comments for the OpenAPI document. Adding an
//! RPC with an http rule to a public service puts it on the REST API at the next build.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::http::Method;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};

use crate::rest::template::PathTemplate;

/// The descriptor set of every contract plus the `google.rpc` error types.
pub fn descriptor_pool() -> anyhow::Result<DescriptorPool> {
    with_error_types(DescriptorPool::decode(astro_proto::FILE_DESCRIPTOR_SET)?)
}

/// `pool` plus the `google.rpc` status and error detail types, which render error details.
pub fn with_error_types(mut pool: DescriptorPool) -> anyhow::Result<DescriptorPool> {
    // Files already in the pool are skipped.
    pool.decode_file_descriptor_set(
        include_bytes!(concat!(env!("OUT_DIR"), "/google_rpc_descriptor.bin")).as_slice(),
    )?;
    Ok(pool)
}

/// Who may call an RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Anyone, without a token.
    pub public: bool,
    /// When not public: the `astrobookings.common.v1.Role` numbers allowed; empty means any
    /// signed-in user.
    pub roles: Vec<i32>,
}

/// One public RPC as the gateway sees it.
#[derive(Debug)]
pub struct Rpc {
    pub descriptor: MethodDescriptor,
    /// `/package.Service/Method`.
    pub grpc_path: String,
    pub access: Access,
    /// The rate-limit group (`auth`, `catalogue`, ...).
    pub group: &'static str,
    /// The deadline given to the upstream call; for a server stream over REST, the deadline
    /// of its first message.
    pub timeout: Duration,
    /// The deadline of a whole server stream over REST (its `grpc-timeout`).
    pub stream_timeout: Duration,
    /// The request field the `Idempotency-Key` header fills, if the request has one.
    pub idempotency_field: Option<FieldDescriptor>,
}

/// Where the HTTP body goes.
#[derive(Debug, Clone)]
pub enum BodyRule {
    /// No body (GET, DELETE): every field not in the path comes from the query string.
    None,
    /// `body: "*"`: the whole request message; nothing comes from the query string.
    Whole,
    /// `body: "field"`: that field; the others not in the path come from the query string.
    Field(FieldDescriptor),
}

/// One REST route.
#[derive(Debug)]
pub struct Route {
    pub method: Method,
    pub template: PathTemplate,
    pub body: BodyRule,
    /// `response_body`: the response field sent instead of the whole message.
    pub response_body: Option<FieldDescriptor>,
    pub rpc: Arc<Rpc>,
}

/// Path variables bound by a match: (proto field path, decoded value).
pub type Bindings = Vec<(Vec<String>, String)>;

/// The outcome of looking a request up.
pub enum Lookup<'a> {
    Found(&'a Route, Bindings),
    /// The path exists with other methods (for `Allow`).
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

/// How the gateway groups RPCs for rate limits and deadlines.
pub trait RouteSettings {
    fn group(&self, rpc_name: &str) -> &'static str;
    fn timeout(&self, rpc_name: &str) -> Duration;
    /// The deadline of a whole server stream (by default the RPC's deadline).
    fn stream_timeout(&self, rpc_name: &str) -> Duration {
        self.timeout(rpc_name)
    }
}

/// Every public RPC and REST route.
#[derive(Debug)]
pub struct Contracts {
    pub pool: DescriptorPool,
    pub routes: Vec<Route>,
    rpcs: HashMap<String, Arc<Rpc>>,
}

impl Contracts {
    /// Reads the services named in `public_services` from `pool`. A malformed http rule is a
    /// start-up error naming the RPC, never a surprise at request time.
    pub fn load(
        pool: DescriptorPool,
        public_services: &[&str],
        settings: &dyn RouteSettings,
    ) -> anyhow::Result<Self> {
        let http_extension = pool.get_extension_by_name("google.api.http");
        let access_extension = pool.get_extension_by_name("astrobookings.common.v1.access");
        let mut routes = Vec::new();
        let mut rpcs = HashMap::new();
        for service_name in public_services {
            let service = pool
                .get_service_by_name(service_name)
                .ok_or_else(|| anyhow::anyhow!("service {service_name} is not in the contracts"))?;
            for method in service.methods() {
                let options = method.options();
                let access = access_extension
                    .as_ref()
                    .filter(|extension| options.has_extension(extension))
                    .map_or(
                        // No rule: signed-in users only, so a forgotten option fails closed.
                        Access {
                            public: false,
                            roles: Vec::new(),
                        },
                        |extension| read_access(&options.get_extension(extension)),
                    );
                let rpc = Arc::new(Rpc {
                    grpc_path: format!("/{}/{}", service.full_name(), method.name()),
                    access,
                    group: settings.group(method.name()),
                    timeout: settings.timeout(method.name()),
                    stream_timeout: settings.stream_timeout(method.name()),
                    idempotency_field: method.input().get_field_by_name("idempotency_key"),
                    descriptor: method.clone(),
                });
                rpcs.insert(rpc.grpc_path.clone(), rpc.clone());
                let Some(extension) = &http_extension else {
                    continue;
                };
                if !options.has_extension(extension) {
                    continue;
                }
                let rule = options.get_extension(extension);
                let Some(rule) = rule.as_message() else {
                    continue;
                };
                add_routes(&mut routes, rule, &rpc, true).map_err(|error| {
                    anyhow::anyhow!("google.api.http of {}: {error}", method.full_name())
                })?;
            }
        }
        check_no_duplicates(&routes)?;
        Ok(Self { pool, routes, rpcs })
    }

    /// The public RPC at `/package.Service/Method`.
    pub fn rpc(&self, grpc_path: &str) -> Option<&Arc<Rpc>> {
        self.rpcs.get(grpc_path)
    }

    /// The most specific route for `method` and `path`.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        let mut best: Option<(&Route, Bindings)> = None;
        let mut other_methods = Vec::new();
        for route in &self.routes {
            let Some(bindings) = route.template.matches(path) else {
                continue;
            };
            if route.method != *method {
                other_methods.push(route.method.clone());
                continue;
            }
            let better = best.as_ref().is_none_or(|(current, _)| {
                route.template.specificity() > current.template.specificity()
            });
            if better {
                best = Some((route, bindings));
            }
        }
        match best {
            Some((route, bindings)) => Lookup::Found(route, bindings),
            None if !other_methods.is_empty() => {
                other_methods.dedup();
                Lookup::MethodNotAllowed(other_methods)
            }
            None => Lookup::NotFound,
        }
    }
}

fn read_access(value: &Value) -> Access {
    let Some(message) = value.as_message() else {
        return Access {
            public: false,
            roles: Vec::new(),
        };
    };
    let public = message
        .get_field_by_name("public")
        .and_then(|value| value.as_bool())
        .unwrap_or(false);
    let roles = message
        .get_field_by_name("roles")
        .and_then(|value| {
            value
                .as_list()
                .map(|list| list.iter().filter_map(Value::as_enum_number).collect())
        })
        .unwrap_or_default();
    Access { public, roles }
}

fn add_routes(
    routes: &mut Vec<Route>,
    rule: &DynamicMessage,
    rpc: &Arc<Rpc>,
    top_level: bool,
) -> anyhow::Result<()> {
    let string_field = |name: &str| -> Option<String> {
        rule.get_field_by_name(name)
            .and_then(|value| value.as_str().map(str::to_owned))
            .filter(|value| !value.is_empty())
    };
    let pattern = [
        ("get", Method::GET),
        ("put", Method::PUT),
        ("post", Method::POST),
        ("delete", Method::DELETE),
        ("patch", Method::PATCH),
    ]
    .into_iter()
    .find_map(|(name, method)| string_field(name).map(|path| (method, path)));
    let pattern = match pattern {
        Some(pattern) => Some(pattern),
        None => rule
            .get_field_by_name("custom")
            .and_then(|custom| custom.as_message().cloned())
            .and_then(|custom| {
                let kind = custom.get_field_by_name("kind")?.as_str()?.to_owned();
                let path = custom.get_field_by_name("path")?.as_str()?.to_owned();
                Some((Method::from_bytes(kind.as_bytes()).ok()?, path))
            }),
    };
    if let Some((method, path)) = pattern {
        let template = PathTemplate::parse(&path)?;
        let input = rpc.descriptor.input();
        for variable in template.variables() {
            resolve_field_path(&input, &variable.field_path)?;
        }
        let body = match string_field("body").as_deref() {
            None => BodyRule::None,
            Some("*") => BodyRule::Whole,
            Some(name) => BodyRule::Field(
                input
                    .get_field_by_name(name)
                    .ok_or_else(|| anyhow::anyhow!("body field {name} does not exist"))?,
            ),
        };
        let response_body = match string_field("response_body") {
            None => None,
            Some(name) => Some(
                rpc.descriptor
                    .output()
                    .get_field_by_name(&name)
                    .ok_or_else(|| anyhow::anyhow!("response_body field {name} does not exist"))?,
            ),
        };
        routes.push(Route {
            method,
            template,
            body,
            response_body,
            rpc: rpc.clone(),
        });
    }
    if top_level
        && let Some(bindings) = rule
            .get_field_by_name("additional_bindings")
            .and_then(|value| value.as_list().map(<[Value]>::to_vec))
    {
        for binding in bindings {
            if let Some(binding) = binding.as_message() {
                add_routes(routes, binding, rpc, false)?;
            }
        }
    }
    Ok(())
}

/// The fields a dotted path names, outermost first; every step but the last is a message.
pub fn resolve_field_path(
    message: &MessageDescriptor,
    path: &[String],
) -> anyhow::Result<Vec<FieldDescriptor>> {
    let mut fields = Vec::with_capacity(path.len());
    let mut current = message.clone();
    for (index, name) in path.iter().enumerate() {
        let field = current
            .get_field_by_name(name)
            .ok_or_else(|| anyhow::anyhow!("{} has no field {name}", current.full_name()))?;
        if index + 1 < path.len() {
            match field.kind() {
                Kind::Message(inner) if !field.is_list() && !field.is_map() => current = inner,
                _ => anyhow::bail!("{name} is not a singular message field"),
            }
        }
        fields.push(field);
    }
    Ok(fields)
}

fn check_no_duplicates(routes: &[Route]) -> anyhow::Result<()> {
    for (index, route) in routes.iter().enumerate() {
        if let Some(other) = routes[..index].iter().find(|other| {
            other.method == route.method
                && other.template.openapi_path() == route.template.openapi_path()
        }) {
            anyhow::bail!(
                "{} {} is bound by both {} and {}",
                route.method,
                route.template,
                other.rpc.descriptor.full_name(),
                route.rpc.descriptor.full_name()
            );
        }
    }
    Ok(())
}

/// The leading comment of the element at `path` in its file, trimmed, if any.
pub fn comments(file: &prost_reflect::FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info
        .location
        .iter()
        .find(|location| location.path == path)?;
    let text = location.leading_comments.as_deref()?;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let joined = lines.join("\n").trim().to_owned();
    (!joined.is_empty()).then_some(joined)
}
