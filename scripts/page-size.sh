#!/usr/bin/env bash
# Prints what each page ships, gzipped (`gzip -9`: the .wasm plus its JS glue), and fails when one is
# over its budget. Run after `trunk build --release` of the three pages (scripts/test.sh does).
# Usage: scripts/page-size.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Budgets in bytes, wasm + JS glue (+ the snippets it imports), each gzip -9: the sizes reached,
# rounded up to 256 B and never above the page's target, so that a change keeps or lowers them
# (one that must raise one says in BENCHMARKS.md what it bought and what it cost). The targets:
# 61,440 B (the checkout page, every instrumentation and the offline queue installed), 26,112 B
# (the minimal page, none, with the retries and the loss reports: issue 31), 43,008 B (the full
# page, all of them and the offline queue: issue 31); BENCHMARKS.md ("Page size") has how each
# was reached.
page_budget=61184
page_target=61440
minimal_budget=25600
minimal_target=26112
full_budget=43008
full_target=43008

failed=0
# Prints one page's figures and checks its budget: size LABEL DIST BUDGET TARGET
size() {
  local label=$1 dist=$2 budget=$3 target=$4 wasm js wasm_gz js_gz total loader snippet
  # The dist also holds otel-browser's module loader (`loader-<hash>.js`, reported apart: it
  # stands for trunk's inline loader script, which was never counted): the glue is the other
  # script, with the JS snippets it imports (`snippets/…`, counted with it).
  wasm=$(ls "$dist"/*_bg.wasm) js=$(ls "$dist"/*.js | grep -v '/loader-[^/]*\.js$')
  wasm_gz=$(gzip -9c "$wasm" | wc -c) js_gz=$(gzip -9c "$js" | wc -c)
  # wasm-bindgen writes every linked crate's snippets; the browser fetches those the glue imports.
  while IFS= read -r snippet; do
    js_gz=$((js_gz + $(gzip -9c "$dist/$snippet" | wc -c)))
  done < <(grep -o "snippets/[^'\"]*\.js" "$js" | sort -u)
  total=$((wasm_gz + js_gz))
  # What the page ships and preloads is what its glue imports: nothing more (a stale snippet is
  # one more request before the module can start).
  for snippet in "$dist"/snippets/*/*.js; do
    [ -e "$snippet" ] || continue
    if ! grep -q "${snippet#"$dist"/}" "$js"; then
      printf '%s: ships %s, which its glue does not import\n' "$label" "${snippet#"$dist"/}"
      failed=1
    fi
  done
  printf '%s: wasm %s B (gzip %s B), js %s B (gzip %s B), total gzip %s B (budget %s B, target %s B: %s)\n' \
    "$label" "$(wc -c < "$wasm")" "$wasm_gz" "$(wc -c < "$js")" "$js_gz" "$total" "$budget" \
    "$target" "$([ "$total" -le "$target" ] && echo met || echo "missed by $((total - target)) B")"
  for loader in "$dist"/loader-*.js; do
    [ -e "$loader" ] && printf '  and the module loader %s: %s B (gzip %s B)\n' "${loader##*/}" \
      "$(wc -c < "$loader")" "$(gzip -9c "$loader" | wc -c)"
  done
  if [ "$total" -gt "$budget" ]; then
    printf '  OVER BUDGET by %s B\n' "$((total - budget))"
    failed=1
  fi
}
size "page size" dist "$page_budget" "$page_target"
size "minimal page" otel-browser/examples/minimal/dist "$minimal_budget" "$minimal_target"
size "full page" otel-browser/examples/full/dist "$full_budget" "$full_target"
exit "$failed"
