/// schema/graphql/vitrine.graphql is generated from the code and committed; this fails
/// when they differ. Regenerate with `cargo run -- schema > schema/graphql/vitrine.graphql`.
#[test]
fn committed_sdl_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/graphql/vitrine.graphql"
    ))
    .expect("committed SDL");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .arg("schema")
        .output()
        .expect("run vitrine schema");
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    assert!(
        committed == generated,
        "schema/graphql/vitrine.graphql is out of date: run `cargo run -- schema > schema/graphql/vitrine.graphql`"
    );
}
