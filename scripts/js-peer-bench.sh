#!/usr/bin/env bash
# The side-by-side benchmark against OpenTelemetry JS (BENCHMARKS.md, "Against OpenTelemetry JS"):
# builds two pairs of pages, each page as shipped and with the benchmark's hooks, and runs all of
# them in one headless Chromium, each pair alternating (scripts/js-peer-bench.py), then prints the
# table:
# - minimal: otel-browser's minimal page (otel-browser/examples/minimal) and the same page written
#   with OpenTelemetry JS (js-peer/minimal.js: @opentelemetry/sdk-trace-web 2.x,
#   BatchSpanProcessor, exporter-trace-otlp-proto, instrumentation-fetch);
# - full: otel-browser's full page (otel-browser/examples/full: the minimal page plus fetch,
#   page-load, web vitals, errors, sessions, user interactions) and its OpenTelemetry JS
#   counterpart (js-peer/full.js: the same plus context-zone, instrumentation-document-load,
#   instrumentation-user-interaction and web-vitals).
# The JS pages come from otel-browser/examples/minimal/js-peer/, from npm at the pinned versions of
# its lock file, bundled by esbuild --minify; the Rust pages from trunk build --release (with the
# `bench` cargo feature for the hooks).
# Usage: scripts/js-peer-bench.sh [--rounds R] [--spans N] [--throttle RATE]   (RATE 4 by default; 1 skips
#        the throttled rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
js_peer=otel-browser/examples/minimal/js-peer
full=otel-browser/examples/full
# The full pair is not optional: without otel-browser's full page there is nothing to compare.
if [ ! -f "$full/Cargo.toml" ] || [ ! -f "$full/index.html" ]; then
  echo "js-peer-bench: $full (the Rust full page, with Cargo.toml and index.html) does not exist;" \
    "the full pair needs it" >&2
  exit 1
fi
if ! grep -q '^bench *=' "$full/Cargo.toml"; then
  echo "js-peer-bench: $full/Cargo.toml has no \`bench\` feature (the benchmark's hooks)" >&2
  exit 1
fi
peer=${CHECKOUT_TOOLS:-$HOME/.cache/checkout-trace/tools}/js-peer
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Chromium and its driver, as scripts/test.sh installs them.
source scripts/apt.sh
apt_install chromium chromium-driver

echo "==> OpenTelemetry JS pages (npm ci, esbuild --minify)" >&2
mkdir -p "$peer"
cp "$js_peer/package.json" "$js_peer/package-lock.json" "$js_peer"/*.js "$peer/"
if ! cmp -s "$peer/package-lock.json" "$peer/node_modules/.package-lock.json.installed" 2>/dev/null; then
  (cd "$peer" && npm ci --silent --no-audit --no-fund)
  cp "$peer/package-lock.json" "$peer/node_modules/.package-lock.json.installed"
fi
for variant in js:minimal js-bench:bench js-full:full js-full-bench:full-bench; do
  dir=$out/${variant%%:*} entry=${variant##*:}
  mkdir -p "$dir"
  (cd "$peer" && node_modules/.bin/esbuild "$entry.js" --bundle --minify --format=iife \
    --log-level=warning --outfile="$dir/main.js")
  title="the minimal page"
  case $entry in full*) title="the full page" ;; esac
  sed -e 's/SCRIPT/main.js/' -e "s/the minimal page/$title/" "$js_peer/index.html" > "$dir/index.html"
done

echo "==> otel-browser pages (trunk build --release)" >&2
(
  source scripts/wasm-toolchain.sh
  for page in minimal:rust full:rust-full; do
    name=${page##*:}
    (
      cd "otel-browser/examples/${page%%:*}"
      trunk build --release --dist "$out/$name" >/dev/null
      trunk build --release --features bench --public-url "/$name-bench/" --dist "$out/$name-bench" >/dev/null
    )
  done
)

echo "==> all four in one Chromium" >&2
python3 "$repo/scripts/js-peer-bench.py" "$out" "$@"
