//! The built web apps, served on the gateway's own origin so their grpc-web calls are
//! same-origin (no CORS preflight per call, one Content-Security-Policy for the whole site).
//!
//! Each app lives under its base path (`/public/`, `/auth/`, ...) and is an Angular build in
//! `ASTRO_GATEWAY_WEB_DIR/<app>/`. Only GET and HEAD are served here, and only under an app's
//! base path, after the gRPC and grpc-web routing: `/v1`, `/.well-known` and the gateway's own
//! paths are never shadowed. A path without a file extension is a client-side route and gets
//! the app's `index.html`; a missing asset is a plain 404, never `index.html` (a stale chunk
//! must fail loudly, not load HTML as script).

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use axum::{
    body::Body,
    http::{HeaderValue, Method, Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

/// The apps, by base path segment. PublicWeb is the site's landing page (`/` redirects there).
pub const APPS: [&str; 5] = ["public", "auth", "traveler", "agency", "system"];

/// What `index.html` carries where the per-response CSP nonce goes (Angular's `ngCspNonce`
/// attribute, which it copies onto every `<style>` element it adds).
const NONCE_PLACEHOLDER: &str = "__CSP_NONCE__";

/// Angular's output names hashed files `name-XXXXXXXX.ext` (8 upper-case letters or digits).
const HASH_LEN: usize = 8;

/// The loaded apps: each one's directory and its `index.html` split around the nonce.
#[derive(Debug)]
pub struct WebApps {
    apps: HashMap<&'static str, App>,
}

#[derive(Debug)]
struct App {
    assets: ServeDir,
    index: Arc<[String]>,
}

impl WebApps {
    /// Reads every app's `index.html` under `root`: a deployment with a web directory but a
    /// missing app is a broken deployment, so the gateway refuses to start.
    pub fn load(root: PathBuf) -> anyhow::Result<Self> {
        let mut apps = HashMap::new();
        for name in APPS {
            let dir = root.join(name);
            let index_path = dir.join("index.html");
            let index = std::fs::read_to_string(&index_path).map_err(|error| {
                anyhow::anyhow!(
                    "ASTRO_GATEWAY_WEB_DIR: cannot read {} ({error}); build the web apps \
                     (`./dev up` does)",
                    index_path.display()
                )
            })?;
            let index: Vec<String> = index.split(NONCE_PLACEHOLDER).map(str::to_owned).collect();
            apps.insert(
                name,
                App {
                    assets: ServeDir::new(dir).append_index_html_on_directories(false),
                    index: index.into(),
                },
            );
        }
        Ok(Self { apps })
    }

    /// The answer for a web path, or the request back when it is not one (then it is REST).
    pub async fn serve(&self, request: Request<Body>) -> Result<Response, Request<Body>> {
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            return Err(request);
        }
        let path = request.uri().path().to_owned();
        if path == "/" {
            return Ok(redirect("/public/"));
        }
        let Some((name, rest)) = split_app(&path) else {
            return Err(request);
        };
        let Some(app) = self.apps.get(name) else {
            return Err(request);
        };
        let Some(rest) = rest else {
            return Ok(redirect(&format!("/{name}/")));
        };
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let mut response = if is_client_route(rest) {
            index_response(app, &nonce, request.method() == Method::HEAD)
        } else {
            asset_response(app, rest, request).await
        };
        secure(&mut response, &nonce);
        Ok(response)
    }
}

/// `/public/launches/x` → (`public`, `Some("launches/x")`); `/public` → (`public`, `None`).
fn split_app(path: &str) -> Option<(&str, Option<&str>)> {
    let path = path.strip_prefix('/')?;
    match path.split_once('/') {
        Some((name, rest)) => Some((name, Some(rest))),
        None => Some((path, None)),
    }
}

/// A path whose last segment has no extension is a route of the app, not a file.
fn is_client_route(rest: &str) -> bool {
    let last = rest.rsplit('/').next().unwrap_or_default();
    !last.contains('.')
}

fn redirect(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

fn index_response(app: &App, nonce: &str, head_only: bool) -> Response {
    let html = app.index.join(nonce);
    let length = html.len();
    let body = if head_only {
        Body::empty()
    } else {
        Body::from(html)
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    // Always revalidated: it names the hashed assets of the current build.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn asset_response(app: &App, rest: &str, request: Request<Body>) -> Response {
    let (mut parts, body) = request.into_parts();
    let Ok(uri) = format!("/{rest}").parse() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    parts.uri = uri;
    let hashed = is_hashed(rest);
    let Ok(mut response) = app
        .assets
        .clone()
        .oneshot(Request::from_parts(parts, body))
        .await;
    let cache = if hashed && response.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response.map(Body::new)
}

/// `main-AB12CD34.js`, `chunk-AB12CD34.js`, `styles-AB12CD34.css`: content-hashed, so they
/// never change under their name.
fn is_hashed(rest: &str) -> bool {
    let file = rest.rsplit('/').next().unwrap_or_default();
    let Some((stem, _extension)) = file.rsplit_once('.') else {
        return false;
    };
    let Some((_, hash)) = stem.rsplit_once('-') else {
        return false;
    };
    hash.len() == HASH_LEN
        && hash
            .bytes()
            .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit())
}

/// Scripts only from this origin, styles from this origin or carrying this response's nonce,
/// calls only to this origin (the gateway), no framing, no plugins.
fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
         base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    )
}

fn secure(response: &mut Response, nonce: &str) {
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(nonce)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_angular_content_hashes_count_as_immutable() {
        assert!(is_hashed("main-AB12CD34.js"));
        assert!(is_hashed("media/styles-ZZZZ9999.css"));
        assert!(!is_hashed("favicon.ico"));
        assert!(!is_hashed("main-ab12cd34.js"));
        assert!(!is_hashed("main-AB12CD3.js"));
        assert!(!is_hashed("launch-report.csv"));
    }

    #[test]
    fn paths_without_an_extension_are_routes_of_the_app() {
        assert!(is_client_route(""));
        assert!(is_client_route("launches/falcon-x-moon-2027-03-14"));
        assert!(!is_client_route("main-AB12CD34.js"));
        assert!(!is_client_route("assets/logo.svg"));
    }

    #[test]
    fn the_first_segment_names_the_app() {
        assert_eq!(
            split_app("/public/launches/x"),
            Some(("public", Some("launches/x")))
        );
        assert_eq!(split_app("/auth/"), Some(("auth", Some(""))));
        assert_eq!(split_app("/auth"), Some(("auth", None)));
        assert_eq!(split_app("/v1/launches"), Some(("v1", Some("launches"))));
    }
}
