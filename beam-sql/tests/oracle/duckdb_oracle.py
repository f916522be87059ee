"""Runs SQL queries in DuckDB, the independent engine the SQL suite compares
against: reads the table CSV with the declared column types, runs each query
and writes every result (or error) as JSON.

    python duckdb_oracle.py TABLE.csv QUERIES.json RESULTS.json
"""
import datetime
import decimal
import json
import sys

import duckdb

COLUMNS = {
    "id": "BIGINT",
    "g": "VARCHAR",
    "h": "VARCHAR",
    "x": "BIGINT",
    "y": "DOUBLE",
    "d": "DECIMAL(10,2)",
    "s": "VARCHAR",
    "ts": "TIMESTAMP",
}


def plain(v):
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    return v


def main(table, queries, results):
    con = duckdb.connect()
    columns = ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items())
    con.execute(
        f"CREATE TABLE t AS SELECT * FROM read_csv('{table}', header=true, columns={{{columns}}})"
    )
    out = []
    for q in json.load(open(queries)):
        try:
            rows = con.execute(q).fetchall()
            out.append({"rows": [[plain(v) for v in r] for r in rows]})
        except Exception as e:  # the suite reports the query and the error
            out.append({"error": str(e)})
    json.dump(out, open(results, "w"))


if __name__ == "__main__":
    main(*sys.argv[1:])
