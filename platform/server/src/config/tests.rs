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
    assert_eq!(c.queue.shutdown_grace_secs, d.queue.shutdown_grace_secs);
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

/// Variables read outside [`Config::load`]: by the command line (`VITRINE_CONFIG`, the
/// log) and when the services open (`VITRINE_SECRET_KEY`).
const PROCESS_VARIABLES: &[&str] = &[
    "VITRINE_CONFIG",
    "VITRINE_LOG",
    "VITRINE_LOG_FORMAT",
    "VITRINE_SECRET_KEY",
    "VITRINE_SECRET_KEY_PREVIOUS",
];

/// Every `VITRINE_…` variable the configuration reads, asked of the code itself.
fn variables_read() -> std::collections::BTreeSet<String> {
    let seen = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let record = |k: &str| {
        seen.borrow_mut().insert(k.to_owned());
        None
    };
    let mut c = Config::default();
    c.apply_env(record).unwrap();
    // The password and the S3 keys are read only where they are needed.
    c.storage.database_url = Some("ws://db:8000".into());
    let _ = c.database(record);
    c.artifacts.kind = "s3".into();
    c.artifacts.bucket = Some("b".into());
    let _ = c.artifacts(record);
    let mut all = seen.into_inner();
    all.extend(PROCESS_VARIABLES.iter().map(|v| v.to_string()));
    all
}

fn variables_in(text: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    for (i, _) in text.match_indices("VITRINE_") {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        // `VITRINE_S3_…` in prose names a family, not a variable.
        if !name.ends_with('_') {
            found.insert(name);
        }
    }
    found
}

fn deploy_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The deploy files pass only variables Vitrine reads, and the reference file documents
/// every variable Vitrine reads: no setting drifts from the reference.
#[test]
fn deploy_files_use_only_documented_settings() {
    let read = variables_read();
    let reference = deploy_file("vitrine.toml");
    let documented = variables_in(&reference);
    let undocumented: Vec<_> = read.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "read but not in deploy/vitrine.toml: {undocumented:?}"
    );
    for file in [
        "compose.yaml",
        "cluster.env.example",
        "kubernetes/vitrine.yaml",
        "Containerfile",
        "vitrine.service",
        "vitrine-worker.service",
    ] {
        let used = variables_in(&deploy_file(file));
        let unknown: Vec<_> = used.difference(&read).collect();
        assert!(
            unknown.is_empty(),
            "{file} passes unknown variables: {unknown:?}"
        );
    }
    // A drifted name is caught.
    assert!(!read.contains("VITRINE_DATABASE_PASS"));
}

/// The configuration file inside the Kubernetes manifests is a valid configuration, and
/// each of its settings is in the reference file.
#[test]
fn the_kubernetes_config_file_is_valid_and_documented() {
    let manifests = deploy_file("kubernetes/vitrine.yaml");
    let start = manifests
        .find("vitrine.toml: |")
        .expect("a vitrine.toml in the ConfigMap");
    let embedded: String = manifests[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
        .map(|l| l.strip_prefix("    ").unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let config: Config = toml::from_str(&embedded).expect("the ConfigMap's vitrine.toml parses");
    assert_eq!(config.artifacts.kind, "s3");
    config
        .database(|_| Some("pw".into()))
        .expect("its database settings are valid");
    let reference = deploy_file("vitrine.toml");
    let table: toml::Table = toml::from_str(&embedded).unwrap();
    for (section, keys) in &table {
        let Some(keys) = keys.as_table() else {
            continue;
        };
        let body = reference
            .split(&format!("[{section}]\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("[{section}] is not in the reference"));
        let body = body.split("\n[").next().unwrap();
        for key in keys.keys() {
            let documented = body.lines().any(|l| {
                let l = l.trim_start_matches('#').trim_start();
                l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
            });
            assert!(documented, "[{section}] {key} is not in the reference");
        }
    }
}
