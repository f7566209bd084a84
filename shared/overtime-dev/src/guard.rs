//! Who may talk to `overtime dev`'s servers: only this machine, and no other site's page.
//!
//! Binding 127.0.0.1 keeps other machines out, but not a page in the developer's own browser:
//! - **DNS rebinding**: `evil.example` resolves to 127.0.0.1 after the page loads, and its
//!   script then reads `/_overtime/state` as if same-origin. The request still says
//!   `Host: evil.example`, so every request whose `Host` is not a loopback name is refused.
//! - **Cross-site requests**: any page may POST a form to `http://127.0.0.1:4566/` without
//!   reading the answer, which would be enough to send a message or trigger a cron. Browsers
//!   mark such a request with `Origin` (and `Sec-Fetch-Site`), so a state-changing request
//!   from an origin that is not loopback is refused. SDKs, curl and the functions send neither
//!   header, so they are not affected.
//!
//! Both answer `403 Forbidden` with a line that says why; nothing is served with CORS headers,
//! so no other origin can read an answer either.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;

/// Axum middleware that applies both rules; layer it on every router `overtime dev` serves:
/// `router.layer(axum::middleware::from_fn(guard::loopback_only))`.
pub async fn loopback_only(req: Request, next: Next) -> Response {
    match refusal(
        req.method(),
        req.headers(),
        req.uri().authority().map(|a| a.as_str()),
    ) {
        None => next.run(req).await,
        Some(why) => {
            tracing::warn!(method = %req.method(), uri = %req.uri(), why, "refused a request");
            (StatusCode::FORBIDDEN, format!("overtime dev: {why}\n")).into_response()
        }
    }
}

/// Why a request is refused, or `None` when it may go on. `authority` is the request target's
/// authority, which HTTP/2 sends in place of `Host`.
fn refusal(method: &Method, headers: &HeaderMap, authority: Option<&str>) -> Option<&'static str> {
    let host = headers
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or(""))
        .or(authority);
    match host {
        None => return Some("the request has no Host header; send Host: 127.0.0.1:<port>"),
        Some(host) if !is_loopback_host(host) => {
            return Some(
                "the Host header does not name this machine; overtime dev answers only \
                 localhost, 127.0.0.0/8 and [::1] (a DNS-rebinding guard)",
            );
        }
        Some(_) => {}
    }
    if is_safe(method) {
        return None;
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !is_loopback_origin(origin) {
            return Some(
                "a page on another origin may not change overtime dev's state; \
                 send the request from the dashboard or without an Origin header",
            );
        }
    }
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    cross_site.then_some(
        "a cross-site request may not change overtime dev's state (Sec-Fetch-Site: cross-site)",
    )
}

/// Methods that change nothing on these servers: neither the SQS endpoint nor the dashboard nor
/// the runtime API changes state on them.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `localhost`, a name under `.localhost` (RFC 6761 reserves both for loopback), an IPv4 address
/// in 127.0.0.0/8 or `[::1]`; with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // [::1]:4566 or [::1]
        Some(rest) => match rest.split_once(']') {
            Some((v6, port)) if port.is_empty() || port.strip_prefix(':').is_some_and(is_port) => {
                v6
            }
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        },
    };
    if name.is_empty() {
        return false;
    }
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_port(digits: &str) -> bool {
    digits.parse::<u16>().is_ok() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// An `Origin` of a page served from this machine: `http(s)://<loopback host>`. The opaque
/// origin `null` (sandboxed frames, `file:` pages, some redirects) is not.
fn is_loopback_origin(origin: &str) -> bool {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| !rest.contains('/') && is_loopback_host(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn loopback_hosts_with_or_without_a_port_are_this_machine() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:4566",
            "127.1.2.3:80",
            "localhost",
            "LOCALHOST:9000",
            "app.localhost:3000",
            "localhost.",
            "[::1]",
            "[::1]:4566",
        ] {
            assert!(is_loopback_host(host), "{host} should be loopback");
        }
    }

    #[test]
    fn other_hosts_and_malformed_ones_are_not() {
        for host in [
            "evil.example",
            "evil.example:4566",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.1:4566",
            "0.0.0.0:4566",
            "[::]:4566",
            "[::1",
            "[::1]x",
            "127.0.0.1:",
            "127.0.0.1:abc",
            ":4566",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host:?} should not be loopback");
        }
    }

    #[test]
    fn a_request_without_host_is_refused_unless_its_target_names_a_loopback_authority() {
        assert!(refusal(&Method::GET, &headers(&[]), None).is_some());
        assert!(refusal(&Method::GET, &headers(&[]), Some("127.0.0.1:4566")).is_none());
        assert!(refusal(&Method::GET, &headers(&[]), Some("evil.example")).is_some());
    }

    #[test]
    fn a_state_change_from_another_origin_is_refused_and_a_read_is_not() {
        let foreign = headers(&[
            ("host", "127.0.0.1:4566"),
            ("origin", "https://evil.example"),
        ]);
        assert!(refusal(&Method::POST, &foreign, None).is_some());
        assert!(refusal(&Method::GET, &foreign, None).is_none());
        let null = headers(&[("host", "127.0.0.1:4566"), ("origin", "null")]);
        assert!(refusal(&Method::POST, &null, None).is_some());
        let own = headers(&[
            ("host", "127.0.0.1:4566"),
            ("origin", "http://127.0.0.1:4566"),
        ]);
        assert!(refusal(&Method::POST, &own, None).is_none());
        let cross = headers(&[("host", "localhost:4566"), ("sec-fetch-site", "cross-site")]);
        assert!(refusal(&Method::DELETE, &cross, None).is_some());
        let same = headers(&[
            ("host", "localhost:4566"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(refusal(&Method::POST, &same, None).is_none());
    }

    #[test]
    fn an_origin_with_a_path_or_another_scheme_is_not_loopback() {
        assert!(!is_loopback_origin("http://127.0.0.1:4566/x"));
        assert!(!is_loopback_origin("file://"));
        assert!(!is_loopback_origin("chrome-extension://abc"));
        assert!(is_loopback_origin("https://localhost"));
    }
}
