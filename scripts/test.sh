#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration and documentation tests.
# This is the test command of README.md; CI runs it through .ci/run.
# The connector integration tests need a real redis-server and Kafka-protocol
# broker: scripts/services.sh installs and starts them on 127.0.0.1 and stops
# them when this script exits.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
# The SQL suite compares its results with DuckDB's, from PyPI, in a venv
# kept under target/ (created once; a pinned version, so results are stable).
oracle=target/sql-oracle-venv
if [ ! -x "$oracle/bin/python" ] || ! "$oracle/bin/python" -c "import duckdb" 2>/dev/null; then
    python3 -m venv "$oracle"
    "$oracle/bin/pip" install --quiet duckdb==2.0.1
fi
export BEAM_SQL_ORACLE_PYTHON="$PWD/$oracle/bin/python"
cargo test --workspace --all-targets
cargo test --workspace --doc
