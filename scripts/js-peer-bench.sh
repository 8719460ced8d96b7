#!/usr/bin/env bash
# The side-by-side benchmark against OpenTelemetry JS (BENCHMARKS.md, "Against OpenTelemetry JS"):
# builds otel-browser's minimal page and the same page written with OpenTelemetry JS
# (otel-browser/examples/minimal/js-peer/: @opentelemetry/sdk-trace-web 2.x, BatchSpanProcessor,
# exporter-trace-otlp-proto, instrumentation-fetch, from npm at the pinned versions of its lock
# file, bundled by esbuild --minify), each as shipped and with the benchmark's hooks, then runs
# both in one headless Chromium, alternating (scripts/js-peer-bench.py), and prints the table.
# Usage: scripts/js-peer-bench.sh [--rounds R] [--spans N]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
peer=${CHECKOUT_TOOLS:-$HOME/.cache/checkout-trace/tools}/js-peer
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Chromium and its driver, as scripts/test.sh installs them.
if ! dpkg -s chromium chromium-driver >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

echo "==> OpenTelemetry JS page (npm ci, esbuild --minify)" >&2
mkdir -p "$peer"
cp otel-browser/examples/minimal/js-peer/package.json otel-browser/examples/minimal/js-peer/package-lock.json \
  otel-browser/examples/minimal/js-peer/*.js "$peer/"
if ! cmp -s "$peer/package-lock.json" "$peer/node_modules/.package-lock.json.installed" 2>/dev/null; then
  (cd "$peer" && npm ci --silent --no-audit --no-fund)
  cp "$peer/package-lock.json" "$peer/node_modules/.package-lock.json.installed"
fi
for variant in js:minimal js-bench:bench; do
  dir=$out/${variant%%:*} entry=${variant##*:}
  mkdir -p "$dir"
  (cd "$peer" && node_modules/.bin/esbuild "$entry.js" --bundle --minify --format=iife \
    --log-level=warning --outfile="$dir/main.js")
  sed 's/SCRIPT/main.js/' otel-browser/examples/minimal/js-peer/index.html > "$dir/index.html"
done

echo "==> otel-browser page (trunk build --release)" >&2
(
  source scripts/wasm-toolchain.sh
  cd otel-browser/examples/minimal
  trunk build --release --dist "$out/rust" >/dev/null
  trunk build --release --features bench --public-url /rust-bench/ --dist "$out/rust-bench" >/dev/null
)

echo "==> both in one Chromium" >&2
python3 "$repo/scripts/js-peer-bench.py" "$out" "$@"
