//! Project bundles (issue 6): export, download, import as a new project equal to the
//! original (content, history, data); hostile bundles refused with nothing written;
//! `vitrine bundle`; data files; report files' access rules.

use std::io::{Cursor, Read, Write};

use serde_json::{Value, json};

use crate::copies::{history, published_world, staging};
use crate::data::RUN;
use crate::support::*;

const EXPORT: &str =
    "mutation($p:ID!){exportProjectBundle(projectId:$p){id filename bytes url expiresAt}}";
const IMPORT: &str = "mutation($f:ID!,$file:Upload!,$n:String){importProjectBundle(folderId:$f,file:$file,name:$n){id name}}";
const SNAPSHOT: &str = "query($p:ID!){workflow(projectId:$p){definition parameters{name value}} reports(projectId:$p){name definition} datasets(projectId:$p){name rows bytes contentHash} revisions(projectId:$p,first:100){edges{node{number message authorName}}}}";

/// Downloads an export's `url`, which the API answers absolute (from the server's
/// public URL).
pub async fn download(s: &TestServer, auth: &Auth, url: &str) -> (u16, Vec<u8>) {
    let Auth::Bearer(t) = auth else { panic!() };
    assert!(url.starts_with(&s.url), "{url} is not absolute");
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

pub async fn import(
    s: &TestServer,
    auth: &Auth,
    folder: &str,
    bytes: Vec<u8>,
    name: Option<&str>,
) -> Value {
    let Auth::Bearer(token) = auth else { panic!() };
    let ops = json!({"query": IMPORT, "variables": {"f": folder, "file": null, "n": name}});
    let form = reqwest::multipart::Form::new()
        .text("operations", ops.to_string())
        .text("map", json!({"0": ["variables.file"]}).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes).file_name("p.vitrine"),
        );
    reqwest::Client::new()
        .post(format!("{}/graphql", s.url))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn projects_in(s: &TestServer, auth: &Auth, folder: &str) -> usize {
    let r = s
        .gql(
            auth,
            "query($f:ID!){projects(folderId:$f,first:100){edges{node{id}}}}",
            json!({"f": folder}),
        )
        .await;
    data(&r)["projects"]["edges"].as_array().unwrap().len()
}

/// A bundle's entries, rewritten by `edit` (name, bytes) → entries to write instead.
pub fn rezip(bundle: &[u8], edit: impl Fn(&str, Vec<u8>) -> Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(Cursor::new(bundle)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let name = f.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        for (n, b) in edit(&name, bytes) {
            out.start_file(n, zip::write::SimpleFileOptions::default())
                .unwrap();
            out.write_all(&b).unwrap();
        }
    }
    out.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_bundle_round_trip_equals_the_original_and_hostile_bundles_change_nothing() {
    let w = published_world().await;
    let s = &w.s;
    let target = staging(&w).await;

    // Managers export; editors may not (a bundle holds every row, before access filters).
    let r = s.gql(&w.editor.auth, EXPORT, json!({"p": w.project})).await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );
    let r = s.gql(&w.admin.auth, EXPORT, json!({"p": w.project})).await;
    let file = data(&r)["exportProjectBundle"].clone();
    assert_eq!(file["filename"], "superstore.vitrine");
    let url = file["url"].as_str().unwrap();
    // Only whoever asked may download it.
    let (status, _) = download(s, &w.editor.auth, url).await;
    assert_eq!(status, 404);
    let (status, bundle) = download(s, &w.admin.auth, url).await;
    assert_eq!(status, 200);
    assert_eq!(bundle.len() as i64, file["bytes"].as_i64().unwrap());

    // Import: a new project equal to the original in content, history and data.
    let r = import(
        s,
        &w.admin.auth,
        &target,
        bundle.clone(),
        Some("Superstore restored"),
    )
    .await;
    let imported = data(&r)["importProjectBundle"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = s
        .gql(&w.admin.auth, SNAPSHOT, json!({"p": w.project}))
        .await;
    let after = s.gql(&w.admin.auth, SNAPSHOT, json!({"p": imported})).await;
    assert_eq!(data(&after), data(&before));
    assert_eq!(history(&after).len(), 2);

    // Hostile or broken bundles: each refused with INVALID_BUNDLE, nothing written.
    let count = projects_in(s, &w.admin.auth, &target).await;
    let slip = rezip(&bundle, |name, b| {
        let mut v = vec![(name.to_owned(), b.clone())];
        if name == "manifest.json" {
            v.push(("../../escape.txt".into(), b"x".to_vec()));
        }
        v
    });
    let future = rezip(&bundle, |name, b| {
        if name == "manifest.json" {
            let mut m: Value = serde_json::from_slice(&b).unwrap();
            m["version"] = json!(99);
            vec![(name.to_owned(), serde_json::to_vec(&m).unwrap())]
        } else {
            vec![(name.to_owned(), b)]
        }
    });
    let deep = rezip(&bundle, |name, b| {
        if name == "content.json" {
            let d = format!("{{\"workflow\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
            vec![(name.to_owned(), d.into_bytes())]
        } else {
            vec![(name.to_owned(), b)]
        }
    });
    let tampered = rezip(&bundle, |name, mut b| {
        if name.starts_with("datasets/") {
            let n = b.len() / 2;
            b[n] ^= 0xff;
        }
        vec![(name.to_owned(), b)]
    });
    let broken_ref = rezip(&bundle, |name, b| {
        if name.starts_with("datasets/") {
            vec![]
        } else {
            vec![(name.to_owned(), b)]
        }
    });
    let mut bomb = zip::ZipWriter::new(Cursor::new(Vec::new()));
    bomb.start_file(
        "content.json",
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Zstd),
    )
    .unwrap();
    bomb.write_all(&vec![b' '; 200 << 20]).unwrap();
    let bomb = bomb.finish().unwrap().into_inner();
    let mut deflate_bomb = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    deflate_bomb.start_file("content.json", deflated).unwrap();
    deflate_bomb.write_all(&vec![b' '; 200 << 20]).unwrap();
    let deflate_bomb = deflate_bomb.finish().unwrap().into_inner();
    for (what, bytes, says) in [
        ("deflate bomb", deflate_bomb, "bomb"),
        ("zip slip", slip, "could escape"),
        ("future version", future, "newer Vitrine"),
        ("deep JSON", deep, "nested too deeply"),
        ("tampered data", tampered, "checksum"),
        ("missing dataset", broken_ref, "does not hold"),
        ("decompression bomb", bomb, "bomb"),
        ("not a zip", b"hello".to_vec(), "not a Vitrine bundle"),
    ] {
        let r = import(s, &w.admin.auth, &target, bytes, Some(what)).await;
        assert_eq!(code(&r), "INVALID_BUNDLE", "{what}: {r}");
        assert!(message(&r).contains(says), "{what}: {r}");
    }
    assert_eq!(projects_in(s, &w.admin.auth, &target).await, count);
}

/// A bundle is an ordinary zip: `unzip` lists it and Python's `zipfile` reads every entry
/// (JSON deflated, data stored), its data entries are Arrow IPC files with compressed
/// buffers; a bundle written by an earlier build (zstd entries) still imports.
#[tokio::test]
async fn a_bundle_opens_with_standard_zip_tools() {
    let w = published_world().await;
    let s = &w.s;
    let r = s.gql(&w.admin.auth, EXPORT, json!({"p": w.project})).await;
    let url = data(&r)["exportProjectBundle"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, bundle) = download(s, &w.admin.auth, &url).await;
    assert_eq!(status, 200);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("superstore.vitrine");
    std::fs::write(&file, &bundle).unwrap();

    tokio::task::spawn_blocking(|| ensure_debian_package("/usr/bin/unzip", "unzip"))
        .await
        .unwrap();
    let out = std::process::Command::new("unzip")
        .arg("-l")
        .arg(&file)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{listing}");
    for entry in [
        "manifest.json",
        "content.json",
        "revisions.jsonl",
        "datasets/0.arrow",
    ] {
        assert!(listing.contains(entry), "{listing}");
    }
    let script = "import json, sys, zipfile\n\
        z = zipfile.ZipFile(sys.argv[1])\n\
        assert z.testzip() is None\n\
        print(json.loads(z.read('manifest.json'))['format'])\n\
        print(sorted({i.compress_type for i in z.infolist()}))\n\
        print(z.read('datasets/0.arrow')[:6].decode())\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text, "vitrine-bundle\n[0, 8]\nARROW1\n",
        "JSON deflated (8), data stored (0)"
    );
    // The data entry is Arrow IPC compressed inside, and any Arrow reader reads it whole.
    let entry = {
        let mut z = zip::ZipArchive::new(Cursor::new(&bundle)).unwrap();
        let mut f = z.by_name("datasets/0.arrow").unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        bytes
    };
    assert!(
        vitrine_plugins::check_ipc(&entry, u64::MAX).unwrap(),
        "zstd buffers"
    );
    let reader = arrow_ipc::reader::FileReader::try_new(Cursor::new(entry), None).unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert!(rows > 0);

    // Written by an earlier build: zstd entries, still a bundle.
    let old = {
        let mut z = zip::ZipArchive::new(Cursor::new(&bundle)).unwrap();
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let zstd = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Zstd);
        for i in 0..z.len() {
            let mut f = z.by_index(i).unwrap();
            let name = f.name().unwrap().into_owned();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            out.start_file(name, zstd).unwrap();
            out.write_all(&bytes).unwrap();
        }
        out.finish().unwrap().into_inner()
    };
    let target = staging(&w).await;
    let r = import(
        s,
        &w.admin.auth,
        &target,
        old,
        Some("From an earlier build"),
    )
    .await;
    assert_eq!(
        data(&r)["importProjectBundle"]["name"],
        "From an earlier build"
    );
}

#[tokio::test]
async fn the_bundle_command_exports_inspects_and_imports() {
    let w = published_world().await;
    let s = &w.s;
    let target = staging(&w).await;
    let Auth::Bearer(token) = &w.admin.auth else {
        panic!()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("superstore.vitrine");
    let vitrine = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
            .args(args)
            .env("VITRINE_SERVER", &s.url)
            .env("VITRINE_TOKEN", token)
            .output()
            .unwrap()
    };
    let out = vitrine(&[
        "bundle",
        "export",
        "--project",
        &w.project,
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = vitrine(&["bundle", "inspect", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("project: Superstore"), "{text}");
    assert!(text.contains("revisions: 1 to 2"), "{text}");
    assert!(text.contains("dataset orders:"), "{text}");
    let out = vitrine(&[
        "bundle",
        "import",
        "--folder",
        &target,
        "--name",
        "From the shell",
        file.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("From the shell"),
        "{text}"
    );

    // A damaged file: inspect and import both refuse it, naming the problem.
    std::fs::write(&file, b"PK not really").unwrap();
    let out = vitrine(&["bundle", "inspect", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_BUNDLE"));
    let out = vitrine(&[
        "bundle",
        "import",
        "--folder",
        &target,
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_BUNDLE"));
    // The import route is for signed-in callers only.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/bundles/import?folder={target}", s.url))
        .body(b"PK".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // A wrong token is told so.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args([
            "bundle",
            "export",
            "--project",
            &w.project,
            "-o",
            "/dev/null",
        ])
        .env("VITRINE_SERVER", &s.url)
        .env("VITRINE_TOKEN", "vit_wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TOKEN_REJECTED")
            || String::from_utf8_lossy(&out.stderr).contains("UNAUTHENTICATED"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_dataset_exports_as_arrow_csv_and_parquet_and_reads_back_as_a_source() {
    let w = published_world().await;
    let s = &w.s;
    let export = "mutation($p:ID!,$d:String!,$f:DataFileFormat!){exportDataset(projectId:$p,dataset:$d,format:$f){filename url bytes}}";
    // Viewers download tiles under their access filters, not whole datasets.
    let r = s
        .gql(
            &w.west.auth,
            export,
            json!({"p": w.project, "d": "orders", "f": "ARROW"}),
        )
        .await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );
    let r = s
        .gql(
            &w.editor.auth,
            export,
            json!({"p": w.project, "d": "nope", "f": "ARROW"}),
        )
        .await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");

    // An Arrow download is the artifact itself, so its BLAKE3 is the dataset's hash.
    let hashes = s
        .gql(
            &w.editor.auth,
            "query($p:ID!){datasets(projectId:$p){name contentHash}}",
            json!({"p": w.project}),
        )
        .await;
    let hash = data(&hashes)["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "orders")
        .unwrap()["contentHash"]
        .clone();
    let mut blocks = Vec::new();
    for (format, kind, ext) in [
        ("ARROW", "arrow_source", "arrow"),
        ("PARQUET", "parquet_source", "parquet"),
        ("CSV", "csv_source", "csv"),
    ] {
        let r = s
            .gql(
                &w.editor.auth,
                export,
                json!({"p": w.project, "d": "orders", "f": format}),
            )
            .await;
        let file = data(&r)["exportDataset"].clone();
        assert_eq!(file["filename"], format!("superstore-orders.{ext}"));
        let (status, bytes) = download(s, &w.editor.auth, file["url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        if ext == "arrow" {
            assert_eq!(hash, blake3::hash(&bytes).to_hex().as_str(), "{hashes}");
        }
        std::fs::write(w.files.path().join(format!("in/orders.{ext}")), bytes).unwrap();
        blocks.push(json!({"id": format!("read_{ext}"), "kind": kind, "config": {"location": "files", "path": format!("in/orders.{ext}")}}));
        blocks.push(json!({"id": format!("publish_{ext}"), "kind": "publish", "config": {"dataset": ext}, "inputs": {"in": format!("read_{ext}")}}));
    }
    let (other, _) = s.project(&w.admin, &w.folder, "Reader").await;
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}",
            json!({"p": other, "w": {"blocks": blocks}}),
        )
        .await,
    );
    let run = s.gql(&w.admin.auth, RUN, json!({"p": other})).await;
    assert_eq!(data(&run)["runWorkflow"]["status"], "succeeded", "{run}");
    let ds = "query($p:ID!){datasets(projectId:$p){name rows columns{name type}}}";
    let original = s.gql(&w.admin.auth, ds, json!({"p": w.project})).await;
    let orders = data(&original)["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "orders")
        .unwrap()
        .clone();
    let back = s.gql(&w.admin.auth, ds, json!({"p": other})).await;
    for d in data(&back)["datasets"].as_array().unwrap() {
        assert_eq!(d["rows"], orders["rows"], "{d}");
        if d["name"] != "csv" {
            // Arrow and Parquet keep the exact column types.
            assert_eq!(d["columns"], orders["columns"], "{d}");
        }
    }
}

#[tokio::test]
async fn a_report_file_holds_only_what_its_maker_may_see() {
    let w = published_world().await;
    let s = &w.s;
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($p:ID!){setAccessFilter(projectId:$p,dataset:\"orders\",rules:[{column:\"region\",attribute:\"region\"}]){dataset}}",
            json!({"p": w.project}),
        )
        .await,
    );
    let (report, _) = crate::copies::first_report(s, &w.admin, &w.project).await;
    let export = "mutation($r:ID!){exportReportFile(reportId:$r){url filename}}";
    let r = s.gql(&w.east.auth, export, json!({"r": report})).await;
    let file = data(&r)["exportReportFile"].clone();
    assert_eq!(file["filename"], "Sales.html");
    let (status, html) = download(s, &w.east.auth, file["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap();
    // The by-region tile holds East's row only: the access filter applied.
    let data_at = html.find("id=\"vitrine-report\"").unwrap();
    let embedded = &html[data_at..];
    assert!(embedded.contains("[\"East\""), "East's row is in the file");
    assert!(!embedded.contains("[\"West\""), "West's rows are not");
    assert!(
        html.contains("default-src 'none'"),
        "the file may not reach the network"
    );

    // The project's download ability gates report files like any download.
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($p:ID!){setProjectAbility(id:$p,ability:DOWNLOAD,enabled:false){id}}",
            json!({"p": w.project}),
        )
        .await,
    );
    let r = s.gql(&w.east.auth, export, json!({"r": report})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    // And someone who cannot see the report is told it does not exist.
    let stranger = s.user(&w.admin, "stranger").await;
    let r = s.gql(&stranger.auth, export, json!({"r": report})).await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");
}
