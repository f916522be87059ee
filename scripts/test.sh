#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration and documentation tests.
# This is the test command of README.md; CI runs it through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
cargo test --workspace --doc
