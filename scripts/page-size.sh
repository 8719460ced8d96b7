#!/usr/bin/env bash
# Prints what each page ships, gzipped (`gzip -9`: the .wasm plus its JS glue), and fails when one is
# over its budget. Run after `trunk build --release` of both pages (scripts/test.sh does).
# Usage: scripts/page-size.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Budgets in bytes, wasm + JS glue, each gzip -9. The targets of the page-weight work are 61,440 B
# (checkout page) and 30,720 B (minimal page); these are the sizes reached so far (the checkout
# page's with its trace waterfall), so that a change can only keep or lower them. BENCHMARKS.md
# says what stands between them and the targets, and what each feature costs.
page_budget=54528
minimal_budget=32000

failed=0
# Prints one page's figures and checks its budget: size LABEL DIST BUDGET
size() {
  local label=$1 dist=$2 budget=$3 wasm js wasm_gz js_gz total
  wasm=$(ls "$dist"/*.wasm) js=$(ls "$dist"/*.js)
  wasm_gz=$(gzip -9c "$wasm" | wc -c) js_gz=$(gzip -9c "$js" | wc -c)
  total=$((wasm_gz + js_gz))
  printf '%s: wasm %s B (gzip %s B), js %s B (gzip %s B), total gzip %s B (budget %s B)\n' \
    "$label" "$(wc -c < "$wasm")" "$wasm_gz" "$(wc -c < "$js")" "$js_gz" "$total" "$budget"
  if [ "$total" -gt "$budget" ]; then
    printf '  OVER BUDGET by %s B\n' "$((total - budget))"
    failed=1
  fi
}
size "page size" dist "$page_budget"
size "minimal page" otel-browser/examples/minimal/dist "$minimal_budget"
exit "$failed"
