//! Arrow IPC whose compressed buffers lie about their size. Each compressed buffer says
//! how large it inflates to, and the reader allocates that much first: a file claiming a
//! terabyte made the allocation fail and aborted the server. Now the claim is checked
//! before anything inflates. The block fails with `INVALID_DATA`, the server keeps
//! serving, and honest compressed files still read.

use serde_json::json;
use vitrine_plugins::ipc_samples::{claiming, compressed_file};

use super::*;
use crate::support::*;

#[tokio::test]
async fn an_arrow_file_claiming_to_inflate_to_a_terabyte_fails_its_block_not_the_server() {
    let w = data_world().await;
    let s = &w.s;
    let honest = compressed_file();
    std::fs::write(w.files.path().join("in/honest.arrow"), &honest).unwrap();
    std::fs::write(
        w.files.path().join("in/forged.arrow"),
        claiming(honest, 1 << 40),
    )
    .unwrap();
    let wf = json!({"blocks": [
        {"id": "forged", "kind": "arrow_source", "config": {"location": "files", "path": "in/forged.arrow"}},
        {"id": "honest", "kind": "arrow_source", "config": {"location": "files", "path": "in/honest.arrow"}},
        {"id": "publish", "kind": "publish", "config": {"dataset": "numbers"}, "inputs": {"in": "honest"}},
    ]});
    w.save_workflow(wf).await;
    let run =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    let block = |id: &str| run_block(&run, id);
    let forged = block("forged");
    assert_eq!(forged["status"], "failed", "{run}");
    assert_eq!(forged["error"]["code"], "INVALID_DATA", "{forged}");
    assert!(
        forged["error"]["message"]
            .as_str()
            .unwrap()
            .contains("claim more than"),
        "{forged}"
    );
    // The server is still up, and the honest compressed file was read in full.
    assert_eq!(block("honest")["status"], "succeeded", "{run}");
    assert_eq!(block("honest")["rows"], 1000, "{run}");
    let answer = s
        .gql(
            &w.editor.auth,
            "query($p:ID!){datasets(projectId:$p){name rows}}",
            json!({"p": w.project}),
        )
        .await;
    let ds = data(&answer);
    assert!(
        ds["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "numbers" && d["rows"] == 1000),
        "{ds}"
    );
}
