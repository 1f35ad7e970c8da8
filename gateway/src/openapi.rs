//! The OpenAPI 3 document of the REST surface, generated from the same descriptors as the
//! routes (paths, parameters, request and response schemas, enums, proto comments, the bearer
//! scheme), and a plain HTML page that lists it for humans.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value as Json, json};

use crate::{
    contracts::{BodyRule, Contracts, Route, comments},
    rest::response::DownloadShape,
};

const OUTPUT_ONLY: i32 = 3;
const INPUT_ONLY: i32 = 4;
/// How a server stream of file chunks is answered (see `rest::stream`).
const STREAMED_DOWNLOAD: &str = "OK. A file streamed as the upstream produces it (chunked, no \
    Content-Length): the bytes of every message's `data`, with the first message's content type \
    and file name (Content-Disposition). A stream that fails before its first message is \
    answered with the error instead. A failure after the first byte cannot change the status: \
    the body is aborted (the connection closes before the last chunk; over HTTP/2 the stream \
    is reset), so a body that ends normally is complete.";
/// How any other server stream is answered (see `rest::stream`).
const STREAMED_ARRAY: &str = "OK. The JSON array of the stream's messages, written element by \
    element as they arrive (chunked). A stream that fails before its first message is answered \
    with the error instead; a failure after it aborts the body, the array left unterminated.";
/// How deep nested message fields are offered as `a.b.c` query parameters.
const MAX_QUERY_DEPTH: usize = 3;

/// Builds the whole document.
pub fn document(contracts: &Contracts) -> Json {
    let mut schemas = Schemas::new(contracts);
    let mut paths: BTreeMap<String, Map<String, Json>> = BTreeMap::new();
    let mut operation_ids = BTreeSet::new();
    for route in &contracts.routes {
        let operation = operation(route, &mut schemas, &mut operation_ids);
        paths
            .entry(route.template.openapi_path())
            .or_default()
            .insert(route.method.as_str().to_ascii_lowercase(), operation);
    }
    let paths: Map<String, Json> = paths
        .into_iter()
        .map(|(path, item)| (path, Json::Object(item)))
        .collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "AstroBookings API",
            "version": "v1",
            "description": "REST/JSON surface of the AstroBookings gRPC services, transcoded by the \
                gateway from the `google.api.http` rules of the contracts. Field names are \
                lowerCamelCase, 64-bit integers are strings, enums are names, timestamps are \
                RFC 3339. Every error is a `google.rpc.Status`.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.finish(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    })
}

fn operation(route: &Route, schemas: &mut Schemas<'_>, ids: &mut BTreeSet<String>) -> Json {
    let method = &route.rpc.descriptor;
    let service = method.parent_service();
    let base_id = format!("{}_{}", service.name(), method.name());
    let mut operation_id = base_id.clone();
    let mut counter = 1;
    while !ids.insert(operation_id.clone()) {
        counter += 1;
        operation_id = format!("{base_id}_{counter}");
    }
    let description = comments(&method.parent_file(), method.path()).unwrap_or_default();
    let summary = description
        .split(['.', '\n'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();

    let input = method.input();
    let mut parameters = Vec::new();
    let mut bound: Vec<Vec<String>> = Vec::new();
    for variable in route.template.variables() {
        let fields =
            crate::contracts::resolve_field_path(&input, &variable.field_path).unwrap_or_default();
        if let Some(leaf) = fields.last() {
            parameters.push(json!({
                "name": variable.field_path.join("."),
                "in": "path",
                "required": true,
                "description": field_description(leaf),
                "schema": schemas.field(leaf, false),
            }));
        }
        bound.push(variable.field_path.clone());
    }
    let body_field = match &route.body {
        BodyRule::Field(field) => Some(field.name().to_owned()),
        _ => None,
    };
    if !matches!(route.body, BodyRule::Whole) {
        query_parameters(
            &input,
            &mut Vec::new(),
            &bound,
            body_field.as_deref(),
            schemas,
            &mut parameters,
        );
    }

    let mut operation = Map::new();
    operation.insert("operationId".into(), json!(operation_id));
    operation.insert("tags".into(), json!([service.name()]));
    operation.insert("summary".into(), json!(summary));
    operation.insert("description".into(), json!(description));
    operation.insert("parameters".into(), Json::Array(parameters));
    if let Some(body) = request_body(route, schemas) {
        operation.insert("requestBody".into(), body);
    }
    operation.insert("responses".into(), responses(route, schemas));
    let access = &route.rpc.access;
    if access.public {
        operation.insert("security".into(), json!([]));
    } else {
        operation.insert("security".into(), json!([{"bearer": []}]));
        let roles: Vec<String> = access
            .roles
            .iter()
            .map(|role| schemas.role_name(*role))
            .collect();
        operation.insert("x-roles".into(), json!(roles));
    }
    Json::Object(operation)
}

/// Every field that is neither bound by the path nor the body, flattened as `a.b` (JSON names).
fn query_parameters(
    message: &MessageDescriptor,
    prefix: &mut Vec<String>,
    bound: &[Vec<String>],
    body_field: Option<&str>,
    schemas: &mut Schemas<'_>,
    parameters: &mut Vec<Json>,
) {
    for field in message.fields() {
        let mut proto_path = prefix.clone();
        proto_path.push(field.name().to_owned());
        if bound.contains(&proto_path)
            || (prefix.is_empty() && body_field == Some(field.name()))
            || field.is_map()
            || has_behavior(&field, OUTPUT_ONLY)
        {
            continue;
        }
        let name = json_path(message, &proto_path);
        match field.kind() {
            Kind::Message(inner) if !is_string_wkt(&inner) => {
                if !field.is_list() && prefix.len() + 1 < MAX_QUERY_DEPTH {
                    prefix.push(field.name().to_owned());
                    query_parameters(&inner, prefix, bound, body_field, schemas, parameters);
                    prefix.pop();
                }
            }
            _ => parameters.push(json!({
                "name": name,
                "in": "query",
                "required": false,
                "description": field_description(&field),
                "schema": schemas.field(&field, true),
            })),
        }
    }
}

/// `a.b` in JSON names for a proto field path from `root`.
fn json_path(root: &MessageDescriptor, proto_path: &[String]) -> String {
    crate::contracts::resolve_field_path(root, proto_path)
        .map(|fields| {
            fields
                .iter()
                .map(FieldDescriptor::json_name)
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_else(|_| proto_path.join("."))
}

fn request_body(route: &Route, schemas: &mut Schemas<'_>) -> Option<Json> {
    let schema = match &route.body {
        BodyRule::None => return None,
        BodyRule::Whole => schemas.message_ref(&route.rpc.descriptor.input()),
        BodyRule::Field(field) if matches!(field.kind(), Kind::Bytes) && !field.is_list() => {
            return Some(json!({
                "description": field_description(field),
                "required": true,
                "content": {"application/json": {"schema": {"type": "object"}}},
            }));
        }
        BodyRule::Field(field) => schemas.field(field, false),
    };
    Some(json!({
        "required": false,
        "content": {"application/json": {"schema": schema}},
    }))
}

fn responses(route: &Route, schemas: &mut Schemas<'_>) -> Json {
    let output = route.rpc.descriptor.output();
    let mut schema = match &route.response_body {
        Some(field) => schemas.field(field, false),
        None => schemas.message_ref(&output),
    };
    let streaming = route.rpc.descriptor.is_server_streaming();
    if streaming {
        schema = json!({"type": "array", "items": schema});
    }
    let download = DownloadShape::of(&output).is_some();
    let mut content = Map::new();
    content.insert("application/json".into(), json!({"schema": schema}));
    if download {
        content.insert(
            "*/*".into(),
            json!({"schema": {"type": "string", "format": "binary"}}),
        );
    }
    let description = match (streaming, download) {
        (true, true) => STREAMED_DOWNLOAD,
        (true, false) => STREAMED_ARRAY,
        (false, _) => "OK",
    };
    let status_ref = schemas.status_ref();
    json!({
        "200": {"description": description, "content": content},
        "default": {
            "description": "An error: a google.rpc.Status with the HTTP status mapped from its gRPC code.",
            "content": {"application/json": {"schema": status_ref}},
        },
    })
}

fn field_description(field: &FieldDescriptor) -> String {
    comments(&field.parent_file(), field.path()).unwrap_or_default()
}

fn has_behavior(field: &FieldDescriptor, behavior: i32) -> bool {
    let pool = field.parent_pool();
    let Some(extension) = pool.get_extension_by_name("google.api.field_behavior") else {
        return false;
    };
    let options = field.options();
    if !options.has_extension(&extension) {
        return false;
    }
    options
        .get_extension(&extension)
        .as_list()
        .is_some_and(|values| {
            values
                .iter()
                .any(|value| value.as_enum_number() == Some(behavior))
        })
}

/// Well-known types written as a JSON string.
fn is_string_wkt(message: &MessageDescriptor) -> bool {
    matches!(
        message.full_name(),
        "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask"
    ) || message.full_name().starts_with("google.protobuf.")
        && message.name().ends_with("Value")
        && !matches!(message.name(), "Value" | "ListValue")
}

/// The component schemas, generated on demand as operations refer to them.
struct Schemas<'a> {
    contracts: &'a Contracts,
    done: BTreeMap<String, Json>,
    pending: VecDeque<MessageDescriptor>,
    enums: BTreeMap<String, EnumDescriptor>,
}

impl<'a> Schemas<'a> {
    fn new(contracts: &'a Contracts) -> Self {
        Self {
            contracts,
            done: BTreeMap::new(),
            pending: VecDeque::new(),
            enums: BTreeMap::new(),
        }
    }

    fn role_name(&self, number: i32) -> String {
        self.contracts
            .pool
            .get_enum_by_name("astrobookings.common.v1.Role")
            .and_then(|role| role.get_value(number).map(|value| value.name().to_owned()))
            .unwrap_or_else(|| number.to_string())
    }

    fn status_ref(&mut self) -> Json {
        self.done.insert(
            "google.rpc.Status".into(),
            json!({
                "type": "object",
                "description": "The error model of every failed request (google.rpc.Status).",
                "properties": {
                    "code": {"type": "integer", "format": "int32", "description": "The gRPC status code."},
                    "message": {"type": "string", "description": "A developer-facing error message."},
                    "details": {
                        "type": "array",
                        "description": "Machine-readable details (google.rpc.BadRequest, ErrorInfo, RetryInfo, ...).",
                        "items": {
                            "type": "object",
                            "properties": {"@type": {"type": "string"}},
                            "additionalProperties": true,
                        },
                    },
                },
                "required": ["code", "message", "details"],
            }),
        );
        json!({"$ref": "#/components/schemas/google.rpc.Status"})
    }

    fn message_ref(&mut self, message: &MessageDescriptor) -> Json {
        if let Some(schema) = well_known(message) {
            return schema;
        }
        let name = message.full_name().to_owned();
        if !self.done.contains_key(&name) && !self.pending.iter().any(|m| m.full_name() == name) {
            self.pending.push_back(message.clone());
        }
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    /// The schema of a field's value (`for_query`: as one query-string value of a list).
    fn field(&mut self, field: &FieldDescriptor, for_query: bool) -> Json {
        let single = self.kind(&field.kind(), field);
        if field.is_map()
            && let Kind::Message(entry) = field.kind()
        {
            let value = entry.map_entry_value_field();
            let value_schema = self.kind(&value.kind(), &value);
            // proto3 JSON takes `null` for a map or a list as "empty", as for any field.
            return json!({"type": "object", "additionalProperties": value_schema, "nullable": true});
        }
        if field.is_list() {
            let _ = for_query;
            return json!({"type": "array", "items": single, "nullable": true});
        }
        single
    }

    fn kind(&mut self, kind: &Kind, field: &FieldDescriptor) -> Json {
        let mut schema = match kind {
            Kind::Double | Kind::Float => json!({"type": "number"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32", "minimum": i32::MIN, "maximum": i32::MAX})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": u32::MAX})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]{1,18}$"})
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({"type": "string", "format": "uint64", "pattern": "^[0-9]{1,19}$"})
            }
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "format": "byte"}),
            Kind::Enum(descriptor) => {
                self.enums
                    .insert(descriptor.full_name().to_owned(), descriptor.clone());
                json!({"$ref": format!("#/components/schemas/{}", descriptor.full_name())})
            }
            Kind::Message(message) => self.message_ref(message),
        };
        // Sibling keywords next to $ref are ignored in OpenAPI 3.0, so only plain schemas
        // carry the field's own flags.
        if let Json::Object(object) = &mut schema
            && !object.contains_key("$ref")
        {
            // proto3 JSON parsing takes `null` for any field as "unset" (its default value).
            object.insert("nullable".into(), json!(true));
            if has_behavior(field, OUTPUT_ONLY) {
                object.insert("readOnly".into(), json!(true));
            }
            if has_behavior(field, INPUT_ONLY) {
                object.insert("writeOnly".into(), json!(true));
            }
        }
        schema
    }

    fn finish(mut self) -> Json {
        while let Some(message) = self.pending.pop_front() {
            let name = message.full_name().to_owned();
            if self.done.contains_key(&name) {
                continue;
            }
            // Reserve the name first so recursive messages terminate.
            self.done.insert(name.clone(), Json::Null);
            let mut properties = Map::new();
            for field in message.fields() {
                let mut schema = self.field(&field, false);
                let description = field_description(&field);
                if let Json::Object(object) = &mut schema
                    && !description.is_empty()
                    && !object.contains_key("$ref")
                {
                    object.insert("description".into(), json!(description));
                }
                properties.insert(field.json_name().to_owned(), schema);
            }
            let description = comments(&message.parent_file(), message.path()).unwrap_or_default();
            self.done.insert(
                name,
                json!({
                    "type": "object",
                    "description": description,
                    "properties": properties,
                    "additionalProperties": false,
                }),
            );
        }
        for (name, descriptor) in std::mem::take(&mut self.enums) {
            let values: Vec<String> = descriptor
                .values()
                .map(|value| value.name().to_owned())
                .collect();
            let mut description =
                comments(&descriptor.parent_file(), descriptor.path()).unwrap_or_default();
            for value in descriptor.values() {
                if let Some(text) = comments(&value.parent_file(), value.path()) {
                    description.push_str(&format!(
                        "\n- `{}`: {}",
                        value.name(),
                        text.replace('\n', " ")
                    ));
                }
            }
            // proto3 JSON parsing takes an enum by name or by number; answers use names.
            let numbers: Vec<i32> = descriptor.values().map(|value| value.number()).collect();
            self.done.insert(
                name,
                json!({
                    "oneOf": [
                        {"type": "string", "enum": values},
                        {"type": "integer", "enum": numbers},
                    ],
                    "description": description,
                }),
            );
        }
        Json::Object(self.done.into_iter().collect())
    }
}

/// Schemas of the well-known types, inlined.
fn well_known(message: &MessageDescriptor) -> Option<Json> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"})
        }
        "google.protobuf.FieldMask" => json!({"type": "string"}),
        "google.protobuf.Empty" => json!({"type": "object", "additionalProperties": false}),
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array", "items": {}}),
        "google.protobuf.Any" => {
            json!({"type": "object", "properties": {"@type": {"type": "string"}}})
        }
        "google.protobuf.BoolValue" => json!({"type": "boolean"}),
        "google.protobuf.StringValue" => json!({"type": "string"}),
        "google.protobuf.BytesValue" => json!({"type": "string", "format": "byte"}),
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => json!({"type": "number"}),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => json!({"type": "integer"}),
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => {
            json!({"type": "string", "pattern": "^-?[0-9]{1,18}$"})
        }
        _ => return None,
    })
}

/// A self-contained HTML page listing every operation of `document` (no scripts, no CDN).
pub fn docs_page(document: &Json) -> String {
    let mut rows = String::new();
    if let Some(paths) = document.get("paths").and_then(Json::as_object) {
        let mut operations: Vec<(String, String, &Json)> = Vec::new();
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for (method, operation) in item {
                    operations.push((path.clone(), method.to_uppercase(), operation));
                }
            }
        }
        operations.sort_by(|a, b| {
            let tag = |operation: &Json| operation["tags"][0].as_str().unwrap_or("").to_owned();
            (tag(a.2), &a.0, &a.1).cmp(&(tag(b.2), &b.0, &b.1))
        });
        for (path, method, operation) in operations {
            let access = if operation["security"].as_array().is_some_and(Vec::is_empty) {
                "public".to_owned()
            } else {
                let roles: Vec<&str> = operation["x-roles"]
                    .as_array()
                    .map(|roles| roles.iter().filter_map(Json::as_str).collect())
                    .unwrap_or_default();
                if roles.is_empty() {
                    "signed-in user".to_owned()
                } else {
                    roles.join(", ")
                }
            };
            let parameters: Vec<String> = operation["parameters"]
                .as_array()
                .map(|parameters| {
                    parameters
                        .iter()
                        .map(|parameter| {
                            format!(
                                "{} ({})",
                                parameter["name"].as_str().unwrap_or(""),
                                parameter["in"].as_str().unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            rows.push_str(&format!(
                "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>\n",
                escape(operation["tags"][0].as_str().unwrap_or("")),
                escape(&method),
                escape(&path),
                escape(&access),
                escape(&parameters.join(", ")),
                escape(operation["description"].as_str().unwrap_or("")),
            ));
        }
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>AstroBookings API</title>\
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}pre{{white-space:pre-wrap;margin:0;font-family:inherit}}</style>\
</head><body><h1>AstroBookings API (v1)</h1>\
<p>Every RPC of the public services as REST/JSON. The machine-readable document is <a href=\"/openapi.json\">/openapi.json</a>. \
Authenticate with <code>Authorization: Bearer &lt;access token&gt;</code>. Errors are <code>google.rpc.Status</code> JSON.</p>\
<table><tr><th>service</th><th>method</th><th>path</th><th>who</th><th>parameters</th><th>description</th></tr>\n{rows}</table></body></html>\n"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
