//! Point 12 of issue 15: every error of `vault-server` is the protocol's JSON error
//! (docs/protocol.md: `{"error", "detail"}` with `content-type: application/json` and the
//! documented status), whatever is wrong with a request: its query, body, path, method or
//! content type, or a route that does not exist. A client reads a 4xx without a JSON body as
//! "not a vault-server", so a plain-text answer from the framework is a protocol break.
//!
//! The routes come from `vault_server::api::ROUTES`, the one list the server's router is
//! built from, so a route added to the server is covered here without editing this test.

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use vault_server::api::{ROUTES, Route, Takes};

use crate::common::World;
use crate::common::server::{Server, add_user};

const PASSWORD: &str = "correct horse battery";

/// The request that was sent, for messages.
struct Case {
    what: String,
    req: RequestBuilder,
    status: u16,
}

/// Send `case` and check the answer is the documented JSON error with its status.
fn check(case: Case) {
    let res = case
        .req
        .send()
        .unwrap_or_else(|e| panic!("{}: {e}", case.what));
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = res.text().unwrap_or_default();
    assert_eq!(
        status, case.status,
        "{}: answered {status}: {text}",
        case.what
    );
    assert!(
        content_type.starts_with("application/json"),
        "{}: {status} with content type {content_type:?}: {text}",
        case.what
    );
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text}", case.what));
    for field in ["error", "detail"] {
        assert!(
            body[field].as_str().is_some_and(|s| !s.is_empty()),
            "{}: no `{field}` in {body}",
            case.what
        );
    }
}

/// `route`'s path with `{vault}` replaced by `vault` (already URL-encoded).
fn path_of(route: &Route, vault: &str) -> String {
    route.path.replace("{vault}", vault)
}

/// A request of `method` to `path`, with the token when `auth`.
fn request(
    c: &Client,
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> RequestBuilder {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let req = c.request(method, format!("{base}{path}"));
    match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    }
}

/// A request to `route` as the route expects it, but with the body `body` (JSON routes).
fn json_body(req: RequestBuilder, body: &str) -> RequestBuilder {
    req.header(CONTENT_TYPE, "application/json")
        .body(body.to_string())
}

/// The malformed requests for one route, each with the status docs/protocol.md gives it.
fn cases(c: &Client, base: &str, route: &Route, token: &str) -> Vec<Case> {
    let name = format!("{} {}", route.method, route.path);
    let mut out = Vec::new();
    let token_for = |r: &Route| r.auth.then_some(token);
    let good = path_of(route, "notes");
    let req = |method: &str, path: &str, tok: Option<&str>| request(c, base, method, path, tok);
    let case = |what: &str, req: RequestBuilder, status: u16| Case {
        what: format!("{name}: {what}"),
        req,
        status,
    };

    // A method the path does not answer.
    out.push(case("DELETE", req("DELETE", &good, token_for(route)), 405));
    if route.auth {
        out.push(case("no token", req(route.method, &good, None), 401));
        out.push(case(
            "unknown token",
            req(route.method, &good, Some(&"0".repeat(64))),
            401,
        ));
    }
    if route.path.contains("{vault}") {
        for (bad, status) in [("Bad%20Name", 400), ("%FF%FE", 400), ("-dash", 400)] {
            let path = path_of(route, bad);
            let r = with_valid_body(req(route.method, &path, Some(token)), route);
            out.push(case(&format!("vault name {bad}"), r, status));
        }
        if route.method != "PUT" {
            let path = path_of(route, "nosuch");
            let r = with_valid_body(req(route.method, &path, Some(token)), route);
            out.push(case("a vault that does not exist", r, 404));
        }
    }
    for param in route.query {
        let path = format!("{good}?{param}=not-a-value");
        out.push(case(
            &format!("bad `{param}`"),
            req(route.method, &path, token_for(route)),
            400,
        ));
    }
    match route.takes {
        Takes::Nothing => {}
        Takes::Json => {
            let r = || req(route.method, &good, token_for(route));
            out.push(case("malformed JSON", json_body(r(), "{ not json"), 400));
            out.push(case("missing fields", json_body(r(), "{}"), 400));
            out.push(case(
                "fields of the wrong type",
                json_body(r(), r#"{"ids": 5, "old": 7, "new": [], "user": 1}"#),
                400,
            ));
            out.push(case(
                "not JSON content",
                r().header(CONTENT_TYPE, "text/plain").body("{}"),
                415,
            ));
            out.push(case("no content type", r().body("{}"), 415));
            let big = format!(r#"{{"pad": "{}"}}"#, "x".repeat(2 << 20));
            out.push(case("a body over the limit", json_body(r(), &big), 413));
        }
        Takes::Objects => {
            let r = || {
                req(route.method, &good, token_for(route))
                    .header(CONTENT_TYPE, vault::wire::CONTENT_TYPE)
            };
            // Kind 9 does not exist; a stream cut short.
            out.push(case(
                "unknown kind",
                r().body(vec![9u8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
                400,
            ));
            out.push(case(
                "cut short",
                r().body(vec![1u8, 0, 200, 0, 0, 0, 0, 0, 0, 0, 1]),
                400,
            ));
            out.push(case(
                "a body over the limit",
                r().body(vec![0u8; 2 << 20]),
                413,
            ));
        }
    }
    out
}

/// The request `route` expects, with a well-formed body where it takes one (so only what the
/// case changes is wrong).
fn with_valid_body(req: RequestBuilder, route: &Route) -> RequestBuilder {
    match route.takes {
        Takes::Nothing => req,
        Takes::Json => json_body(
            req,
            &json!({"ids": [], "old": null, "new": "0".repeat(64), "upload": "0123456789abcdef"})
                .to_string(),
        ),
        Takes::Objects => req
            .header(CONTENT_TYPE, vault::wire::CONTENT_TYPE)
            .body(Vec::new()),
    }
}

#[test]
fn api_errors_every_route_answers_documented_json() {
    let w = World::new();
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    let server = Server::start(&data, &["--max-body-mib", "1"]);
    let base = server.url.clone();
    // A fresh connection for every request: the server closes one whose body it refused
    // unread (413), which a pooled client would then try to reuse.
    let c = Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();

    let res = c
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"user": "alice", "password": PASSWORD, "device_name": "probe"}))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let token = res.json::<Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = c
        .put(format!("{base}/api/v1/vaults/notes"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);

    let mut checked = 0;
    for route in ROUTES {
        for case in cases(&c, &base, route, &token) {
            check(case);
            checked += 1;
        }
    }
    // Not an API route, or another API version. (Paths outside /api/ are the web view's:
    // its HTML "not found" page, tests/web/security.rs.)
    for (path, status) in [
        ("/api/nothing/here", 400),
        ("/api/v1/nothing", 404),
        ("/api/v1/vaults/notes/head/extra", 404),
        ("/api/v2/login", 400),
    ] {
        check(Case {
            what: format!("GET {path}"),
            req: request(&c, &base, "GET", path, Some(&token)),
            status,
        });
        checked += 1;
    }
    assert!(checked > 60, "only {checked} cases ran");

    // The routes still work when asked properly (the cases above changed nothing).
    let res = c
        .get(format!("{base}/api/v1/vaults/notes/tree?full=true"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.json::<Value>().unwrap(), json!({"tree": null}));
    let res = c
        .get(format!("{base}/api/v1/vaults"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(res.json::<Value>().unwrap(), json!({"vaults": ["notes"]}));
}
