//! Arrow IPC whose compressed buffers lie about their size. Each compressed buffer says
//! how large it inflates to, and the reader allocates that much first: a file claiming a
//! terabyte made the allocation fail and aborted the server. Now the claim is checked
//! before anything inflates. The block fails with `INVALID_DATA`, the server keeps
//! serving, and honest compressed files still read.

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch};
use arrow_ipc::CompressionType;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_schema::{DataType, Field, Schema};
use serde_json::json;

use super::*;
use crate::support::*;

/// 1,000 rows of one int64 column, buffers compressed with zstd.
fn compressed_file() -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    let values = Int64Array::from_iter_values((0..1000).map(|i| i % 7));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(values)]).unwrap();
    let options = IpcWriteOptions::default()
        .try_with_compression(Some(CompressionType::ZSTD))
        .unwrap();
    let mut out = Vec::new();
    let mut w = FileWriter::try_new_with_options(&mut out, &schema, options).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    drop(w);
    out
}

/// The same file, its values buffer claiming `claim` bytes instead of 8,000.
fn claiming(mut bytes: Vec<u8>, claim: i64) -> Vec<u8> {
    let at = bytes
        .windows(8)
        .position(|w| w == 8000i64.to_le_bytes())
        .expect("the values buffer's length prefix");
    bytes[at..at + 8].copy_from_slice(&claim.to_le_bytes());
    bytes
}

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
    data(
        &s.gql(
            &w.editor.auth,
            "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}",
            json!({"p": w.project, "w": wf}),
        )
        .await,
    );
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
