//! Real servers the tests start on 127.0.0.1 and stop when dropped: Redis (Debian's
//! `redis-server`), an S3-compatible store (moto, from PyPI) and SurrealDB (the
//! `tests/surreal-server` wrapper of the published server library, built on first use)
//! and PostgreSQL (Debian's `postgresql`).
//! Each is installed or built when missing, so a fresh machine needs nothing by hand.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::support::ensure_debian_package;

/// A port nobody listens on now (the server binds it a moment later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port`.
pub async fn wait_port(port: u16, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `redis-server` with no persistence.
pub struct Redis {
    _child: Child,
    pub port: u16,
    pub url: String,
}

pub async fn start_redis() -> Redis {
    ensure_debian_package("/usr/bin/redis-server", "redis-server");
    let port = free_port();
    let child = Command::new("/usr/bin/redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start redis-server");
    wait_port(port, "redis-server").await;
    Redis {
        _child: child,
        port,
        url: format!("redis://127.0.0.1:{port}/0"),
    }
}

/// A real S3-compatible server (moto); buckets must be created first.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Moto {
    /// Creates `bucket`.
    pub async fn bucket(&self, bucket: &str) {
        let r = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    /// The keys under `prefix` in `bucket` (the first thousand).
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let body = reqwest::get(format!("{}/{bucket}?list-type=2&prefix={prefix}", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.split("<Key>")
            .skip(1)
            .filter_map(|p| p.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }
}

pub async fn start_moto() -> Moto {
    let has = std::process::Command::new("python3")
        .args(["-c", "import moto.server"])
        .status();
    if !has.is_ok_and(|s| s.success()) {
        let ok = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "moto[server]"])
            .status()
            .expect("pip");
        assert!(ok.success(), "pip install moto[server] failed");
    }
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start moto");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..400 {
        if reqwest::get(&url).await.is_ok() {
            return Moto { child, url };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto did not start on {url}");
}

/// The root user every test SurrealDB server starts with.
pub const SURREAL_ROOT_PASSWORD: &str = "root-password-for-tests";

/// A SurrealDB server process.
pub struct Surreal {
    child: Child,
    pub port: u16,
    pub url: String,
    /// Where it keeps its data (`None`: in memory).
    store: Option<PathBuf>,
}

impl Surreal {
    /// Runs SurrealQL as root in `ns`/`db` over the HTTP endpoint; answers the results.
    pub async fn sql(&self, ns: &str, db: &str, query: &str) -> serde_json::Value {
        let r = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/sql", self.port))
            .basic_auth("root", Some(SURREAL_ROOT_PASSWORD))
            .header("Accept", "application/json")
            .header("Surreal-NS", ns)
            .header("Surreal-DB", db)
            .body(query.to_owned())
            .send()
            .await
            .expect("surreal /sql");
        let status = r.status();
        let body: serde_json::Value = r.json().await.expect("surreal /sql json");
        assert!(status.is_success(), "surreal /sql {status}: {body}");
        body
    }

    /// SIGKILL, then the same server again on the same port and data.
    pub async fn restart(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.child = spawn_surreal(self.port, self.store.as_deref());
        wait_port(self.port, "surreal").await;
    }
}

/// Builds the server (once; minutes on a fresh machine) and answers its binary.
fn surreal_binary() -> PathBuf {
    static BUILT: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(b) = &*built {
        return b.clone();
    }
    // The e2e binary belongs to platform/cli; the repository is two levels up.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d).join("surreal-server"),
        None => root.join("target").join("surreal-server"),
    };
    let mut build =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // `cargo test` gives this process its package's variables (CARGO_MANIFEST_DIR, …).
    // Build scripts that read one (ring does) would then see the build as changed and
    // rebuild the whole server beside the one `.ci/run` built from a plain shell.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if (name.starts_with("CARGO_") && name != "CARGO_HOME") || name == "OUT_DIR" {
            build.env_remove(&*name);
        }
    }
    let out = build
        .args(["build", "--manifest-path"])
        .arg(root.join("tests/surreal-server/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_INCREMENTAL", "0")
        .env_remove("RUSTFLAGS")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("cargo");
    assert!(
        out.status.success(),
        "building tests/surreal-server failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let binary = target.join("debug/surreal");
    *built = Some(binary.clone());
    binary
}

fn spawn_surreal(port: u16, store: Option<&Path>) -> Child {
    let path = match store {
        Some(dir) => format!("surrealkv://{}", dir.display()),
        None => "memory".into(),
    };
    Command::new(surreal_binary())
        .args(["start", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--user", "root", "--pass", SURREAL_ROOT_PASSWORD])
        .arg("--no-banner")
        .arg(path)
        .env("SURREAL_ONLINE_VERSION_CHECK", "false")
        .env("SURREAL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start surreal")
}

/// A SurrealDB server with a root user, keeping its data in `store` (`None`: memory).
pub async fn start_surreal(store: Option<&Path>) -> Surreal {
    let port = free_port();
    let child = spawn_surreal(port, store);
    wait_port(port, "surreal").await;
    Surreal {
        child,
        port,
        url: format!("ws://127.0.0.1:{port}"),
        store: store.map(Path::to_owned),
    }
}

/// A PostgreSQL server (Debian's `postgresql`) in a temporary directory, run as the
/// `postgres` user when the tests run as root (initdb refuses root). Password sign-in
/// over TCP (scram-sha-256) for the superuser `admin`, so wrong passwords are refused as
/// in production; fsync off.
pub struct Postgres {
    dir: tempfile::TempDir,
    /// The server's programs (`psql`, `pg_ctl`, …).
    pub bin: PathBuf,
    owner: Option<(u32, u32)>,
    pub port: u16,
    pub admin_password: String,
}

impl Postgres {
    /// A client signed in as the superuser `admin` to `database`.
    pub async fn admin(&self, database: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("admin")
            .password(&self.admin_password)
            .dbname(database)
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect as admin");
        tokio::spawn(connection);
        client
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut stop = std::process::Command::new(self.bin.join("pg_ctl"));
        stop.args(["-D"])
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = self.owner {
            use std::os::unix::process::CommandExt;
            stop.uid(uid).gid(gid);
        }
        let _ = stop.status();
    }
}

/// The directory of `initdb`, `pg_ctl` and `postgres`, installing the package if needed.
fn postgres_bin() -> PathBuf {
    let find = || {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .collect();
        dirs.sort();
        dirs.pop()
    };
    if let Some(bin) = find() {
        return bin;
    }
    ensure_debian_package("/usr/lib/postgresql", "postgresql");
    find().expect("postgresql installed but no initdb under /usr/lib/postgresql")
}

/// The `postgres` user's ids when this process is root; `None` otherwise.
fn postgres_owner() -> Option<(u32, u32)> {
    let id = |flag: &str, user: Option<&str>| {
        let out = std::process::Command::new("id")
            .arg(flag)
            .args(user)
            .output()
            .expect("id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .expect("numeric id")
    };
    (id("-u", None) == 0).then(|| (id("-u", Some("postgres")), id("-g", Some("postgres"))))
}

pub async fn start_postgres() -> Postgres {
    let bin = postgres_bin();
    let owner = postgres_owner();
    let dir = tempfile::tempdir().unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let admin_password = format!("pg-{}-{nanos:x}", std::process::id());
    std::fs::write(dir.path().join("pw"), &admin_password).unwrap();
    let as_owner = |c: &mut std::process::Command| {
        if let Some((uid, gid)) = owner {
            use std::os::unix::process::CommandExt;
            c.uid(uid).gid(gid);
        }
    };
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        std::os::unix::fs::chown(dir.path().join("pw"), Some(uid), Some(gid)).unwrap();
    }
    let data = dir.path().join("data");
    let mut init = std::process::Command::new(bin.join("initdb"));
    init.arg("-D")
        .arg(&data)
        .args(["-U", "admin", "-E", "UTF8", "--no-locale"])
        .args(["--auth-host=scram-sha-256", "--auth-local=trust"])
        .arg(format!("--pwfile={}", dir.path().join("pw").display()));
    as_owner(&mut init);
    crate::support::run_checked(&mut init, "initdb");
    let port = free_port();
    let mut start = std::process::Command::new(bin.join("pg_ctl"));
    start
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.path().join("log"))
        .arg("-o")
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            dir.path().display()
        ))
        .args(["-w", "start"]);
    as_owner(&mut start);
    crate::support::run_checked(&mut start, "pg_ctl start");
    wait_port(port, "postgres").await;
    Postgres {
        dir,
        bin,
        owner,
        port,
        admin_password,
    }
}
