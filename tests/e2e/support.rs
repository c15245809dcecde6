//! The harness: starts the real `vitrine` binary on 127.0.0.1 port 0 with a fresh data
//! directory, and talks to it over real HTTP.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const ADMIN_PASSWORD: &str = "correct horse battery";
pub const PASSWORD: &str = "staple paper clip tower";
/// How much of a test server's log is kept for `TestServer::log` (load tests log a lot).
const LOG_KEPT: usize = 16 << 20;

pub struct TestServer {
    child: Child,
    pub url: String,
    pub setup_token: Option<String>,
    /// What the server printed on standard output before it listened.
    pub printed: Vec<String>,
    /// Everything it printed (its log), up to `LOG_KEPT` bytes.
    log: std::sync::Arc<std::sync::Mutex<String>>,
    pub(crate) _tmp: Option<tempfile::TempDir>,
}

/// How a request authenticates.
#[derive(Clone)]
pub enum Auth {
    None,
    Bearer(String),
    /// A browser-like client holding the session cookie, and the CSRF token if it sends one.
    Cookie(reqwest::Client, Option<String>),
}

/// A user with an API token, ready to call the API.
#[derive(Clone)]
pub struct Actor {
    pub id: String,
    pub username: String,
    pub auth: Auth,
}

/// The last 64 KiB a child wrote on standard error, read as it writes, so that a failed
/// start can say why and the pipe never fills and blocks the child.
pub struct Stderr(tokio::task::JoinHandle<std::collections::VecDeque<String>>);

impl Stderr {
    pub fn drain(stderr: tokio::process::ChildStderr) -> Stderr {
        const KEPT: usize = 64 << 10;
        Stderr(tokio::spawn(async move {
            let (mut kept, mut bytes) = (std::collections::VecDeque::new(), 0);
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                bytes += line.len();
                kept.push_back(line);
                while bytes > KEPT {
                    bytes -= kept.pop_front().map_or(0, |l| l.len());
                }
            }
            kept
        }))
    }

    /// Once `child` has closed its output: its exit status and what it wrote here.
    pub async fn after_exit(self, child: &mut Child) -> String {
        let status = child.wait().await.expect("wait");
        // The pipe closes when the child exits; the bound is for a grandchild holding it.
        let kept = tokio::time::timeout(Duration::from_secs(5), self.0)
            .await
            .map(|lines| {
                lines
                    .expect("stderr reader")
                    .into_iter()
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        format!("{status}; on stderr:\n{}", kept.join("\n"))
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(&[]).await
    }

    /// A fresh data directory and extra `serve` arguments (e.g. `--demo`).
    pub async fn start_with(args: &[&str]) -> TestServer {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data");
        let mut s = TestServer::start_in_with(&dir, args).await;
        s._tmp = Some(tmp);
        s
    }

    /// A fresh data directory and extra environment variables.
    pub async fn start_env(envs: &[(&str, &str)]) -> TestServer {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data");
        let mut s = TestServer::start_full(&dir, &[], envs).await;
        s._tmp = Some(tmp);
        s
    }

    pub async fn start_in(dir: &Path) -> TestServer {
        TestServer::start_in_with(dir, &[]).await
    }

    pub async fn start_in_with(dir: &Path, args: &[&str]) -> TestServer {
        TestServer::start_full(dir, args, &[]).await
    }

    /// With extra environment variables (fault injection).
    pub async fn start_full(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> TestServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vitrine"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(args)
            // Retries back off from 200 ms instead of 2 s, so failing projects end fast.
            .env("VITRINE_TASK_RETRY_BASE_MS", "200")
            // Cron tests fire every second or two; the one-minute floor has its own test.
            .env("VITRINE_MIN_TASK_INTERVAL_SECS", "1")
            .env(
                "VITRINE_LOG",
                "info,surrealdb=warn,surrealkv=warn,surrealdb_core=warn",
            )
            // After the defaults, so a test may raise the log level.
            .envs(envs.iter().copied())
            .env("NO_COLOR", "1")
            .env_remove("VITRINE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start vitrine");
        let stderr = Stderr::drain(child.stderr.take().unwrap());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut url = None;
        let mut setup_token = None;
        let mut printed = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while url.is_none() {
            let line = tokio::time::timeout_at(deadline, lines.next_line())
                .await
                .expect("server start timed out")
                .expect("read");
            let Some(line) = line else {
                // Say why: a start that fails in CI is otherwise a bare "exited".
                panic!(
                    "server exited before listening: {}\nit printed:\n{}",
                    stderr.after_exit(&mut child).await,
                    printed.join("\n"),
                );
            };
            if let Some(i) = line.find("#token=") {
                setup_token = Some(line[i + 7..].split_whitespace().next().unwrap().to_owned());
            }
            if let Some(i) = line.find("listening on http://") {
                url = Some(line[i + 13..].trim().to_owned());
            }
            printed.push(line);
        }
        // Keep draining the server's output so its pipe never fills and blocks it.
        // `VITRINE_TEST_LOG=1` shows it, to see why a test failed.
        let show = std::env::var_os("VITRINE_TEST_LOG").is_some();
        let log = std::sync::Arc::new(std::sync::Mutex::new(printed.join("\n")));
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if show {
                    eprintln!("server: {line}");
                }
                let mut kept = kept.lock().unwrap();
                if kept.len() + line.len() < LOG_KEPT {
                    kept.push('\n');
                    kept.push_str(&line);
                }
            }
        });
        TestServer {
            child,
            url: url.unwrap(),
            setup_token,
            printed,
            log,
            _tmp: None,
        }
    }

    /// What the server has logged so far (standard output, up to 16 MiB).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The server's resident memory in bytes, from /proc.
    pub fn rss_bytes(&self) -> u64 {
        let pid = self.child.id().expect("server running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmRSS")
            * 1024
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("server running")
    }

    /// CPU time the server process has used (user + system), from /proc.
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("proc stat");
        // Fields after the command name (which may hold spaces) start at state, field 3;
        // utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
        let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
        let f: Vec<u64> = rest
            .split(' ')
            .skip(11)
            .take(2)
            .map(|v| v.parse().unwrap())
            .collect();
        Duration::from_millis((f[0] + f[1]) * 10)
    }

    /// Whether the server process is still alive (a stack overflow aborts it).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then wait for a clean exit. Returns the exit status's success.
    pub async fn stop(mut self) -> (bool, Option<tempfile::TempDir>) {
        let pid = self.child.id().expect("pid");
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("server did not stop")
            .expect("wait");
        (status.success(), self._tmp.take())
    }

    /// SIGKILL: the process dies wherever it is, as in a crash.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("kill");
        let _ = self.child.wait().await;
    }

    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Runs a GraphQL operation and returns the whole JSON response.
    pub async fn gql(&self, auth: &Auth, query: &str, variables: Value) -> Value {
        let body = json!({ "query": query, "variables": variables });
        self.post_json("/graphql", auth, &body).await.1
    }

    pub async fn post_json(&self, path: &str, auth: &Auth, body: &Value) -> (u16, Value) {
        let (client, req) = match auth {
            Auth::None => {
                let c = reqwest::Client::new();
                let r = c.post(format!("{}{path}", self.url));
                (c, r)
            }
            Auth::Bearer(t) => {
                let c = reqwest::Client::new();
                let r = c.post(format!("{}{path}", self.url)).bearer_auth(t);
                (c, r)
            }
            Auth::Cookie(c, csrf) => {
                let mut r = c.post(format!("{}{path}", self.url));
                if let Some(t) = csrf {
                    r = r.header("x-csrf-token", t);
                }
                (c.clone(), r)
            }
        };
        let _ = client;
        let resp = req.json(body).send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Completes setup and returns the administrator, authenticated with an API token.
    pub async fn admin(&self) -> Actor {
        let token = self
            .setup_token
            .clone()
            .expect("fresh server prints a setup token");
        let r = self
            .gql(
                &Auth::None,
                "mutation($t:String!,$p:String!){completeSetup(token:$t,username:\"admin\",password:$p){id}}",
                json!({"t": token, "p": ADMIN_PASSWORD}),
            )
            .await;
        let id = data(&r)["completeSetup"]["id"].as_str().unwrap().to_owned();
        let auth = self.token_for("admin", ADMIN_PASSWORD).await;
        Actor {
            id,
            username: "admin".into(),
            auth,
        }
    }

    /// Signs in with a browser-like client and returns it with its CSRF token.
    pub async fn login(&self, username: &str, password: &str) -> (u16, Value, reqwest::Client) {
        let client = Self::client();
        let resp = client
            .post(format!("{}/auth/login", self.url))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null), client)
    }

    pub async fn session(&self, username: &str, password: &str) -> Auth {
        let (status, body, client) = self.login(username, password).await;
        assert_eq!(status, 200, "login failed: {body}");
        Auth::Cookie(client, Some(body["csrfToken"].as_str().unwrap().to_owned()))
    }

    /// Signs in and mints a full API token.
    pub async fn token_for(&self, username: &str, password: &str) -> Auth {
        let session = self.session(username, password).await;
        let r = self
            .gql(
                &session,
                "mutation{createApiToken(name:\"test\"){token}}",
                json!({}),
            )
            .await;
        Auth::Bearer(
            data(&r)["createApiToken"]["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }

    /// Admin creates a user; returns it signed in with a token.
    pub async fn user(&self, admin: &Actor, username: &str) -> Actor {
        let r = self
            .gql(
                &admin.auth,
                "mutation($u:String!,$p:String!){createUser(username:$u,password:$p){id}}",
                json!({"u": username, "p": PASSWORD}),
            )
            .await;
        let id = data(&r)["createUser"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("createUser: {r}"))
            .to_owned();
        let auth = self.token_for(username, PASSWORD).await;
        Actor {
            id,
            username: username.into(),
            auth,
        }
    }

    pub async fn folder(&self, actor: &Actor, parent: Option<&str>, name: &str) -> String {
        let r = self
            .gql(
                &actor.auth,
                "mutation($p:ID,$n:String!){createFolder(parentId:$p,name:$n){id}}",
                json!({"p": parent, "n": name}),
            )
            .await;
        data(&r)["createFolder"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("createFolder: {r}"))
            .to_owned()
    }

    pub async fn project(&self, actor: &Actor, folder: &str, name: &str) -> (String, String) {
        let r = self
            .gql(
                &actor.auth,
                "mutation($f:ID!,$n:String!){createProject(folderId:$f,name:$n){id slug}}",
                json!({"f": folder, "n": name}),
            )
            .await;
        let p = &data(&r)["createProject"];
        (
            p["id"]
                .as_str()
                .unwrap_or_else(|| panic!("createProject: {r}"))
                .to_owned(),
            p["slug"].as_str().unwrap().to_owned(),
        )
    }

    /// A service account `username` made by `admin`, which must succeed; answers its id.
    pub async fn service_account(&self, admin: &Actor, username: &str) -> String {
        let m = "mutation($u:String!){createServiceAccount(username:$u){id}}";
        let r = self.gql(&admin.auth, m, json!({ "u": username })).await;
        data(&r)["createServiceAccount"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("createServiceAccount: {r}"))
            .to_owned()
    }

    pub async fn grant(&self, actor: &Actor, subject: &str, object: &str, role: &str) -> Value {
        self.gql(
            &actor.auth,
            "mutation($s:String!,$o:String!,$r:Role!){grantRole(subject:$s,object:$o,role:$r)}",
            json!({"s": subject, "o": object, "r": role}),
        )
        .await
    }
}

/// The `data` of a response that must have no errors.
pub fn data(r: &Value) -> &Value {
    assert!(
        r.get("errors").is_none_or(|e| e.is_null()),
        "unexpected errors: {r}"
    );
    &r["data"]
}

/// The code of the first error of a response that must have failed.
pub fn code(r: &Value) -> String {
    r["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code: {r}"))
        .to_owned()
}

pub fn message(r: &Value) -> String {
    r["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Runs a command that must succeed.
pub fn run_checked(cmd: &mut std::process::Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Installs a Debian package the first time `binary` is missing, so `cargo test` needs
/// nothing installed by hand. One install at a time (dpkg takes a lock).
pub fn ensure_debian_package(binary: &str, package: &str) {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if Path::new(binary).exists() {
        return;
    }
    // As root apt-get runs directly; otherwise through passwordless sudo, if any.
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut c = if root {
            std::process::Command::new("apt-get")
        } else {
            let mut s = std::process::Command::new("sudo");
            s.args(["-n", "--preserve-env=DEBIAN_FRONTEND", "apt-get"]);
            s
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run_checked(&mut apt(&["update", "-q"]), "apt-get update");
    run_checked(
        &mut apt(&["install", "-y", "-q", package]),
        &format!("apt-get install {package} (run the tests as root, or install it)"),
    );
}

/// A GraphQL subscription over `/graphql/ws` (graphql-transport-ws), authenticated with
/// an API token in the connection-init payload: the socket, with `subscribe` sent as
/// operation "1". Read `next`/`complete` messages from it.
pub async fn subscribe(
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{}/graphql/ws", url.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let init =
        json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}});
    ws.send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    let sub = json!({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}});
    ws.send(Message::Text(sub.to_string().into()))
        .await
        .unwrap();
    ws
}
