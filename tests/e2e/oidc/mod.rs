//! Sign-in through OpenID Connect. [`real`]: a certified provider (npm `oidc-provider`)
//! and headless Chromium through the whole code flow. [`hostile`]: a provider this test
//! controls, answering what an attacker would, each answer refused with a clear error and
//! nothing created. [`accounts`]: disabled users, "OIDC only" with a break-glass
//! administrator, and the shell's password reset. [`api_tokens`]: the provider's access
//! tokens as API credentials. [`instance_trust`]: scheduled sync between two OIDC-only
//! instances under a service account.

mod accounts;
mod api_tokens;
mod hostile;
mod instance_trust;
mod real;

use std::path::Path;

/// The client secret the test providers and Vitrine share (through an environment
/// variable, as a deployment would).
pub const SECRET: &str = "test-client-secret-0123456789abcdef";

/// A config file holding one `[[auth.oidc]]` provider named `test` at `issuer`, plus
/// `extra` lines inside that block.
pub fn config_file(dir: &Path, issuer: &str, auth: &str, extra: &str) -> String {
    let path = dir.join("vitrine.toml");
    std::fs::write(
        &path,
        format!(
            "version = 1\n[auth]\n{auth}\n[[auth.oidc]]\nname = \"test\"\nlabel = \"Sign in with Test\"\n\
             issuer = \"{issuer}\"\nclient_id = \"vitrine\"\nclient_secret_env = \"VITRINE_TEST_OIDC_SECRET\"\n{extra}\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}
