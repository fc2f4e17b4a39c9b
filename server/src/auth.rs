//! Tokens, and the checks every request passes before a handler sees it.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use crate::ServeError;
use crate::api::ApiError;
use crate::state::Server;

/// The longest path and query a request may have.
pub(crate) const MAX_URI: usize = 2048;
/// The shortest token a user may choose.
const MIN_TOKEN: usize = 16;

/// A new token: 32 random bytes, as 64 hexadecimal digits.
pub(crate) fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut bytes) {
        // Without the system's randomness no token can be trusted; nothing to serve then.
        panic!("the system's random source failed: {e}");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A token given on the command line, checked: long enough, and plain enough to type and to
/// send in a header.
pub(crate) fn check_given(token: &str) -> Result<String, ServeError> {
    if token.len() < MIN_TOKEN {
        return Err(ServeError(format!(
            "--token must be at least {MIN_TOKEN} characters long; leave it out and Kiln makes one"
        )));
    }
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ServeError(
            "--token may hold only visible ASCII characters (no spaces)".into(),
        ));
    }
    Ok(token.to_owned())
}

/// Whether `given` is `expected`, in time that does not depend on where they differ: both are
/// hashed and the digests compared byte by byte without stopping early.
pub(crate) fn same_token(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The bearer token of a request, if it sent one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    Read,
    Write,
}

impl Server {
    /// Whether the request's token grants `grant`; the error says what is missing.
    pub(crate) fn authorize(&self, headers: &HeaderMap, grant: Grant) -> Result<(), ApiError> {
        if grant == Grant::Write && !self.allow_writes {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this server is read-only; restart it with `kiln serve --allow-writes` to change the project",
            ));
        }
        let needed = grant == Grant::Write || self.reads_need_token;
        let Some(expected) = self.token.as_deref().filter(|_| needed) else {
            return Ok(());
        };
        match bearer(headers) {
            Some(given) if same_token(given, expected) => Ok(()),
            Some(_) => Err(ApiError::unauthorized("the token is wrong")),
            None => Err(ApiError::unauthorized(
                "this needs the token that kiln serve printed: send it as `Authorization: Bearer TOKEN`",
            )),
        }
    }
}

/// Checks every request: its size, and, on a loopback server, that it names a loopback host
/// (a page elsewhere that rebinds its own name to 127.0.0.1 is refused). Adds the headers that
/// keep responses out of other sites' frames and scripts.
pub(crate) async fn guard(
    State(server): State<Arc<Server>>,
    request: Request,
    next: Next,
) -> Response {
    let uri_length = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if uri_length > MAX_URI {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the request's path and query are {uri_length} bytes; the limit is {MAX_URI}"),
        )
        .into_response();
    }
    if server.loopback && !loopback_host(request.headers()) {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "this server answers only requests to localhost, 127.0.0.1 or [::1]; to serve other machines, bind another address with a token",
        )
        .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Whether the request's Host names a loopback address (with any port).
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        // HTTP/1.1 requires Host; an HTTP/1.0 client without one reached a loopback socket.
        return true;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        let token = generate_token();
        assert_eq!(token.len(), 64);
        assert!(same_token(&token, &token));
        assert!(!same_token(&token[..63], &token));
        assert!(!same_token("", &token));
        assert_ne!(generate_token(), token);
    }

    #[test]
    fn short_or_spaced_tokens_are_refused() {
        assert!(check_given("short").is_err());
        assert!(check_given("a token with spaces in it").is_err());
        assert!(check_given("0123456789abcdef").is_ok());
    }

    #[test]
    fn only_loopback_hosts_pass() {
        let host = |h: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(h).expect("header"));
            loopback_host(&headers)
        };
        assert!(host("localhost:7860"));
        assert!(host("127.0.0.1:7860"));
        assert!(host("127.3.2.1"));
        assert!(host("[::1]:7860"));
        assert!(!host("evil.example:7860"));
        assert!(!host("localhost.evil.example"));
        assert!(!host("192.168.1.5:7860"));
    }
}
