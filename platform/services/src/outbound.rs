//! The one HTTP client for requests the server makes on someone's behalf: working-copy
//! origins on other instances and task webhooks.
//!
//! The URL is chosen by a user, so the client must not become a way into the networks the
//! server sits in (server-side request forgery). Every address a host name resolves to is
//! checked after resolution, on the first request and on every redirect, and loopback,
//! link-local (cloud metadata), private, shared and other non-public addresses are
//! refused unless an admin allowed that host by name. Answers are bounded in size and
//! time, and a remote's answer is never handed back to the caller word for word.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use vitrine_core::ErrorCode;

use crate::{ApiError, ApiResult};

/// What the admin allows beyond the public internet.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// Host names (or address literals) that may resolve to private or loopback
    /// addresses, e.g. a production instance on the internal network.
    pub allowed_hosts: Vec<String>,
}

impl OutboundPolicy {
    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allowed_hosts.iter().any(|h| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .eq_ignore_ascii_case(host)
        })
    }
}

/// Addresses no outbound request may reach unless its host is allowed: everything that
/// is not a public unicast address.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16, cloud metadata among them
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 (metadata) among them
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || s[0] == 0x2001 && s[1] == 0x0db8 // documentation
        || s[0] == 0x0064 && s[1] == 0xff9b // NAT64, which can reach IPv4 private space
        || s[0] == 0x2002 // 6to4, likewise
        || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0) // IPv4-compatible
}

fn refused(host: &str) -> ApiError {
    ApiError::new(
        ErrorCode::OutboundRefused,
        format!(
            "`{host}` is a loopback, private or link-local address; an admin must allow this host for outbound requests"
        ),
    )
}

/// The host of a URL, as written (brackets kept off IPv6 literals).
fn host_of(url: &reqwest::Url) -> Option<String> {
    url.host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
}

/// Checks a URL before it is requested: scheme, and the address when the host is one.
fn check_url(policy: &OutboundPolicy, url: &reqwest::Url) -> ApiResult<()> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::invalid(format!(
            "`{}` URLs cannot be requested; use https://",
            url.scheme()
        )));
    }
    let host = host_of(url).ok_or_else(|| ApiError::invalid("the URL has no host"))?;
    if let Ok(ip) = host.parse::<IpAddr>()
        && is_forbidden(ip)
        && !policy.allows_host(&host)
    {
        return Err(refused(&host));
    }
    Ok(())
}

/// Resolves names and drops forbidden addresses (unless the host is allowed), so the
/// check holds for the address actually connected to, redirects included.
struct CheckedResolver {
    policy: Arc<OutboundPolicy>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = policy.allows_host(&host);
            let kept: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| allowed || !is_forbidden(a.ip()))
                .collect();
            if kept.is_empty() {
                return Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{host} resolves only to addresses outbound requests may not reach"),
                ))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// See the module docs.
#[derive(Clone)]
pub struct Outbound {
    policy: Arc<OutboundPolicy>,
    /// Never a default client in its place: that would resolve names unchecked.
    client: Result<reqwest::Client, String>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("policy", &self.policy)
            .finish()
    }
}

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 3;

impl Outbound {
    pub fn new(policy: OutboundPolicy) -> Outbound {
        let policy = Arc::new(policy);
        let redirect_policy = policy.clone();
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver {
                policy: policy.clone(),
            }))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error("too many redirects");
                }
                match check_url(&redirect_policy, attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(e.message),
                }
            }))
            .build()
            .map_err(|e| e.to_string());
        if let Err(e) = &client {
            tracing::error!(error = %e, "cannot build the outbound http client; outbound requests will fail");
        }
        Outbound { policy, client }
    }

    /// Checks a URL that will be requested later (a webhook being saved): its scheme, and
    /// its address when the host is one. Names are checked again when they resolve.
    pub fn check(&self, url: &str) -> ApiResult<()> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ApiError::invalid(format!("`{url}` is not a URL: {e}")))?;
        check_url(&self.policy, &parsed)
    }

    /// A request to `url`, refused before anything is sent when the URL's address is
    /// one the policy forbids (names are checked when they resolve).
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        timeout: Duration,
    ) -> ApiResult<reqwest::RequestBuilder> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ApiError::invalid(format!("`{url}` is not a URL: {e}")))?;
        check_url(&self.policy, &parsed)?;
        let client = self
            .client
            .as_ref()
            .map_err(|e| ApiError::internal("outbound http client", e))?;
        Ok(client.request(method, parsed).timeout(timeout))
    }

    /// Sends, turning a refused address into [`ErrorCode::OutboundRefused`] and every other
    /// failure into `what` without the remote's own words.
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> ApiResult<reqwest::Response> {
        req.send().await.map_err(|e| {
            let chain = error_chain(&e);
            if chain.contains("may not reach") || chain.contains("loopback, private") {
                ApiError::new(
                    ErrorCode::OutboundRefused,
                    format!("{what}: the address is loopback, private or link-local; an admin must allow this host for outbound requests"),
                )
            } else if e.is_timeout() {
                ApiError::new(ErrorCode::RemoteFailed, format!("{what}: no answer in time"))
            } else {
                ApiError::new(ErrorCode::RemoteFailed, format!("{what}: could not be reached"))
            }
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Reads an answer's body, refusing more than `max` bytes however the remote sends them.
pub async fn read_limited(
    mut resp: reqwest::Response,
    max: usize,
    what: &str,
) -> ApiResult<bytes::Bytes> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(ApiError::new(
            ErrorCode::RemoteFailed,
            format!("{what}: the answer is larger than {max} bytes"),
        ));
    }
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(|_| {
        ApiError::new(
            ErrorCode::RemoteFailed,
            format!("{what}: the answer broke off"),
        )
    })? {
        if out.len() + chunk.len() > max {
            return Err(ApiError::new(
                ErrorCode::RemoteFailed,
                format!("{what}: the answer is larger than {max} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_link_local_and_metadata_ranges_are_forbidden() {
        for a in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254", // AWS, GCP, Azure metadata
            "169.254.170.2",   // ECS task metadata
            "100.64.0.1",
            "100.100.100.200", // Alibaba metadata
            "192.0.0.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254", // AWS metadata over IPv6
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "::127.0.0.1",
        ] {
            assert!(is_forbidden(ip(a)), "{a} must be forbidden");
        }
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "203.0.114.1",
            "172.32.0.1",
            "2606:4700::1111",
        ] {
            assert!(!is_forbidden(ip(a)), "{a} is public");
        }
    }

    #[test]
    fn literal_urls_are_checked_before_sending_and_allowed_hosts_pass() {
        let none = OutboundPolicy::default();
        for u in [
            "http://127.0.0.1:8080/x",
            "http://[::1]/x",
            "https://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/",
        ] {
            let e = check_url(&none, &reqwest::Url::parse(u).unwrap()).unwrap_err();
            assert_eq!(e.code, ErrorCode::OutboundRefused, "{u}");
        }
        assert!(check_url(&none, &reqwest::Url::parse("file:///etc/passwd").unwrap()).is_err());
        assert!(check_url(&none, &reqwest::Url::parse("https://example.com/").unwrap()).is_ok());
        let allowed = OutboundPolicy {
            allowed_hosts: vec!["127.0.0.1".into(), "::1".into()],
        };
        assert!(
            check_url(
                &allowed,
                &reqwest::Url::parse("http://127.0.0.1:9/").unwrap()
            )
            .is_ok()
        );
        assert!(check_url(&allowed, &reqwest::Url::parse("http://[::1]:9/").unwrap()).is_ok());
        assert!(check_url(&allowed, &reqwest::Url::parse("http://10.0.0.1/").unwrap()).is_err());
    }
}
