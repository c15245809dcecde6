//! Sharing through the real server: share links of every kind, their rights and states,
//! recipients with their own passwords, access warnings, the ledger and QR codes. The
//! world is the data engine's (orders with a region access filter) plus a manager, Mona,
//! whose region is West: what her outsider links show is what West may see.

mod audience;
mod deliveries;
mod invitations;
mod kinds;
mod notes;
mod one_path;
mod pinned;
mod projects;
mod public;
mod recipients;
mod warnings;

use serde_json::{Value, json};

use crate::data::*;
use crate::support::*;

pub struct ShareWorld {
    pub w: DataWorld,
    pub mona: Actor,
    pub report: String,
}

pub async fn share_world() -> ShareWorld {
    share_world_env(&[]).await
}

/// [`share_world`] on a server started with extra environment variables.
pub async fn share_world_env(envs: &[(&str, &str)]) -> ShareWorld {
    let w = data_world_env(envs).await;
    let s = &w.s;
    data(
        &s.gql(
            &w.editor.auth,
            SAVE,
            json!({"p": w.project, "w": pipeline(0.0), "v": 0}),
        )
        .await,
    );
    let run = s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await;
    assert_eq!(data(&run)["runWorkflow"]["status"], "succeeded");
    let mut def = report_definition();
    def["tabs"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "detail", "title": "Detail", "tiles": [
            {"id": "by_segment", "title": "Sales by segment", "kind": "pie",
             "query": {"dataset": "orders", "dimensions": ["segment"], "measures": [{"column": "sales", "function": "sum", "name": "sales"}]}}
        ]}));
    let report = data(
        &s.gql(&w.editor.auth, REPORT, json!({"p": w.project, "d": def}))
            .await,
    )["createReport"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($p:ID!){setAccessFilter(projectId:$p,dataset:\"orders\",rules:[{column:\"region\",attribute:\"region\"}]){dataset}}",
            json!({"p": w.project}),
        )
        .await,
    );
    let mona = s.user(&w.admin, "mona").await;
    data(
        &s.grant(
            &w.admin,
            &format!("user:{}", mona.id),
            &format!("project:{}", w.project),
            "MANAGER",
        )
        .await,
    );
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($u:ID!){setUserAttributes(id:$u,attributes:[{key:\"region\",values:[\"West\"]}]){id}}",
            json!({"u": mona.id}),
        )
        .await,
    );
    ShareWorld { w, mona, report }
}

pub const CREATE: &str = "mutation($i:CreateShareLinkInput!){createShareLink(input:$i){url qrSvg link{id kind state url rights{download edit syncEdits drill}} invitations{url recipient{id email role rights{download edit}}}}}";

pub const LINK: &str = "query($id:ID!){shareLink(id:$id){id state accessCount lastAccessAt failedPasswords lockedAt exposedDatasets accessWarnings{kind message} recipients{id email passwordSet revokedAt deliveriesOnRevoke accessCount lastAccessAt}}}";

impl ShareWorld {
    pub fn s(&self) -> &TestServer {
        &self.w.s
    }

    /// Creates a link as `who` and returns the whole answer.
    pub async fn create(&self, who: &Actor, input: Value) -> Value {
        let mut input = input;
        input["projectId"] = json!(self.w.project);
        self.s().gql(&who.auth, CREATE, json!({"i": input})).await
    }

    /// A link Mona creates, which must succeed: (link id, url).
    pub async fn link(&self, input: Value) -> (String, String, Value) {
        let r = self.create(&self.mona, input).await;
        let c = data(&r)["createShareLink"].clone();
        (
            c["link"]["id"].as_str().unwrap().to_owned(),
            c["url"].as_str().unwrap().to_owned(),
            c,
        )
    }

    pub async fn link_state(&self, id: &str) -> Value {
        let r = self.s().gql(&self.mona.auth, LINK, json!({"id": id})).await;
        data(&r)["shareLink"].clone()
    }

    pub async fn op(&self, op: &str, id: &str) -> Value {
        self.s()
            .gql(
                &self.mona.auth,
                &format!("mutation($id:ID!){{{op}(id:$id){{id state}}}}"),
                json!({"id": id}),
            )
            .await
    }
}

/// A browser-like visitor: keeps cookies, never follows redirects.
pub struct Visitor {
    pub http: reqwest::Client,
    pub base: String,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

impl Visitor {
    pub fn new(s: &TestServer) -> Visitor {
        Visitor {
            http: TestServer::client(),
            base: s.url.clone(),
        }
    }

    /// The same visitor (its cookies) at another server, e.g. another node of a cluster.
    pub fn at(&self, s: &TestServer) -> Visitor {
        Visitor {
            http: self.http.clone(),
            base: s.url.clone(),
        }
    }

    fn abs(&self, url: &str) -> String {
        if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        }
    }

    pub async fn get(&self, url: &str) -> Reply {
        reply(self.http.get(self.abs(url)).send().await.unwrap()).await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Value,
        guard: bool,
    ) -> Reply {
        let mut req = self.http.request(method, self.abs(url)).json(&body);
        if guard {
            req = req.header("x-vitrine-share", "1");
        }
        reply(req.send().await.unwrap()).await
    }

    pub async fn post(&self, url: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, url, body, true).await
    }

    /// Opens a token URL: must redirect to the link's page without the token.
    pub async fn open(&self, url: &str) -> String {
        let r = self.get(url).await;
        assert_eq!(r.status, 303, "opening {url}: {}", r.text);
        let location = r.header("location");
        let token = url.rsplit('/').next().unwrap();
        assert!(!location.contains(token), "token in redirect: {location}");
        assert_eq!(r.header("referrer-policy"), "no-referrer");
        let cookie = r.header("set-cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert!(!cookie.contains(token));
        location
    }
}

async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Reply {
        status,
        headers,
        text,
    }
}

/// The link page of a link id.
/// The invitation URL a link's creation answered for `email`.
pub fn invitation(created: &Value, email: &str) -> String {
    created["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["recipient"]["email"] == email)
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn page_of(id: &str) -> String {
    format!("/s/v/{id}")
}

/// An answer of a link's viewer API (`POST /s/v/LINK/graphql`).
pub struct LinkAnswer {
    /// "OK", or the first error's code.
    pub status: String,
    /// The field asked for (`linkVisit.FIELD` or the mutation's), null on errors.
    pub data: Value,
    /// The whole response, for assertion messages.
    pub text: String,
}

impl LinkAnswer {
    pub fn json(&self) -> Value {
        self.data.clone()
    }
}

const LINK_REPORT: &str = "query($r:ID){linkVisit{report(reportId:$r){kind reportId reportName \
    projectName definition ownCopy pinnedAt visitor rights{download edit syncEdits drill} \
    reports{id name}}}}";

impl Visitor {
    /// Runs one operation at the link's viewer API, as the viewer page does; `path` picks
    /// the answer out of `data` (e.g. `["linkVisit", "report"]`).
    pub async fn link_gql(&self, id: &str, query: &str, vars: Value, path: &[&str]) -> LinkAnswer {
        let r = self
            .post(
                &format!("{}/graphql", page_of(id)),
                json!({"query": query, "variables": vars}),
            )
            .await;
        let body = r.json();
        let status = match body["errors"][0]["extensions"]["code"].as_str() {
            Some(code) => code.to_owned(),
            None if r.status == 200 => "OK".to_owned(),
            None => format!("HTTP {}", r.status),
        };
        let mut data = body["data"].clone();
        for p in path {
            data = data[*p].clone();
        }
        LinkAnswer {
            status,
            data,
            text: r.text,
        }
    }

    /// The report a link's visitor sees (`reportId` for a project link's other reports).
    pub async fn view(&self, id: &str, report: Option<&str>) -> LinkAnswer {
        self.link_gql(
            id,
            LINK_REPORT,
            json!({ "r": report }),
            &["linkVisit", "report"],
        )
        .await
    }

    /// Opens `email`'s invitation of the `created` link `id` and chooses their first
    /// password (`Orchard#2026`), which must be accepted.
    pub async fn accept_invitation(&self, created: &Value, id: &str, email: &str) {
        self.open(&invitation(created, email)).await;
        let password = json!({"password": "Orchard#2026"});
        let r = self
            .post(&format!("{}/api/password", page_of(id)), password)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    /// Where the visit stands: state, locked, recipientName.
    pub async fn visit(&self, id: &str) -> LinkAnswer {
        self.link_gql(
            id,
            "{linkVisit{state locked recipientName passwordRule}}",
            json!({}),
            &["linkVisit"],
        )
        .await
    }

    /// The rows behind a value of a tile.
    pub async fn drill(&self, id: &str, tile: &str, values: Value) -> LinkAnswer {
        let values: Vec<Value> = values
            .as_array()
            .unwrap()
            .iter()
            .map(|v| json!({"column": v[0], "value": v[1]}))
            .collect();
        self.link_gql(
            id,
            "query($t:String!,$v:[DrillValueInput!]!){linkVisit{drillDown(tileId:$t,values:$v){rows truncated}}}",
            json!({"t": tile, "v": values}),
            &["linkVisit", "drillDown"],
        )
        .await
    }

    /// The choices of a filter control.
    pub async fn filter_values(&self, id: &str, filter: &str) -> LinkAnswer {
        self.link_gql(
            id,
            "query($f:String!){linkVisit{filterValues(filterId:$f)}}",
            json!({ "f": filter }),
            &["linkVisit", "filterValues"],
        )
        .await
    }

    /// A URL to the view `query` describes.
    pub async fn copy_link(&self, id: &str, query: &str) -> LinkAnswer {
        self.link_gql(
            id,
            "mutation($q:String!){copyLinkView(query:$q)}",
            json!({ "q": query }),
            &["copyLinkView"],
        )
        .await
    }

    /// Saves an edit of the report through the link.
    pub async fn save_report(&self, id: &str, definition: Value) -> LinkAnswer {
        self.link_gql(
            id,
            "mutation($d:JSON!){saveLinkReport(definition:$d){definition synced}}",
            json!({ "d": definition }),
            &["saveLinkReport"],
        )
        .await
    }
}

/// One view of a tab, in the shape tests read: `{"tiles": [{id, columns, rows,
/// truncated}]}`. `rows` comes from `rowsJson`, as the viewer page reads it, and must
/// equal the structured `rows`. A tile refused makes its code the answer's status (the
/// raw tiles stay in `data`).
pub async fn tiles(v: &Visitor, id: &str, tab: &str) -> LinkAnswer {
    let mut a = v
        .link_gql(
            id,
            "query($t:String,$f:[FilterValueInput!]){linkVisit{tiles(tabId:$t,filters:$f){\
             tileId result{columns{name type} rows rowsJson truncated} error{code message}}}}",
            json!({ "t": tab }),
            &["linkVisit", "tiles"],
        )
        .await;
    // One refused tile leaves the others drawn; tests read its code as the answer's.
    let refused = a.data.as_array().and_then(|l| {
        l.iter()
            .find_map(|t| t["error"]["code"].as_str().map(str::to_owned))
    });
    if let Some(code) = refused {
        a.status = code;
        return a;
    }
    if a.status == "OK" {
        let list: Vec<Value> = a
            .data
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let r = &t["result"];
                let rows: Value = serde_json::from_str(r["rowsJson"].as_str().unwrap()).unwrap();
                assert_eq!(rows, r["rows"], "rowsJson and rows differ");
                json!({"id": t["tileId"], "columns": r["columns"], "rows": rows,
                    "truncated": r["truncated"]})
            })
            .collect();
        a.data = json!({ "tiles": list });
    }
    a
}

/// Region labels of the `by_region` tile in a tiles answer.
pub fn regions(tiles: &Value) -> Vec<String> {
    tiles["tiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "by_region")
        .unwrap()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect()
}
