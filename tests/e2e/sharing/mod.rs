//! Sharing through the real server: share links of every kind, their rights and states,
//! recipients with their own passwords, access warnings, the ledger and QR codes. The
//! world is the data engine's (orders with a region access filter) plus a manager, Mona,
//! whose region is West: what her outsider links show is what West may see.

mod kinds;
mod one_path;
mod pinned;
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
    let w = data_world().await;
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

/// One view of a tab: the tiles' JSON.
pub async fn tiles(v: &Visitor, id: &str, tab: &str) -> Reply {
    v.get(&format!("{}/api/tiles?tab={tab}", page_of(id))).await
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
