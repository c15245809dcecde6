use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, IntervalMonthDayNanoType, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, IntervalUnit, TimeUnit};
use futures::StreamExt;
use vitrine_core::ErrorCode;
use vitrine_sources::postgres::PostgresSpec;
use vitrine_sources::{ConnectionSpec, ReadLimits, ReadTarget, Secret, SourceError, TlsMode};

use super::{World, limits, query, read_all};
use crate::servers::free_port;

const EVERYTHING: &str = "
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE everything (
    b boolean, s smallint, i integer, l bigint, r real, d double precision,
    n numeric(12, 3), free numeric, t text, v varchar(10), c char(4), j json, jb jsonb,
    u uuid, raw bytea, day date, ts timestamp, tz timestamptz, tm time, iv interval,
    m mood, p positive, ints integer[], texts text[], o oid
);
INSERT INTO everything VALUES (
    true, -2, 3, 9007199254740993, 1.5, 2.25, -12345.678, 3.14159265358979, 'héllo', 'vc',
    'ab', '{\"a\": 1}', '{\"b\": [1, 2]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff',
    '1999-12-31', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15+02', '23:59:59.5',
    '1 year 2 mons 3 days 04:05:06', 'happy', 7, '{1,NULL,3}', '{a,b}', 42
);
INSERT INTO everything DEFAULT VALUES;
";

fn text(batch: &RecordBatch, column: &str) -> String {
    let array = batch.column_by_name(column).expect(column);
    arrow_cast::display::array_value_to_string(array, 0).unwrap()
}

#[tokio::test]
async fn every_supported_type_arrives_in_its_arrow_form() {
    let w = World::start().await;
    w.sql("shop", EVERYTHING).await;
    let (schema, batches) = read_all(
        &w.reader(),
        ReadTarget::Table("public.everything".into()),
        ReadLimits::default(),
    )
    .await
    .unwrap();
    let types: Vec<(String, DataType)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let micros = |tz: Option<&str>| DataType::Timestamp(TimeUnit::Microsecond, tz.map(Into::into));
    let list = |t: DataType| DataType::new_list(t, true);
    let expected = [
        ("b", DataType::Boolean),
        ("s", DataType::Int16),
        ("i", DataType::Int32),
        ("l", DataType::Int64),
        ("r", DataType::Float32),
        ("d", DataType::Float64),
        ("n", DataType::Decimal128(12, 3)),
        ("free", DataType::Decimal128(38, 10)),
        ("t", DataType::Utf8),
        ("v", DataType::Utf8),
        ("c", DataType::Utf8),
        ("j", DataType::Utf8),
        ("jb", DataType::Utf8),
        ("u", DataType::Utf8),
        ("raw", DataType::Binary),
        ("day", DataType::Date32),
        ("ts", micros(None)),
        ("tz", micros(Some("UTC"))),
        ("tm", DataType::Time64(TimeUnit::Microsecond)),
        ("iv", DataType::Interval(IntervalUnit::MonthDayNano)),
        ("m", DataType::Utf8),
        ("p", DataType::Int32),
        ("ints", list(DataType::Int32)),
        ("texts", list(DataType::Utf8)),
        ("o", DataType::UInt32),
    ];
    assert_eq!(
        types,
        expected
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(b.num_rows(), 2);
    for (column, value) in [
        ("b", "true"),
        ("s", "-2"),
        ("i", "3"),
        ("l", "9007199254740993"),
        ("r", "1.5"),
        ("d", "2.25"),
        ("n", "-12345.678"),
        ("free", "3.1415926536"),
        ("t", "héllo"),
        ("v", "vc"),
        ("c", "ab  "),
        ("j", "{\"a\": 1}"),
        ("jb", "{\"b\": [1, 2]}"),
        ("u", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ("raw", "00ff"),
        ("day", "1999-12-31"),
        ("ts", "2024-02-29T13:14:15.123456"),
        ("tm", "23:59:59.500"),
        ("m", "happy"),
        ("p", "7"),
        ("o", "42"),
    ] {
        assert_eq!(text(b, column), value, "column {column}");
    }
    // The same instant, in UTC.
    let tz = b
        .column_by_name("tz")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(tz.value(0), 1_709_205_255_000_000);
    let iv = b
        .column_by_name("iv")
        .unwrap()
        .as_primitive::<IntervalMonthDayNanoType>()
        .value(0);
    assert_eq!((iv.months, iv.days), (14, 3));
    assert_eq!(iv.nanoseconds, 14_706_000_000_000);
    let ints = b.column_by_name("ints").unwrap().as_list::<i32>().value(0);
    let ints = ints.as_primitive::<Int32Type>();
    assert_eq!(ints.len(), 3);
    assert_eq!(
        (ints.value(0), ints.is_null(1), ints.value(2)),
        (1, true, 3)
    );
    // The second row is all nulls, in every column.
    for (i, column) in b.columns().iter().enumerate() {
        assert!(
            column.is_null(1),
            "column {} of the null row",
            schema.field(i).name()
        );
        assert_eq!(column.null_count(), 1, "column {}", schema.field(i).name());
    }
}

#[tokio::test]
async fn large_reads_stream_in_batches_of_the_asked_size() {
    let w = World::start().await;
    let small = ReadLimits {
        batch_rows: 65_536,
        ..ReadLimits::default()
    };
    let (_, batches) = read_all(
        &w.reader(),
        query("SELECT g AS n, 'row ' || g AS label FROM generate_series(1, 200000) g"),
        small,
    )
    .await
    .unwrap();
    let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
    assert_eq!(sizes, [65_536, 65_536, 65_536, 3_392]);
    let sum: i64 = batches
        .iter()
        .map(|b| {
            b.column(0)
                .as_primitive::<Int32Type>()
                .values()
                .iter()
                .map(|v| *v as i64)
                .sum::<i64>()
        })
        .sum();
    assert_eq!(sum, 200_000 * 200_001 / 2);
    let last = batches.last().unwrap();
    assert_eq!(last.column(1).as_string::<i32>().value(3_391), "row 200000");
}

async fn refused(spec: &ConnectionSpec, target: ReadTarget) -> SourceError {
    match read_all(spec, target, limits(1_000_000, Duration::from_secs(20))).await {
        Ok(_) => panic!("the read succeeded"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn bad_settings_and_queries_fail_with_their_codes_and_never_the_password() {
    let w = World::start().await;
    w.sql(
        "shop",
        "CREATE TABLE shapes (id int, at point);
         CREATE TABLE grid (cells int[]);
         INSERT INTO grid VALUES ('{{1,2},{3,4}}');
         CREATE TABLE odd (x numeric, t timestamp);
         INSERT INTO odd VALUES ('NaN', '2024-01-01'), (1, 'infinity');",
    )
    .await;
    let table = |t: &str| ReadTarget::Table(t.into());

    // A wrong password: the user is named, the password is not.
    let e = refused(&w.spec("shop", "reader", "hunter2-wrong"), table("grid")).await;
    assert_eq!(e.code(), ErrorCode::SourceConnectFailed, "{e}");
    assert!(
        e.to_string().contains("password authentication failed"),
        "{e}"
    );
    assert!(!e.to_string().contains("hunter2"), "{e}");
    // Nobody listens.
    let port = free_port();
    let mut spec = w.reader();
    let ConnectionSpec::Postgres(p) = &mut spec;
    p.port = port;
    let e = refused(&spec, table("grid")).await;
    assert_eq!(e.code(), ErrorCode::SourceConnectFailed, "{e}");
    assert!(
        e.to_string().contains(&format!("127.0.0.1:{port}/shop")),
        "{e}"
    );
    // An unknown database, and TLS demanded of a server without it.
    let e = refused(&w.spec("nowhere", "reader", "reader-pw"), table("grid")).await;
    assert_eq!(e.code(), ErrorCode::SourceConnectFailed, "{e}");
    assert!(e.to_string().contains("3D000"), "{e}");
    let mut spec = w.reader();
    let ConnectionSpec::Postgres(p) = &mut spec;
    p.tls = TlsMode::Require;
    assert_eq!(
        refused(&spec, table("grid")).await.code(),
        ErrorCode::SourceConnectFailed
    );
    // Settings checked before connecting.
    let bad = ConnectionSpec::Postgres(PostgresSpec {
        host: "db host".into(),
        port: 5432,
        database: "shop".into(),
        user: "reader".into(),
        password: Secret::new("x"),
        tls: TlsMode::Disable,
    });
    let e = bad.check().unwrap_err();
    assert_eq!(
        (e.code(), e.to_string().starts_with("host:")),
        (ErrorCode::InvalidInput, true)
    );
    assert!(TlsMode::parse("sometimes").is_err());

    // Queries the database refuses keep its SQLSTATE.
    let reader = w.reader();
    let e = refused(&reader, query("SELEC 1")).await;
    assert_eq!(e.code(), ErrorCode::SourceQueryFailed, "{e}");
    assert!(e.to_string().contains("42601"), "{e}");
    let e = refused(&reader, table("missing")).await;
    assert!(e.to_string().contains("42P01"), "{e}");
    // Reads are read-only, even for a role that may write, and one statement only.
    let owner = w.spec("shop", "admin", &w.pg.admin_password);
    let e = refused(&owner, query("DELETE FROM grid RETURNING *")).await;
    assert!(e.to_string().contains("25006"), "read-only: {e}");
    let e = refused(&owner, query("SELECT 1; DROP TABLE grid")).await;
    assert_eq!(e.code(), ErrorCode::SourceQueryFailed, "{e}");
    let (_, still) = read_all(
        &owner,
        query("SELECT cells::text FROM grid"),
        ReadLimits::default(),
    )
    .await
    .unwrap();
    assert_eq!(still[0].num_rows(), 1, "nothing was changed");
    // A trailing line comment cannot take the COPY's closing parenthesis.
    let (_, one) = read_all(
        &reader,
        query("SELECT 1 AS x -- a note"),
        ReadLimits::default(),
    )
    .await
    .unwrap();
    assert_eq!(one[0].num_rows(), 1);
    let e = refused(&reader, query("SELECT $1::int")).await;
    assert_eq!(e.code(), ErrorCode::InvalidInput, "{e}");
    let e = refused(&reader, query("SELECT 1 AS a, 2 AS a")).await;
    assert!(e.to_string().contains("two columns are named `a`"), "{e}");

    // Types and values with no Arrow form name the column and the way out.
    let e = refused(&reader, table("shapes")).await;
    assert_eq!(e.code(), ErrorCode::SourceTypeUnsupported, "{e}");
    assert!(
        e.to_string().contains("`at`") && e.to_string().contains("at::text"),
        "{e}"
    );
    let e = refused(&reader, table("grid")).await;
    assert_eq!(e.code(), ErrorCode::InvalidData, "{e}");
    assert!(e.to_string().contains("multi-dimensional"), "{e}");
    let (_, ok) = read_all(
        &reader,
        query("SELECT cells::text AS cells FROM grid"),
        ReadLimits::default(),
    )
    .await
    .unwrap();
    assert_eq!(ok[0].column(0).as_string::<i32>().value(0), "{{1,2},{3,4}}");
    let e = refused(&reader, query("SELECT x FROM odd")).await;
    assert!(e.to_string().contains("NaN"), "{e}");
    let e = refused(&reader, query("SELECT t FROM odd")).await;
    assert!(e.to_string().contains("infinite timestamp"), "{e}");
}

/// Queries of `application_name = 'vitrine'` still running on the server.
async fn running(w: &World) -> i64 {
    let client = w.pg.admin("postgres").await;
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE application_name = 'vitrine' AND state = 'active'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn until_idle(w: &World) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if running(w).await == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn limits_stop_a_read_and_cancel_its_query() {
    let w = World::start().await;
    let reader = w.reader();
    let many = ReadTarget::Query("SELECT g FROM generate_series(1, 1000000) g".into());
    let e = read_all(&reader, many, limits(100_000, Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::SourceLimit, "{e}");
    assert!(e.to_string().contains("100000 rows"), "{e}");

    // A query slower than the time limit is stopped on time, and on the server.
    let started = Instant::now();
    let e = read_all(
        &reader,
        query("SELECT 1 AS x FROM pg_sleep(60)"),
        limits(10, Duration::from_secs(1)),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::SourceLimit, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        until_idle(&w).await,
        "the slow query still runs on the server"
    );

    // Dropping a read midway (a cancelled block) cancels the query on the server.
    let slow = "SELECT g FROM generate_series(1, 100000) g WHERE pg_sleep(0.001)::text = ''";
    let mut stream = reader
        .read(
            &query(slow),
            ReadLimits {
                batch_rows: 100,
                ..ReadLimits::default()
            },
        )
        .await
        .unwrap();
    assert!(stream.batches.next().await.unwrap().is_ok());
    assert!(running(&w).await >= 1, "the read is under way");
    drop(stream);
    assert!(until_idle(&w).await, "the dropped read's query still runs");
}

#[tokio::test]
async fn a_connection_test_reports_the_server() {
    let w = World::start().await;
    let info = w.reader().test().await.unwrap();
    assert!(info.version.starts_with("PostgreSQL "), "{info:?}");
    assert!(!info.tls);
    let e = w.spec("shop", "reader", "nope").test().await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::SourceConnectFailed);
}
