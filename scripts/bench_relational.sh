#!/usr/bin/env bash
# The sales summary (amount > 1000, total, average and count per category,
# ordered by total) on a generated CSV of N sales (10 M by default): Polars
# and DuckDB (from PyPI, in bench-data/venv), then sales_relational's SQL and
# DataFrame forms on the rayon runner, in one invocation.
#
#   bash scripts/bench_relational.sh [ROWS]
#
# SKIP_PYSPARK=1 leaves PySpark (and its Java runtime) out.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
threads=${THREADS:-2}
venv=bench-data/venv
mkdir -p bench-data
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if [ -n "${SKIP_PYSPARK:-}" ]; then
    "$venv/bin/python" -c "import polars, duckdb" 2>/dev/null || "$venv/bin/pip" install --quiet polars duckdb==2.0.1
else
    "$venv/bin/python" -c "import polars, duckdb, pyspark" 2>/dev/null || "$venv/bin/pip" install --quiet polars duckdb==2.0.1 pyspark
    # PySpark needs a Java runtime (Debian's openjdk-17-jre-headless).
    command -v java >/dev/null || { sudo apt-get install -y -qq openjdk-17-jre-headless >/dev/null 2>&1 || apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }
fi
data=bench-data/sales-$rows.csv
if [ ! -f "$data" ]; then
    "$venv/bin/python" - "$rows" "$data" <<'PY'
import random, sys
rows, path = int(sys.argv[1]), sys.argv[2]
random.seed(1)
cats = ["electronics", "furniture", "clothing", "groceries", "sports", "garden", "books", "toys"]
regions = ["north", "south", "east", "west"]
with open(path, "w") as f:
    f.write("transaction_id,date,customer_id,product_category,amount,region\n")
    for i in range(rows):
        f.write(f"T{i:08d},2025-{random.randint(1,12):02d}-{random.randint(1,28):02d},"
                f"C{random.randint(0,99999):05d},{random.choice(cats)},"
                f"{random.randint(0,500000)/100:.2f},{random.choice(regions)}\n")
PY
fi
cargo build --release --quiet -p examples --bin sales_relational
export POLARS_MAX_THREADS=$threads
for run in 1 2 3; do
    "$venv/bin/python" - "$data" "$threads" <<'PY'
import sys, time
import duckdb, polars as pl
path, threads = sys.argv[1], int(sys.argv[2])
t = time.perf_counter()
out = (pl.scan_csv(path, schema_overrides={"amount": pl.Decimal(18, 2)})
       .filter(pl.col("amount") > 1000)
       .group_by("product_category")
       .agg(pl.col("amount").sum().alias("total"), pl.col("amount").mean().alias("average"),
            pl.len().alias("count"))
       .sort("total", descending=True).collect())
print(f"polars: {time.perf_counter() - t:.2f} s")
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
t = time.perf_counter()
con.execute(f"""SELECT product_category, SUM(amount) AS total, AVG(amount) AS average, COUNT(*) AS count
    FROM read_csv('{path}', header=true, columns={{'transaction_id': 'VARCHAR', 'date': 'DATE',
    'customer_id': 'VARCHAR', 'product_category': 'VARCHAR', 'amount': 'DECIMAL(18,2)', 'region': 'VARCHAR'}})
    WHERE amount > 1000 GROUP BY product_category ORDER BY total DESC""").fetchall()
print(f"duckdb: {time.perf_counter() - t:.2f} s")
import os
if os.environ.get("SKIP_PYSPARK"):
    sys.exit(0)
t = time.perf_counter()
from pyspark.sql import SparkSession, functions as F
from pyspark.sql.types import StructType, StructField, StringType, DateType, DecimalType
spark = (SparkSession.builder.master(f"local[{threads}]").config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", str(threads)).getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
started = time.perf_counter() - t
schema = StructType([StructField("transaction_id", StringType()), StructField("date", DateType()),
    StructField("customer_id", StringType()), StructField("product_category", StringType()),
    StructField("amount", DecimalType(18, 2)), StructField("region", StringType())])
t = time.perf_counter()
(spark.read.csv(path, header=True, schema=schema).filter(F.col("amount") > 1000)
 .groupBy("product_category").agg(F.sum("amount").alias("total"), F.avg("amount").alias("average"),
                                  F.count(F.lit(1)).alias("count"))
 .orderBy(F.col("total").desc()).collect())
print(f"pyspark: {time.perf_counter() - t:.2f} s (after {started:.1f} s of start-up)")
spark.stop()
PY
    for form in sql dataframe; do
        TIMEFORMAT="sales_relational --form $form (rayon): %R s"
        time target/release/sales_relational --form $form --runner rayon --parallelism "$threads" --input "$data" > /dev/null
    done
done
