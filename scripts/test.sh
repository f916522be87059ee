#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration and documentation tests.
# This is the test command of README.md; CI runs it through .ci/run.
# The connector integration tests need a real redis-server and Kafka-protocol
# broker: scripts/services.sh installs and starts them on 127.0.0.1 and stops
# them when this script exits.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
cargo test --workspace --all-targets
cargo test --workspace --doc
