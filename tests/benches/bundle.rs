//! Project bundles at size: a project with a ~100 MB dataset and 1,000 revisions is
//! exported (GraphQL + download) and imported (GraphQL upload) through the real binary.
//! The peer (issue 26), in the same run: the same files as plain files (the bundle's
//! JSON entries and the dataset's artifact), then `tar | zstd -3` and `unzstd | tar -x`
//! of them; the ratios compare time and size. Copying the raw files (the dataset's artifact,
//! the whole data directory) is printed too, as a floor.
//! `cargo bench --workspace --bench bundle`; `VITRINE_BENCH_ROWS` and
//! `VITRINE_BENCH_REVISIONS` change the size.

mod common;

use std::io::Write;
use std::time::Instant;

use serde_json::json;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(path).unwrap().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.metadata().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Runs a shell pipeline over `dir` and returns how long it took.
fn timed_shell(dir: &std::path::Path, script: &str) -> std::time::Duration {
    let t = Instant::now();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "{script}");
    t.elapsed()
}

/// The peer: the same files as plain files (the bundle's JSON entries, and the dataset
/// as its artifact, uncompressed Arrow IPC, as the server keeps it), packed by
/// `tar | zstd -3` and unpacked by `unzstd | tar -x`. Returns (pack time, unpack time,
/// packed bytes).
fn tar_zstd_peer(
    bundle: &[u8],
    artifact: &std::path::Path,
) -> (std::time::Duration, std::time::Duration, u64) {
    let work = tempfile::tempdir().unwrap();
    let files = work.path().join("files");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bundle)).unwrap();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let path = files.join(entry.enclosed_name().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if entry.name().unwrap().starts_with("datasets/") {
            std::fs::copy(artifact, path).unwrap();
        } else {
            std::io::copy(&mut entry, &mut std::fs::File::create(path).unwrap()).unwrap();
        }
    }
    let pack = timed_shell(
        work.path(),
        "tar -cf - files | zstd -3 -q -T1 -o files.tar.zst",
    );
    let packed = std::fs::metadata(work.path().join("files.tar.zst"))
        .unwrap()
        .len();
    std::fs::create_dir(work.path().join("out")).unwrap();
    let unpack = timed_shell(work.path(), "unzstd -q -c files.tar.zst | tar -xf - -C out");
    (pack, unpack, packed)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

#[tokio::main]
async fn main() {
    let rows = env_or("VITRINE_BENCH_ROWS", 1_400_000);
    let revisions = env_or("VITRINE_BENCH_REVISIONS", 1_000);
    let files = tempfile::tempdir().unwrap();
    let t = Instant::now();
    {
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(files.path().join("orders.csv")).unwrap(),
        );
        writeln!(w, "order_id,customer,product,region,quantity,sales").unwrap();
        let regions = ["West", "East", "Central", "South"];
        for i in 0..rows {
            writeln!(
                w,
                "{i},customer-{:08},product-{:06}-{:04},{},{},{:.2}",
                (i * 7919) % 1_000_003,
                (i * 31) % 100_000,
                i % 9973,
                regions[i % 4],
                1 + i % 9,
                (i % 10_000) as f64 * 1.37
            )
            .unwrap();
        }
    }
    println!(
        "input: {rows} rows of CSV, {:.1} MB, written in {:.1} s",
        mb(std::fs::metadata(files.path().join("orders.csv"))
            .unwrap()
            .len()),
        t.elapsed().as_secs_f64()
    );

    let server = common::Server::start(&[]).await;
    let admin = server.admin().await;
    let folder = admin
        .gql("mutation{createFolder(name:\"Bench\"){id}}", json!({}))
        .await["createFolder"]["id"]
        .clone();
    let target = admin
        .gql("mutation{createFolder(name:\"Restored\"){id}}", json!({}))
        .await["createFolder"]["id"]
        .clone();
    let loc = admin
        .gql(
            "mutation($d:JSON!){createResourceLocation(name:\"files\",definition:$d){id}}",
            json!({"d": {"kind": "fs", "root": files.path()}}),
        )
        .await["createResourceLocation"]["id"]
        .clone();
    for f in [&folder, &target] {
        admin
            .gql(
                "mutation($l:ID!,$f:ID!){grantResourceLocation(id:$l,folderId:$f,access:READ){id}}",
                json!({"l": loc, "f": f}),
            )
            .await;
    }
    let project = admin
        .gql(
            "mutation($f:ID!){createProject(folderId:$f,name:\"Orders\"){id}}",
            json!({"f": folder}),
        )
        .await["createProject"]["id"]
        .clone();
    let workflow = |n: usize| {
        json!({"blocks": [
            {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "orders.csv"}},
            {"id": "publish", "kind": "publish", "config": {"dataset": "orders"}, "inputs": {"in": "orders"}},
            {"id": "big", "kind": "filter", "config": {"condition": format!("sales > {n}")}, "inputs": {"in": "orders"}},
        ]})
    };
    let save = "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}";
    admin
        .gql(save, json!({"p": project, "w": workflow(0)}))
        .await;
    let t = Instant::now();
    let run = admin
        .gql(
            "mutation($p:ID!){runWorkflow(projectId:$p,wait:true){status}}",
            json!({"p": project}),
        )
        .await;
    assert_eq!(run["runWorkflow"]["status"], "succeeded", "{run}");
    println!("workflow run: {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    for n in 1..revisions {
        admin
            .gql(save, json!({"p": project, "w": workflow(n)}))
            .await;
    }
    println!(
        "{} further saves (one revision each): {:.1} s",
        revisions - 1,
        t.elapsed().as_secs_f64()
    );
    let ds = admin
        .gql(
            "query($p:ID!){datasets(projectId:$p){name rows bytes contentHash}}",
            json!({"p": project}),
        )
        .await;
    let dataset = ds["datasets"][0].clone();
    let artifact_bytes = dataset["bytes"].as_u64().unwrap();

    // Export: pack on the server, then download.
    let t = Instant::now();
    let file = admin
        .gql(
            "mutation($p:ID!){exportProjectBundle(projectId:$p){url bytes}}",
            json!({"p": project}),
        )
        .await["exportProjectBundle"]
        .clone();
    let packed = t.elapsed();
    // The URL is absolute (the server's public URL); older servers answered a path.
    let url = file["url"].as_str().unwrap();
    let url = match url.starts_with("http") {
        true => url.to_owned(),
        false => format!("{}{url}", server.url),
    };
    let bundle = admin
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let exported = t.elapsed();

    // Import: upload and unpack into a new project.
    let t = Instant::now();
    let ops = json!({"query": "mutation($f:ID!,$file:Upload!){importProjectBundle(folderId:$f,file:$file){id}}", "variables": {"f": target, "file": null}});
    let form = reqwest::multipart::Form::new()
        .text("operations", ops.to_string())
        .text("map", json!({"0": ["variables.file"]}).to_string())
        .part(
            "0",
            // The bundle as the client holds it (no copy is timed, as the peer's input
            // is a file already there).
            reqwest::multipart::Part::stream_with_length(bundle.clone(), bundle.len() as u64)
                .file_name("orders.vitrine"),
        );
    let csrf = admin.csrf().to_owned();
    let r: serde_json::Value = admin
        .http
        .post(format!("{}/graphql", server.url))
        .header("x-csrf-token", csrf)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let imported = t.elapsed();
    let copy = r["data"]["importProjectBundle"]["id"].clone();
    assert!(copy.is_string(), "{r}");
    let back = admin
        .gql(
            "query($p:ID!){datasets(projectId:$p){rows contentHash} revisions(projectId:$p,first:1){edges{node{number}}}}",
            json!({"p": copy}),
        )
        .await;
    assert_eq!(back["datasets"][0]["contentHash"], dataset["contentHash"]);
    assert_eq!(
        back["revisions"]["edges"][0]["node"]["number"],
        revisions as i64
    );

    let hash = dataset["contentHash"].as_str().unwrap();
    let data_dir = server.data_dir();
    let artifact = data_dir
        .join("artifacts/datasets")
        .join(&hash[..2])
        .join(format!("{hash}.arrow"));
    let (tar_pack, tar_unpack, tar_bytes) = tar_zstd_peer(&bundle, &artifact);

    // The floor: copying the raw files.
    let raw = tempfile::tempdir().unwrap();
    let t = Instant::now();
    std::fs::copy(&artifact, raw.path().join("dataset.arrow")).unwrap();
    let copy_artifact = t.elapsed();
    let t = Instant::now();
    copy_dir(&data_dir, &raw.path().join("data"));
    let copy_all = t.elapsed();

    println!(
        "dataset: {} rows, Arrow IPC artifact {:.1} MB; history: {revisions} revisions",
        dataset["rows"],
        mb(artifact_bytes)
    );
    println!(
        "export: {:.2} s ({:.2} s packing on the server, the rest downloading); bundle {:.1} MB ({:.0}% of the artifact)",
        exported.as_secs_f64(),
        packed.as_secs_f64(),
        mb(bundle.len() as u64),
        100.0 * bundle.len() as f64 / artifact_bytes as f64
    );
    println!(
        "import: {:.2} s (upload, checks, data and {revisions} revisions written)",
        imported.as_secs_f64()
    );
    println!(
        "peer: tar | zstd -3 of the same files {:.2} s, {:.1} MB; unzstd | tar -x {:.2} s",
        tar_pack.as_secs_f64(),
        mb(tar_bytes),
        tar_unpack.as_secs_f64()
    );
    println!(
        "ratio: export / tar+zstd {:.2}x (packing alone {:.2}x), import / untar {:.2}x, size / tar.zst {:.2}x (targets <= 1.0x, no bigger)",
        exported.as_secs_f64() / tar_pack.as_secs_f64(),
        packed.as_secs_f64() / tar_pack.as_secs_f64(),
        imported.as_secs_f64() / tar_unpack.as_secs_f64(),
        bundle.len() as f64 / tar_bytes as f64
    );
    println!(
        "raw copy of the dataset's artifact: {:.2} s, {:.1} MB",
        copy_artifact.as_secs_f64(),
        mb(artifact_bytes)
    );
    println!(
        "raw copy of the whole data directory (database and artifacts, server running): {:.2} s, {:.1} MB",
        copy_all.as_secs_f64(),
        mb(dir_bytes(&data_dir))
    );
}
