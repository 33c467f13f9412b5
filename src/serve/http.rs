//! The HTTP side (actix-web): one handler that checks the request (GET
//! only, no body, bounded URI, the access token when there is one, a
//! loopback `Host` when there is none) and routes it by exact segments:
//!
//! | path | answer |
//! |---|---|
//! | `/`, `/assets/NAME` | the page and its embedded files ([`super::assets`]) |
//! | `/api/runs`, `/api/compare` | all served runs ([`super::api`]) |
//! | `/api/runs/N/overview`, `…/children?from=K`, `…/choices` | run N |
//! | `/api/runs/N/children/ID`, `…/children/ID/arch.svg` | one child |
//!
//! A path is never joined onto a directory: run and child are numbers, and
//! every file is opened through [`super::guard`]. Anything else is a 404.

use std::sync::{Mutex, MutexGuard};

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::runs::Run;
use super::{api, assets};
use crate::post::report::drawing;
use crate::post::report::picture::svg_string;

/// The longest request target accepted.
pub const MAX_URI: usize = 2048;
/// The cookie that carries the access token after the first visit.
pub const COOKIE: &str = "nas_actor_token";

/// What every worker shares: the runs and the access rule.
pub struct Shared {
    pub runs: Vec<Mutex<Run>>,
    /// The access token, when the server is reachable from other machines.
    pub token: Option<String>,
}

impl Shared {
    /// Run `i`, brought up to date.
    fn run(&self, i: usize) -> Option<MutexGuard<'_, Run>> {
        let mut run = self.runs.get(i)?.lock().unwrap_or_else(|p| p.into_inner());
        run.refresh();
        Some(run)
    }

    /// Every run, brought up to date, locked in order.
    fn all(&self) -> Vec<MutexGuard<'_, Run>> {
        self.runs
            .iter()
            .map(|m| {
                let mut run = m.lock().unwrap_or_else(|p| p.into_inner());
                run.refresh();
                run
            })
            .collect()
    }
}

/// Compare two byte strings in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of `key` in a query string (no decoding: tokens and numbers need none).
pub fn query<'a>(q: &'a str, key: &str) -> Option<&'a str> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The token a request carries: `Authorization: Bearer`, the cookie, or `?token=`.
fn offered(req: &HttpRequest) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v.strip_prefix("Bearer ") {
            out.push(t.trim().to_string());
        }
    }
    if let Some(c) = req.cookie_value(COOKIE) {
        out.push(c);
    }
    if let Some(t) = query(req.query_string(), "token") {
        out.push(t.to_string());
    }
    out
}

trait CookieValue {
    fn cookie_value(&self, name: &str) -> Option<String>;
}

impl CookieValue for HttpRequest {
    fn cookie_value(&self, name: &str) -> Option<String> {
        self.headers()
            .get_all(header::COOKIE)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

/// Whether the `Host` header names this machine's loopback (a page of
/// another site that a DNS trick points at 127.0.0.1 names its own host).
fn loopback_host(req: &HttpRequest) -> bool {
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    matches!(
        name.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "::1"
    )
}

fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(body.into())
}

fn json(value: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(value.to_string())
}

fn json_text(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn not_found() -> HttpResponse {
    text(StatusCode::NOT_FOUND, "404: no such page or data")
}

/// Every answer: headers that keep the page to itself.
fn harden(mut resp: HttpResponse) -> HttpResponse {
    let h = resp.headers_mut();
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    ];
    for (k, v) in fixed {
        h.insert(k, HeaderValue::from_static(v));
    }
    resp
}

/// The one handler (see the module doc).
pub async fn handle(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    harden(answer(&req, &shared))
}

fn answer(req: &HttpRequest, shared: &Shared) -> HttpResponse {
    if req.method() != Method::GET {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET"))
            .content_type("text/plain; charset=utf-8")
            .body("405: only GET is served");
    }
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    if has_body {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "413: requests carry no body");
    }
    if req.uri().to_string().len() > MAX_URI {
        return text(
            StatusCode::URI_TOO_LONG,
            "414: the request target is too long",
        );
    }
    let mut set_cookie = None;
    match &shared.token {
        Some(token) => {
            let offered = offered(req);
            if !offered.iter().any(|t| same(t.as_bytes(), token.as_bytes())) {
                return HttpResponse::Unauthorized()
                    .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                    .content_type("text/plain; charset=utf-8")
                    .body("401: this dashboard needs its access token: open the address `nas-actor serve` printed (it ends in ?token=…)");
            }
            if req.cookie_value(COOKIE).as_deref() != Some(token.as_str()) {
                set_cookie = Some(format!(
                    "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                ));
            }
        }
        None => {
            if !loopback_host(req) {
                return text(
                    StatusCode::FORBIDDEN,
                    "403: this dashboard serves only this machine (Host must be localhost or 127.0.0.1); reach it through `ssh -L`",
                );
            }
        }
    }
    let mut resp = route(req, shared);
    if let Some(c) = set_cookie {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    resp
}

fn route(req: &HttpRequest, shared: &Shared) -> HttpResponse {
    let path = req.uri().path();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() < 20 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match segments.as_slice() {
        [""] => asset("index.html"),
        ["assets", name] => asset(name),
        ["api", "runs"] => {
            let runs = shared.all();
            json(api::runs(&runs.iter().map(|r| &**r).collect::<Vec<_>>()))
        }
        ["api", "compare"] => {
            let runs = shared.all();
            json(api::compare(&runs.iter().map(|r| &**r).collect::<Vec<_>>()))
        }
        ["api", "runs", n, rest @ ..] => {
            let Some(run) = number(n).and_then(|n| shared.run(n as usize)) else {
                return not_found();
            };
            match rest {
                ["overview"] => json(api::overview(&run, crate::store::unix_now())),
                ["children"] => {
                    let from = query(req.query_string(), "from")
                        .and_then(number)
                        .unwrap_or(0);
                    json_text(api::children(&run, from as usize))
                }
                ["choices"] => json(api::choices(&run)),
                ["children", id] => match number(id).and_then(|id| api::child(&run, id)) {
                    Some(v) => json(v),
                    None => not_found(),
                },
                ["children", id, "arch.svg"] => {
                    let Some(r) = number(id).and_then(|id| api::find(&run, id)) else {
                        return not_found();
                    };
                    let (scene, _) = drawing::draw(&r.spec.arch, &format!("child {}", r.spec.id));
                    match svg_string(&scene) {
                        Ok(svg) => HttpResponse::Ok()
                            .content_type("image/svg+xml")
                            .insert_header((header::CACHE_CONTROL, "no-store"))
                            .body(svg),
                        Err(e) => text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("500: the drawing failed: {e}"),
                        ),
                    }
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn asset(name: &str) -> HttpResponse {
    match assets::get(name) {
        Some((mime, bytes)) => HttpResponse::Ok()
            .content_type(mime)
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(bytes),
        None => not_found(),
    }
}
