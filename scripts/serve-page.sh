#!/usr/bin/env bash
# The page's dev server: `trunk serve` on http://127.0.0.1:8080, with /api proxied to the server
# (127.0.0.1:3000) and /v1/traces to the collector (127.0.0.1:4318), as Trunk.toml says. Installs
# the wasm toolchain when missing (scripts/wasm-toolchain.sh). Extra arguments go to trunk.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wasm-toolchain.sh
exec trunk serve "$@"
