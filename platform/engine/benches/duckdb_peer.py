"""The DuckDB side of the engine benchmark: the same tile query over the same Parquet
file, and the same CSV import, timed in this process. Prints one JSON object.

    python3 duckdb_peer.py DATA.parquet DATA.csv
"""

import json
import sys
import time

import duckdb

QUERY = "SELECT customer, sum(amount) AS amount FROM {src} GROUP BY customer ORDER BY customer"


def timed(fn, runs):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return out[len(out) // 2]


def main():
    parquet, csv = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    result = {}
    # Cold: a fresh connection reads the file and aggregates.
    def cold():
        con = duckdb.connect()
        con.execute(f"SET threads={threads}")
        con.execute(QUERY.format(src=f"'{parquet}'")).fetchall()
        con.close()

    result["cold_parquet_ms"] = timed(cold, 5)
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    con.execute(f"CREATE TABLE t AS SELECT * FROM '{parquet}'")
    result["warm_table_ms"] = timed(lambda: con.execute(QUERY.format(src="t")).fetchall(), 20)
    size = __import__("os").path.getsize(csv)

    def ingest():
        c = duckdb.connect()
        c.execute(f"SET threads={threads}")
        c.execute(f"CREATE TABLE i AS SELECT * FROM read_csv('{csv}', header=true)")
        c.close()

    ms = timed(ingest, 3)
    result["csv_ingest_ms"] = ms
    result["csv_ingest_mb_s"] = size / 1e6 / (ms / 1000)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
