//! Access tokens an identity provider issued, presented by API clients as `Authorization:
//! Bearer` instead of a Vitrine API token. Only providers configured with an
//! `api_audience` are asked, and a token is checked as strictly as an ID token — issuer,
//! that audience, expiry, an asymmetric signature by one of the provider's keys — for a
//! user who has signed in through that provider before (a token never creates one).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{ClientId, IdToken, IdTokenVerifier, IssuerUrl, Nonce};
use vitrine_core::ErrorCode;

use super::{Discovered, OtherClaims, SIGNING_ALGS};
use crate::identity::Identity;
use crate::{ApiError, ApiResult, Caller, Credential, RequestMeta};

type AccessJwt = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

fn rejected(why: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::TokenRejected, why.into())
}

/// The `iss` a JWT claims, read before any check only to pick the provider whose keys
/// then check everything.
fn claimed_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_owned)
}

impl Identity {
    /// Whether `token` is a JWT and some provider takes access tokens (Vitrine's own API
    /// tokens hold no dots).
    pub(crate) fn is_provider_token(&self, token: &str) -> bool {
        token.split('.').count() == 3
            && self
                .oidc
                .list
                .iter()
                .any(|p| p.config.api_audience.is_some())
    }

    pub(crate) async fn authenticate_provider_token(
        &self,
        token: &str,
        meta: &RequestMeta,
    ) -> ApiResult<Caller> {
        let jwt: AccessJwt = token
            .parse()
            .map_err(|_| rejected("the bearer token is not a readable JWT"))?;
        let iss = claimed_issuer(token).ok_or_else(|| rejected("the token names no issuer"))?;
        let mut found = None;
        for p in self.oidc.list.iter() {
            let Some(audience) = &p.config.api_audience else {
                continue;
            };
            let d = p.discovered(false).await?;
            if d.issuer == iss {
                found = Some((p, audience, d));
                break;
            }
        }
        let (p, audience, d) =
            found.ok_or_else(|| rejected("no configured provider issues this token"))?;
        let check = |d: &Discovered| -> Result<String, openidconnect::ClaimsVerificationError> {
            let issuer = IssuerUrl::new(d.issuer.clone())
                .map_err(|e| openidconnect::ClaimsVerificationError::Other(e.to_string()))?;
            let verifier = IdTokenVerifier::new_public_client(
                ClientId::new(audience.clone()),
                issuer,
                d.keys.clone(),
            )
            .set_allowed_algs(SIGNING_ALGS)
            .allow_all_jose_types()
            // Access tokens often name other audiences beside this API's.
            .set_other_audience_verifier_fn(|_| true);
            let claims = jwt.claims(&verifier, |_: Option<&Nonce>| Ok(()))?;
            Ok(claims.subject().to_string())
        };
        let (checked, d) = p.with_current_keys(d, check).await?;
        let subject =
            checked.map_err(|e| rejected(format!("the access token is not valid: {e}")))?;
        let user = self
            .store
            .user_by_identity(&d.issuer, &subject)
            .await?
            .ok_or_else(|| {
                rejected("no user here is linked to this token's subject; sign in through the provider once first")
            })?;
        if user.disabled {
            return Err(ApiError::new(
                ErrorCode::AccountDisabled,
                "this account is disabled",
            ));
        }
        let credential = Credential::ProviderToken {
            provider: p.config.name.clone(),
        };
        Ok(Caller::new(user, credential, meta.address.clone()))
    }
}
