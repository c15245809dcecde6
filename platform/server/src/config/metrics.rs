//! `[metrics]`: where `/metrics` (Prometheus text) is served. Off unless configured:
//! with `token`, on the public listener for requests that carry it as a bearer token;
//! with `listen`, on an address of its own (keep it private) with no token.

use std::net::SocketAddr;

use serde::Deserialize;

use super::ConfigError;

/// Shorter tokens could be guessed over the network.
pub const MIN_TOKEN_CHARS: usize = 24;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// A bearer token that opens `/metrics` on the public listener (at least 24
    /// characters). Unset: `/metrics` is not served there.
    pub token: Option<String>,
    /// An address serving `/metrics` alone, without a token (a private interface or a
    /// port the firewall keeps inside).
    pub listen: Option<SocketAddr>,
}

impl MetricsSection {
    /// `VITRINE_METRICS_TOKEN`, `VITRINE_METRICS_LISTEN`.
    pub(super) fn apply_env(
        &mut self,
        var: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(v) = var("VITRINE_METRICS_TOKEN") {
            self.token = Some(v);
        }
        if let Some(v) = var("VITRINE_METRICS_LISTEN") {
            self.listen = Some(v.parse().map_err(|e| ConfigError::Env {
                var: "VITRINE_METRICS_LISTEN",
                message: format!("`{v}` is not HOST:PORT ({e})"),
            })?);
        }
        Ok(())
    }

    /// A token too short to keep guessing out is refused at start.
    pub fn check(&self) -> Result<(), String> {
        match &self.token {
            Some(t) if t.chars().count() < MIN_TOKEN_CHARS => {
                Err(format!("must be at least {MIN_TOKEN_CHARS} characters"))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_sets_metrics_and_short_tokens_are_refused() {
        let mut m = MetricsSection::default();
        let env = |k: &str| match k {
            "VITRINE_METRICS_TOKEN" => Some("t".repeat(MIN_TOKEN_CHARS)),
            "VITRINE_METRICS_LISTEN" => Some("127.0.0.1:9100".into()),
            _ => None,
        };
        m.apply_env(&env).unwrap();
        assert_eq!(m.listen, Some("127.0.0.1:9100".parse().unwrap()));
        assert!(m.check().is_ok());
        m.token = Some("t".repeat(MIN_TOKEN_CHARS - 1));
        assert!(m.check().unwrap_err().contains("24"));
        let bad = |k: &str| (k == "VITRINE_METRICS_LISTEN").then(|| "nowhere".to_owned());
        let err = MetricsSection::default().apply_env(&bad).unwrap_err();
        assert!(
            err.to_string().starts_with("VITRINE_METRICS_LISTEN"),
            "{err}"
        );
        let reference: crate::config::Config =
            toml::from_str(include_str!("../../../../deploy/vitrine.toml")).unwrap();
        assert!(reference.metrics.token.is_none() && reference.metrics.listen.is_none());
    }
}
