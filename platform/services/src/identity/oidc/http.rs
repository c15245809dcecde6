//! The HTTP client OpenID Connect calls go through: no redirects (a provider that
//! redirects a back-channel call is refused, not followed), a deadline per call, and a
//! bounded answer. Providers are configured by an administrator, so their addresses may be
//! private ones (an identity provider often lives inside the organisation's network).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// The most bytes read from one provider answer (discovery, keys, tokens, user info).
const MAX_ANSWER: usize = 1 << 20;

/// Why a call to a provider failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("the provider did not answer within {0} s")]
    Timeout(u64),
    #[error("cannot reach the provider: {0}")]
    Unreachable(String),
    #[error("the provider's answer is larger than {MAX_ANSWER} bytes")]
    TooLarge,
}

pub(crate) struct ProviderHttp {
    client: reqwest::Client,
    timeout: Duration,
}

impl ProviderHttp {
    pub(crate) fn new(timeout: Duration) -> ProviderHttp {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .unwrap_or_default();
        ProviderHttp { client, timeout }
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let timeout = |e: reqwest::Error| {
            if e.is_timeout() {
                HttpError::Timeout(self.timeout.as_secs())
            } else {
                HttpError::Unreachable(e.to_string())
            }
        };
        let request = reqwest::Request::try_from(request).map_err(timeout)?;
        let mut response = self.client.execute(request).await.map_err(timeout)?;
        let mut answer = openidconnect::http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            answer = answer.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(timeout)? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        answer
            .body(body)
            .map_err(|e| HttpError::Unreachable(e.to_string()))
    }
}

impl<'c> AsyncHttpClient<'c> for ProviderHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
