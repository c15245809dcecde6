//! What every request passes before a route sees it: the client's address (through
//! trusted proxies only), a bound on the body it may send, and the security headers on
//! every answer. Applied once around the whole app, so a route added later cannot
//! forget them.

use std::net::IpAddr;

use futures::StreamExt;
use poem::http::{HeaderValue, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use vitrine_core::ErrorCode;

/// Bodies of the JSON routes (sign-in, share viewer calls): far more than any of them
/// needs, far less than would matter to the server.
pub const SMALL_BODY: usize = 64 * 1024;

/// The client's address as the routes see it (see [`ClientAddress`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// An address or a network (`10.0.0.0/8`, `::1/128`, `192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("`{s}` is not an address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix must be 0 to {max}"))?,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address of a request: the socket peer, unless the peer is a trusted proxy,
/// in which case `X-Forwarded-For` is read from the right, skipping trusted proxies, and
/// the first untrusted address is the client. A header from an untrusted peer is never
/// believed (anyone could send one to get a fresh rate-limit key).
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<IpAddr> = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .map(canonical)
        .collect();
    Some(
        hops.iter()
            .rev()
            .copied()
            .find(|ip| !is_trusted(*ip))
            .or(hops.first().copied())
            .unwrap_or(peer),
    )
}

/// The largest body a path accepts. The routes that take files read theirs only after
/// they have authenticated and authorized the caller from the headers, and stream it
/// (see the routes); everything else is small.
fn body_limit(path: &str, content_type: &str, graphql_body: usize) -> usize {
    match path {
        "/graphql" if content_type.starts_with("multipart/form-data") => {
            vitrine_api::services::MAX_UPLOAD_BYTES + graphql_body
        }
        "/graphql" => graphql_body,
        // A share link's viewer API (`/s/v/LINK/graphql`) takes GraphQL like `/graphql`.
        p if p.starts_with("/s/v/") && p.ends_with("/graphql") => graphql_body,
        "/api/bundles/import" | "/wc/api/push" => {
            vitrine_api::services::bundles::format::BundleLimits::default().max_bytes as usize
        }
        _ => SMALL_BODY,
    }
}

/// See the module docs.
pub struct Guard {
    pub trusted_proxies: Vec<IpNet>,
    pub graphql_body: usize,
    /// Send `Strict-Transport-Security` (the instance is reached over HTTPS).
    pub hsts: bool,
}

impl<E: Endpoint> Middleware<E> for Guard {
    type Output = GuardEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        GuardEndpoint {
            inner,
            trusted: self.trusted_proxies.clone(),
            graphql_body: self.graphql_body,
            hsts: self.hsts,
        }
    }
}

pub struct GuardEndpoint<E> {
    inner: E,
    trusted: Vec<IpNet>,
    graphql_body: usize,
    hsts: bool,
}

/// The one coded refusal of a body that is too large.
pub fn too_large(max: usize) -> Response {
    let code = ErrorCode::QueryTooLarge;
    Response::builder()
        .status(StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::PAYLOAD_TOO_LARGE))
        .content_type("application/json")
        .body(
            serde_json::json!({
                "error": { "code": code.as_str(), "message": format!("the request body exceeds {max} bytes") },
                "errors": [{ "message": format!("the request body exceeds {max} bytes"), "extensions": { "code": code.as_str() } }],
            })
            .to_string(),
        )
}

impl<E: Endpoint> Endpoint for GuardEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if let Some(ip) = client_ip(peer, &forwarded, &self.trusted) {
            req.extensions_mut().insert(ClientIp(ip));
        }
        let content_type = req.content_type().unwrap_or_default().to_owned();
        let max = body_limit(req.uri().path(), &content_type, self.graphql_body);
        let declared = req
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        let mut resp = if declared.is_some_and(|n| n > max as u64) {
            drain(req.take_body()).await;
            too_large(max)
        } else {
            let body = req.take_body();
            req.set_body(limited(body, max));
            match self.inner.call(req).await {
                Ok(r) => r.into_response(),
                Err(e) => e.into_response(),
            }
        };
        let h = resp.headers_mut();
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        // Share tokens ride in URLs: never hand them to another site.
        h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        if self.hsts {
            h.insert(
                "strict-transport-security",
                HeaderValue::from_static("max-age=31536000"),
            );
        }
        let html = h
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        if html && !h.contains_key("content-security-policy") {
            h.insert(
                "content-security-policy",
                HeaderValue::from_static(PAGE_CSP),
            );
        }
        Ok(resp)
    }
}

/// The pages of the instance itself (landing, setup, GraphiQL) are never framed, and run
/// scripts from this server only. GraphiQL sets styles on its elements, hence inline
/// styles.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Reads and drops what a refused body sends, up to a bound, so that a client which
/// writes its whole body before it reads gets the answer instead of a reset connection.
/// Nothing is kept: memory stays flat whatever the client sends.
async fn drain(body: Body) {
    const DRAIN_MAX: usize = 16 << 20;
    let mut seen = 0usize;
    let mut stream = body.into_bytes_stream();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len();
            if seen > DRAIN_MAX {
                break;
            }
        }
    })
    .await;
}

/// Marks the error a body stream ends with when it passes its route's limit.
const TOO_LARGE_MARK: &str = "the request body exceeds";

/// Whether an error reading a body (as the routes see it) is the guard's limit.
pub fn is_too_large(error: &dyn std::fmt::Display) -> bool {
    error.to_string().contains(TOO_LARGE_MARK)
}

/// A body that ends in an error once more than `max` bytes have arrived, however the
/// client sends them (chunked bodies carry no length to check up front).
fn limited(body: Body, max: usize) -> Body {
    let mut seen = 0usize;
    let stream = body.into_bytes_stream().map(move |chunk| {
        let chunk = chunk?;
        seen = seen.saturating_add(chunk.len());
        if seen > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{TOO_LARGE_MARK} {max} bytes"),
            ));
        }
        Ok(chunk)
    });
    Body::from_bytes_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn networks_parse_and_match() {
        let n: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains("10.200.1.1".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.0.0.1".parse().unwrap()));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        let any: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("192.0.2.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("nope".parse::<IpNet>().is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let peer = Some("203.0.113.9".parse().unwrap());
        let spoof = ["1.2.3.4"];
        // No trusted proxy: the header is ignored.
        assert_eq!(client_ip(peer, &spoof, &[]), peer);
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(client_ip(peer, &spoof, &trusted), peer);
        // Through a trusted proxy the right-most untrusted hop is the client, whatever
        // the client wrote further left.
        let proxy = Some("10.1.1.1".parse().unwrap());
        assert_eq!(
            client_ip(proxy, &["6.6.6.6, 198.51.100.4, 10.0.0.2"], &trusted),
            Some("198.51.100.4".parse().unwrap())
        );
        // A trusted proxy that sent no header: the proxy is all we know.
        assert_eq!(client_ip(proxy, &[], &trusted), proxy);
    }

    #[test]
    fn bodies_are_small_except_where_files_go() {
        assert_eq!(
            body_limit("/auth/login", "application/json", 1 << 20),
            SMALL_BODY
        );
        assert_eq!(body_limit("/s/v/x/api/sign-in", "", 1 << 20), SMALL_BODY);
        assert_eq!(body_limit("/graphql", "application/json", 1 << 20), 1 << 20);
        assert_eq!(
            body_limit("/s/v/x/graphql", "application/json", 1 << 20),
            1 << 20
        );
        assert!(body_limit("/graphql", "multipart/form-data; boundary=x", 1 << 20) > 1 << 20);
        assert!(body_limit("/wc/api/push", "", 1 << 20) > 1 << 20);
    }
}
