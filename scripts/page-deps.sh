#!/usr/bin/env bash
# Fails when `opentelemetry_sdk` is in the wasm32 dependency tree of any page: the pages run on
# otel-browser's own SDK behind the `opentelemetry` API (otel-browser/src/lib.rs says why).
# Usage: scripts/page-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."

failed=0
for page in web otel-browser-minimal otel-browser-full; do
  if cargo tree --locked -e normal --target wasm32-unknown-unknown -p "$page" --prefix none \
    | grep -q '^opentelemetry_sdk '; then
    printf '%s: opentelemetry_sdk is in its wasm32 dependencies:\n' "$page"
    cargo tree --locked -e normal --target wasm32-unknown-unknown -p "$page" -i opentelemetry_sdk
    failed=1
  else
    printf '%s: no opentelemetry_sdk in its wasm32 dependencies\n' "$page"
  fi
done
exit "$failed"
