//! The copy's side of working copies on other instances: a client for the origin's
//! `/wc/api/…` routes, holding the link's token. The origin's side is [`super::remote`].

use std::time::Duration;

use vitrine_core::ErrorCode;
use vitrine_storage::WorkingCopyRecord;

use super::install::SyncOutcome;
use crate::{ApiError, ApiResult};

/// The HTTP client side of a remote origin, over the server's one outbound client (see
/// [`crate::outbound`]): the origin's address is checked after resolution and on every
/// redirect, answers are bounded, and the origin's own words never reach the caller.
pub(crate) struct RemoteOrigin {
    base: String,
    token: String,
    /// The origin project, named on every request (a folder's link needs it).
    project: Option<String>,
    client: crate::outbound::Outbound,
}

/// The origin's head as it reports it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RemoteHead {
    pub project_uid: String,
    pub name: String,
    pub head: i64,
}

/// The most a working-copy origin's answer may weigh (its bundle).
fn max_answer() -> usize {
    super::bundles::format::BundleLimits::default().max_bytes as usize
}

/// How long one exchange with an origin may take (a bundle can be large).
const ORIGIN_TIMEOUT: Duration = Duration::from_secs(600);

impl RemoteOrigin {
    /// Splits `BASE/wc/TOKEN`, or `BASE/wc/TOKEN?project=ID` for a project of a folder's
    /// link, and checks the base is HTTPS (or HTTP to loopback).
    pub fn parse_link(link: &str) -> ApiResult<(String, String, Option<String>)> {
        let bad = |why: &str| ApiError::invalid(format!("link: {why}"));
        let not_a_link = || bad("not a working-copy link (expected BASE/wc/TOKEN)");
        let (base, rest) = link.trim().rsplit_once("/wc/").ok_or_else(not_a_link)?;
        let (token, project) = match rest.split_once('?') {
            None => (rest, None),
            Some((token, query)) => {
                let id = query.strip_prefix("project=").filter(|id| {
                    !id.is_empty()
                        && id.len() <= 64
                        && id
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                });
                let id = id.ok_or_else(|| {
                    bad("after the token, only `?project=ID` (a project of a folder's link) may follow")
                })?;
                (token, Some(id.to_owned()))
            }
        };
        if !token.starts_with("vwc_") || token.contains('/') {
            return Err(not_a_link());
        }
        Self::check_base(base)?;
        Ok((base.to_owned(), token.to_owned(), project))
    }

    fn check_base(base: &str) -> ApiResult<()> {
        let bad = |why: &str| ApiError::invalid(format!("link: {why}"));
        if base.starts_with("https://") {
            return Ok(());
        }
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| bad("the origin's address must start with https://"))?;
        let host = rest.split('/').next().unwrap_or_default();
        let host = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            Ok(())
        } else {
            Err(bad(
                "plain http:// is only allowed to this machine; use https://",
            ))
        }
    }

    pub fn new(
        client: &crate::outbound::Outbound,
        base: &str,
        token: &str,
        project: Option<String>,
    ) -> ApiResult<RemoteOrigin> {
        Self::check_base(base)?;
        Ok(RemoteOrigin {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            project,
            client: client.clone(),
        })
    }

    pub fn of(
        client: &crate::outbound::Outbound,
        secrets: &crate::secret_box::SecretBox,
        w: &WorkingCopyRecord,
    ) -> ApiResult<RemoteOrigin> {
        match (&w.origin_url, &w.origin_token) {
            (Some(u), Some(t)) => {
                let project = Some(w.origin_project_uid.to_string()).filter(|p| !p.is_empty());
                RemoteOrigin::new(client, u, &secrets.unseal(t)?, project)
            }
            _ => Err(ApiError::internal(
                "working copy",
                "remote origin without a link",
            )),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> ApiResult<reqwest::RequestBuilder> {
        let url = match &self.project {
            // Ids are checked to be URL-safe where they come from (`parse_link`, uids).
            Some(p) if path.contains('?') => format!("{}{path}&project={p}", self.base),
            Some(p) => format!("{}{path}?project={p}", self.base),
            None => format!("{}{path}", self.base),
        };
        Ok(self
            .client
            .request(method, &url, ORIGIN_TIMEOUT)?
            .bearer_auth(&self.token))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> ApiResult<reqwest::Response> {
        let what = format!("the origin at {}", self.base);
        let resp = self.client.send(req, &what).await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        // Only the error code is read from the answer (bounded): the origin is a URL a
        // user typed, and its words are not repeated to the caller.
        let body = crate::outbound::read_limited(resp, 64 * 1024, &what)
            .await
            .unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let code = body["error"]["code"].as_str().unwrap_or_default();
        // Refusals the caller can act on keep their code; anything else is the remote's
        // failure.
        let code = ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == code)
            .filter(|c| {
                matches!(
                    c,
                    ErrorCode::OriginMoved
                        | ErrorCode::InvalidInput
                        | ErrorCode::Forbidden
                        | ErrorCode::LinkNotValid
                        | ErrorCode::InvalidBundle
                        | ErrorCode::InvalidWorkflow
                        | ErrorCode::ExposureRefused
                        | ErrorCode::Conflict
                )
            });
        Err(match code {
            // Said in our own words: what the copy's managers can do about it.
            Some(ErrorCode::LinkNotValid) => ApiError::new(
                ErrorCode::LinkNotValid,
                format!(
                    "the origin no longer accepts this working copy's link ({}, LINK_NOT_VALID): \
                     it was revoked or expired, or the identity it acts as was disabled or \
                     lost its role there; ask the origin's managers for a new link",
                    status.as_u16()
                ),
            ),
            // The copy builds every other argument itself; what the origin can find
            // missing is the project a folder's link must name.
            Some(ErrorCode::InvalidInput) => ApiError::invalid(format!(
                "link: the origin refused the request ({}, INVALID_INPUT): a folder's \
                 working-copy link must name the project, as BASE/wc/TOKEN?project=ID",
                status.as_u16()
            )),
            Some(c) => ApiError::new(
                c,
                format!(
                    "the origin refused the request ({}, {})",
                    status.as_u16(),
                    c.as_str()
                ),
            ),
            None => ApiError::new(
                ErrorCode::RemoteFailed,
                format!("the origin answered {}", status.as_u16()),
            ),
        })
    }

    pub async fn head(&self) -> ApiResult<RemoteHead> {
        let resp = self
            .send(self.request(reqwest::Method::GET, "/wc/api/head")?)
            .await?;
        let body = crate::outbound::read_limited(resp, 64 * 1024, "the origin's head").await?;
        serde_json::from_slice(&body).map_err(|_| {
            ApiError::new(
                ErrorCode::RemoteFailed,
                "the origin's answer is not a working-copy head",
            )
        })
    }

    pub async fn bundle(&self) -> ApiResult<bytes::Bytes> {
        let resp = self
            .send(self.request(reqwest::Method::GET, "/wc/api/bundle")?)
            .await?;
        crate::outbound::read_limited(resp, max_answer(), "the origin's bundle").await
    }

    pub async fn push(&self, bundle: Vec<u8>, base: i64, force: bool) -> ApiResult<SyncOutcome> {
        let resp = self
            .send(
                self.request(
                    reqwest::Method::POST,
                    &format!("/wc/api/push?base={base}&force={force}"),
                )?
                .header("content-type", "application/zip")
                .body(bundle),
            )
            .await?;
        let body = crate::outbound::read_limited(resp, 64 * 1024, "the origin's answer").await?;
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            ApiError::new(
                ErrorCode::RemoteFailed,
                "the origin's answer to a push is not JSON",
            )
        })?;
        Ok(SyncOutcome {
            head: v["head"].as_i64().unwrap_or_default(),
            revisions: v["revisions"].as_u64().unwrap_or_default() as usize,
        })
    }
}
