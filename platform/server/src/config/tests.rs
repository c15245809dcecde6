//! The configuration as a whole: the reference file, the queue, the environment.

use super::*;

#[test]
fn reference_file_parses_and_matches_defaults() {
    let text = include_str!("../../../../deploy/vitrine.toml");
    let c: Config = toml::from_str(text).unwrap();
    let d = Config::default();
    assert_eq!(c.server.listen, d.server.listen);
    assert_eq!(c.storage.data_dir, d.storage.data_dir);
    assert_eq!(c.limits.graphql_max_aliases, d.limits.graphql_max_aliases);
    assert_eq!(c.plugins.time_limit_secs, d.plugins.time_limit_secs);
    assert_eq!(c.plugins.memory_mib, d.plugins.memory_mib);
    assert_eq!(c.plugins.concurrent_calls, d.plugins.concurrent_calls);
    assert_eq!(
        c.plugins.compile_timeout_secs,
        d.plugins.compile_timeout_secs
    );
    assert_eq!(c.queue.backend, d.queue.backend);
    assert_eq!(c.auth.local_accounts, d.auth.local_accounts);
    assert!(c.auth.oidc.is_empty());
    assert_eq!(c.queue.concurrency, d.queue.concurrency);
    assert_eq!(c.queue.workers, d.queue.workers);
    assert_eq!(c.queue.heartbeat_secs, d.queue.heartbeat_secs);
    assert_eq!(c.mail.from, d.mail.from);
}

#[test]
fn queue_backends_are_checked() {
    let mut c = Config::default();
    c.queue.backend = "kafka".into();
    assert!(
        c.queue()
            .unwrap_err()
            .to_string()
            .starts_with("queue.backend")
    );
    c.queue.backend = "redis".into();
    assert!(
        c.queue()
            .unwrap_err()
            .to_string()
            .starts_with("queue.redis_url")
    );
    c.queue.redis_url = Some("redis://127.0.0.1:1/0".into());
    assert!(matches!(
        c.queue().unwrap().backend,
        vitrine_api::services::config::Backend::Redis { .. }
    ));
}

#[test]
fn env_overrides_and_errors_name_the_variable() {
    let mut c = Config::default();
    c.apply_env(|k| match k {
        "VITRINE_LISTEN" => Some("127.0.0.1:0".into()),
        "VITRINE_DATA_DIR" => Some("/tmp/x".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.server.listen.port(), 0);
    // Loopback listeners default to plain cookies, anything else to Secure ones.
    assert!(!c.secure_cookies());
    c.server.listen = "0.0.0.0:8080".parse().unwrap();
    assert!(c.secure_cookies());
    c.apply_env(|k| (k == "VITRINE_SECURE_COOKIES").then(|| "false".into()))
        .unwrap();
    assert!(!c.secure_cookies());
    c.apply_env(|k| (k == "VITRINE_TRUSTED_PROXIES").then(|| "10.0.0.0/8, ::1".into()))
        .unwrap();
    assert_eq!(c.trusted_proxies().len(), 2);
    let err = c
        .apply_env(|k| (k == "VITRINE_TRUSTED_PROXIES").then(|| "10.0.0.0/40".into()))
        .unwrap_err();
    assert!(
        err.to_string().starts_with("server.trusted_proxies"),
        "{err}"
    );
    assert!(c.database_url().starts_with("surrealkv:///tmp/x/db"));
    let err = c
        .apply_env(|k| (k == "VITRINE_LISTEN").then(|| "nope".into()))
        .unwrap_err();
    assert!(err.to_string().starts_with("VITRINE_LISTEN"));
    let days = |v: &'static str| {
        let mut c = Config::default();
        c.apply_env(|k| (k == "VITRINE_AUDIT_RETENTION_DAYS").then(|| v.into()))
            .map(|()| c.audit.retention_days)
    };
    assert_eq!(days("30").unwrap(), Some(30));
    for bad in ["0", "-1", "a week"] {
        let err = days(bad).unwrap_err().to_string();
        assert!(err.starts_with("VITRINE_AUDIT_RETENTION_DAYS"), "{err}");
    }
}

#[test]
fn unknown_keys_and_versions_are_refused() {
    assert!(toml::from_str::<Config>("[server]\nlisten_on = \"x\"").is_err());
    let dir = std::env::temp_dir().join(format!("vitrine-cfg-{}", std::process::id()));
    std::fs::write(&dir, "version = 2\n").unwrap();
    assert!(matches!(
        Config::load(Some(&dir)),
        Err(ConfigError::Version { found: 2, .. })
    ));
    let _ = std::fs::remove_file(dir);
}
