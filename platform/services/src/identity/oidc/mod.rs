//! OpenID Connect sign-in: the authorization code flow with PKCE, state and nonce against
//! each configured provider, and what the provider's answer makes of a Vitrine user.
//!
//! A sign-in is two requests. [`Identity::oidc_start`] keeps the state (hashed), the nonce
//! and the PKCE verifier, and answers the provider's URL; [`Identity::oidc_finish`] takes
//! them back out in the statement that reads them (a state answers once), exchanges the
//! code, checks the ID token (issuer, audience, expiry, nonce, an asymmetric signature by
//! one of the provider's keys, fetched again once when the key is unknown: providers rotate
//! them) and signs the user in. Users are keyed on (issuer, subject), never on e-mail.

mod access;
mod claims;
mod config;
mod http;
mod users;

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadataWithLogout, RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse,
    SubjectIdentifier, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;
use vitrine_core::ErrorCode;
use vitrine_storage::{OidcLoginRecord, now_ms};

pub use config::{
    AuthConfig, AuthProvider, OidcProviderConfig, OidcSignedIn, OidcStart, Provisioning,
};

use super::Identity;
use crate::caller::RequestMeta;
use crate::secrets::token_hash;
use crate::{ApiError, ApiResult};

/// How long a started sign-in may take at the provider.
const SIGN_IN_TTL: Duration = Duration::from_secs(600);
/// The most sign-ins in progress at once: starting one is open to anyone, so the rows it
/// keeps are bounded.
const MAX_PENDING: i64 = 10_000;
/// Provider metadata and keys are fetched again after this long.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// The ID token signatures accepted: asymmetric only. `none` is never accepted, and a
/// symmetric algorithm would let anyone who knows a public key (or the client secret)
/// forge a token.
const SIGNING_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Claims beyond the standard ones, kept as JSON: groups and mapped attributes are read
/// from here by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct OtherClaims {
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}
impl AdditionalClaims for OtherClaims {}

type IdFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<IdFields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What discovery found, kept for [`METADATA_TTL`].
struct Discovered {
    client: OidcClient,
    /// The signing keys, also for API access tokens (checked for another audience).
    keys: openidconnect::core::CoreJsonWebKeySet,
    issuer: String,
    end_session: Option<String>,
    at: Instant,
}

struct Provider {
    config: OidcProviderConfig,
    http: http::ProviderHttp,
    discovered: Mutex<Option<Arc<Discovered>>>,
}

/// The configured providers and the local-account switch.
pub(crate) struct Providers {
    list: Vec<Provider>,
    local_accounts: bool,
    break_glass_admin: Option<String>,
}

/// A refusal of the provider's answer: audited, and told to the browser as it is.
fn refused(why: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::SignInRefused, why.into())
}

fn unavailable(provider: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::Unavailable,
        format!("the identity provider `{provider}` cannot be reached: {e}"),
    )
}

/// A path of this server to come back to; anything else (another site, `//host`) is
/// replaced by the start page, so the sign-in cannot be made to redirect elsewhere.
fn local_path(raw: Option<&str>) -> String {
    match raw {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => "/".into(),
    }
}

impl Providers {
    pub(crate) fn new(config: AuthConfig) -> ApiResult<Providers> {
        let mut list: Vec<Provider> = Vec::new();
        for p in config.providers {
            let ok_name = !p.name.is_empty()
                && p.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok_name || list.iter().any(|q| q.config.name == p.name) {
                return Err(ApiError::invalid(format!(
                    "identity provider name `{}` must be unique and made of letters, digits, - and _",
                    p.name
                )));
            }
            IssuerUrl::new(p.issuer.clone()).map_err(|e| {
                ApiError::invalid(format!("provider `{}`: bad issuer URL: {e}", p.name))
            })?;
            list.push(Provider {
                http: http::ProviderHttp::new(p.timeout),
                config: p,
                discovered: Mutex::new(None),
            });
        }
        Ok(Providers {
            list,
            local_accounts: config.local_accounts,
            break_glass_admin: config.break_glass_admin.map(|u| u.trim().to_lowercase()),
        })
    }

    /// Whether `username` may sign in with a local password.
    pub(crate) fn allows_local(&self, username: &str) -> bool {
        self.local_accounts || self.break_glass_admin.as_deref() == Some(username)
    }

    fn get(&self, name: &str) -> ApiResult<&Provider> {
        self.list
            .iter()
            .find(|p| p.config.name == name)
            .ok_or_else(|| ApiError::not_found("identity provider"))
    }
}

impl Provider {
    /// Runs `check` against the keys on hand and, when the token names a key they lack,
    /// once more against freshly fetched ones (providers rotate their keys). Answers the
    /// outcome and the metadata it was checked against.
    async fn with_current_keys<T>(
        &self,
        d: Arc<Discovered>,
        check: impl Fn(&Discovered) -> Result<T, openidconnect::ClaimsVerificationError>,
    ) -> ApiResult<(
        Result<T, openidconnect::ClaimsVerificationError>,
        Arc<Discovered>,
    )> {
        match check(&d) {
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey,
            )) => {
                let fresh = self.discovered(true).await?;
                Ok((check(&fresh), fresh))
            }
            other => Ok((other, d)),
        }
    }

    /// Where the provider sends the browser back: registered with the provider as
    /// `PUBLIC_URL/auth/oidc/NAME/callback`.
    fn redirect_uri(&self, public_url: &str) -> ApiResult<RedirectUrl> {
        let url = format!(
            "{}/auth/oidc/{}/callback",
            public_url.trim_end_matches('/'),
            self.config.name
        );
        RedirectUrl::new(url).map_err(|e| ApiError::invalid(format!("bad public URL: {e}")))
    }

    /// The provider's metadata and keys; fetched again when `stale_keys` says a token
    /// named a key they lack (at most every `key_refetch_interval`).
    async fn discovered(&self, stale_keys: bool) -> ApiResult<Arc<Discovered>> {
        let mut slot = self.discovered.lock().await;
        if let Some(d) = slot.as_ref() {
            let age = d.at.elapsed();
            if age < METADATA_TTL && !(stale_keys && age >= self.config.key_refetch_interval) {
                return Ok(d.clone());
            }
        }
        let name = &self.config.name;
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| ApiError::invalid(format!("bad issuer URL: {e}")))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| unavailable(name, error_chain(&e)))?;
        let end_session = metadata
            .additional_metadata()
            .end_session_endpoint
            .as_ref()
            .map(|u| u.to_string());
        // As the provider spells it: the `iss` of its tokens, and the key of its users.
        let issuer = metadata.issuer().to_string();
        let keys = metadata.jwks().clone();
        let client = OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        );
        let d = Arc::new(Discovered {
            client,
            keys,
            issuer,
            end_session,
            at: Instant::now(),
        });
        *slot = Some(d.clone());
        Ok(d)
    }
}

/// An error and its causes, for messages that say what went wrong at the provider.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// What a verified sign-in says of the user, and the provider's keys and metadata it
/// was checked against.
struct Verified {
    profile: claims::Profile,
    id_token: String,
    discovered: Arc<Discovered>,
}

/// The provider's RP-initiated logout URL for this sign-in, when it has one.
fn provider_logout_url(p: &Provider, v: &Verified, public_url: &str) -> Option<String> {
    let mut url = openidconnect::url::Url::parse(v.discovered.end_session.as_deref()?).ok()?;
    url.query_pairs_mut()
        .append_pair("id_token_hint", &v.id_token)
        .append_pair("client_id", &p.config.client_id)
        .append_pair(
            "post_logout_redirect_uri",
            &format!("{}/", public_url.trim_end_matches('/')),
        );
    Some(url.to_string())
}

impl Identity {
    /// The providers the sign-in page offers.
    pub fn auth_providers(&self) -> Vec<AuthProvider> {
        self.oidc
            .list
            .iter()
            .map(|p| AuthProvider {
                name: p.config.name.clone(),
                label: p.config.label.clone(),
                start_path: format!("/auth/oidc/{}/start", p.config.name),
            })
            .collect()
    }

    /// The issuer of provider `name` as its tokens spell it (its users are keyed on it).
    pub(crate) async fn provider_issuer(&self, name: &str) -> ApiResult<String> {
        Ok(self.oidc.get(name)?.discovered(false).await?.issuer.clone())
    }

    /// Whether local accounts sign in with passwords here.
    pub fn local_accounts(&self) -> bool {
        self.oidc.local_accounts
    }

    /// Starts a sign-in at `provider`; the browser comes back to `return_to` (a path of
    /// this server, reached at `public_url`) once signed in.
    pub async fn oidc_start(
        &self,
        provider: &str,
        public_url: &str,
        return_to: Option<&str>,
    ) -> ApiResult<OidcStart> {
        let p = self.oidc.get(provider)?;
        let redirect = p.redirect_uri(public_url)?;
        if self.store.oidc_logins_pending().await? >= MAX_PENDING {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                "too many sign-ins are in progress; try again in a few minutes",
            ));
        }
        let d = p.discovered(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = d.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in p.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = request
            .set_pkce_challenge(challenge)
            .set_redirect_uri(std::borrow::Cow::Owned(redirect))
            .url();
        self.store
            .insert_oidc_login(&OidcLoginRecord {
                state_hash: token_hash(state.secret()),
                provider: provider.to_owned(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                return_to: local_path(return_to),
                expires_ms: now_ms() + SIGN_IN_TTL.as_millis() as i64,
            })
            .await?;
        Ok(OidcStart {
            redirect_url: url.to_string(),
            state: state.secret().clone(),
        })
    }

    /// Finishes a sign-in: `code` and `state` as the provider sent them back. Every
    /// refusal is audited with its reason and creates nothing.
    pub async fn oidc_finish(
        &self,
        provider: &str,
        public_url: &str,
        code: &str,
        state: &str,
        meta: &RequestMeta,
    ) -> ApiResult<OidcSignedIn> {
        let p = self.oidc.get(provider)?;
        let attempted = format!("oidc:{provider}");
        let outcome = async {
            let (verified, return_to) = self.verify_sign_in(p, public_url, code, state).await?;
            let user = self.oidc_user(p, &verified).await?;
            Ok::<_, ApiError>((verified, return_to, user))
        };
        let (verified, return_to, user) = match outcome.await {
            Ok(v) => v,
            Err(e) => {
                self.audit
                    .login_refused(&attempted, "refused", &e.message, meta)
                    .await?;
                return Err(e);
            }
        };
        if user.disabled {
            self.audit
                .login(Some(&user), &attempted, "disabled", meta)
                .await?;
            return Err(ApiError::new(
                ErrorCode::AccountDisabled,
                "this account is disabled",
            ));
        }
        let logout_url = provider_logout_url(p, &verified, public_url);
        let login = self.open_session(user, logout_url).await?;
        self.audit
            .login(Some(&login.user), &attempted, "ok", meta)
            .await?;
        Ok(OidcSignedIn { login, return_to })
    }

    async fn verify_sign_in(
        &self,
        p: &Provider,
        public_url: &str,
        code: &str,
        state: &str,
    ) -> ApiResult<(Verified, String)> {
        let login = self
            .store
            .take_oidc_login(&token_hash(state), &p.config.name)
            .await?
            .ok_or_else(|| {
                refused("this sign-in is unknown, already used or expired; start it again")
            })?;
        let d = p.discovered(false).await?;
        let token = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| unavailable(&p.config.name, e))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier))
            .set_redirect_uri(std::borrow::Cow::Owned(p.redirect_uri(public_url)?))
            .request_async(&p.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => refused(format!(
                    "the provider refused the code: {}",
                    r.error_description()
                        .cloned()
                        .unwrap_or_else(|| r.error().to_string())
                )),
                openidconnect::RequestTokenError::Request(e) => {
                    unavailable(&p.config.name, error_chain(&e))
                }
                other => refused(format!(
                    "the provider's token answer is unreadable: {other}"
                )),
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| refused("the provider sent no ID token"))?;
        let nonce = Nonce::new(login.nonce);
        let check =
            |d: &Discovered| -> Result<claims::Profile, openidconnect::ClaimsVerificationError> {
                let verifier = d.client.id_token_verifier().set_allowed_algs(SIGNING_ALGS);
                let c = id_token.claims(&verifier, &nonce)?;
                if let Some(expected) = c.access_token_hash() {
                    let alg = id_token.signing_alg().map_err(|e| {
                        openidconnect::ClaimsVerificationError::Other(e.to_string())
                    })?;
                    let key = id_token.signing_key(&verifier).map_err(|e| {
                        openidconnect::ClaimsVerificationError::Other(e.to_string())
                    })?;
                    let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                        .map_err(|e| {
                            openidconnect::ClaimsVerificationError::Other(e.to_string())
                        })?;
                    if actual != *expected {
                        return Err(openidconnect::ClaimsVerificationError::Other(
                            "the access token does not match the ID token's at_hash".into(),
                        ));
                    }
                }
                Ok(claims::profile(
                    &p.config,
                    claims::StandardClaims {
                        subject: c.subject().as_str(),
                        preferred_username: c.preferred_username().map(|u| u.as_str()),
                        name: c.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
                        email: c.email().map(|e| e.as_str()),
                        email_verified: c.email_verified(),
                    },
                    &c.additional_claims().rest,
                ))
            };
        let (checked, discovered) = p.with_current_keys(d, check).await?;
        let mut profile =
            checked.map_err(|e| refused(format!("the ID token is not valid: {e}")))?;
        if p.config.userinfo {
            self.merge_userinfo(p, &discovered, &token, &mut profile)
                .await?;
        }
        let verified = Verified {
            profile,
            id_token: id_token.to_string(),
            discovered,
        };
        Ok((verified, login.return_to))
    }

    /// Reads the userinfo endpoint; its claims win over the ID token's, for the same
    /// subject only.
    async fn merge_userinfo(
        &self,
        p: &Provider,
        d: &Discovered,
        token: &StandardTokenResponse<IdFields, CoreTokenType>,
        profile: &mut claims::Profile,
    ) -> ApiResult<()> {
        let subject = SubjectIdentifier::new(profile.subject.clone());
        let info: openidconnect::UserInfoClaims<OtherClaims, CoreGenderClaim> = d
            .client
            .user_info(token.access_token().clone(), Some(subject))
            .map_err(|e| refused(format!("the provider has no userinfo endpoint: {e}")))?
            .request_async(&p.http)
            .await
            .map_err(|e| refused(format!("userinfo refused: {}", error_chain(&e))))?;
        let merged = claims::profile(
            &p.config,
            claims::StandardClaims {
                subject: &profile.subject,
                preferred_username: info
                    .preferred_username()
                    .map(|u| u.as_str())
                    .or(Some(profile.username.as_str())),
                name: info
                    .name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.as_str())
                    .or(Some(profile.display_name.as_str())),
                email: info
                    .email()
                    .map(|e| e.as_str())
                    .or(profile.email.as_deref()),
                email_verified: info.email_verified().or(Some(profile.email_verified)),
            },
            &info.additional_claims().rest,
        );
        profile.username = merged.username;
        profile.display_name = merged.display_name;
        profile.email = merged.email;
        profile.email_verified = merged.email_verified;
        if merged.groups.as_ref().is_some_and(|g| !g.is_empty()) {
            profile.groups = merged.groups;
        }
        profile.attributes.extend(merged.attributes);
        Ok(())
    }
}
