#!/usr/bin/env bash
# Runs every test of the project, installing what is missing and reusing what is there:
# host format/lint/tests and the reliability drills, the collector and Jaeger (built from their Go
# modules), the wasm toolchain, wasm lint, browser tests in headless Chromium, and the page's
# offline release build, then the end-to-end tests (a real browser, the page's nginx, the real
# server, the collector and Jaeger on the project's own configs). Prints how long each phase took.
# Usage: scripts/test.sh [PHASE…]: with no PHASE, every phase, as CI runs it; with some, those
# (and what they need that no other phase chosen does: the end-to-end tests build the pages and
# the Go programs). The phases, in their order:
#   format lint host-tests postgres-tests drills go-tools wasm-lint browser-tests pages e2e
#
# On a fresh machine the wasm toolchain's tools are compiled first (scripts/wasm-toolchain.sh):
# that runs in the background while the host phases run, and the wasm phases wait for it. It runs
# in a session of its own, so that it can be stopped as a whole. Linux's autogroups then share the
# CPU evenly between that session and this one (its `nice` acts only inside it; `ionice` puts its
# disk writes behind the tests'). Both cores stay busy while either side waits.
set -euo pipefail
cd "$(dirname "$0")/.."

all_phases=(format lint host-tests postgres-tests drills go-tools wasm-lint browser-tests pages e2e)
selected=("$@")
for name in "${selected[@]}"; do
  if [[ " ${all_phases[*]} " != *" $name "* ]]; then
    echo "scripts/test.sh: no phase '$name'; the phases: ${all_phases[*]}" >&2
    exit 2
  fi
done
[ $# -gt 0 ] || selected=("${all_phases[@]}")
# Whether phase $1 runs.
want() { [[ " ${selected[*]} " == *" $1 "* ]]; }
# The end-to-end tests serve the release pages and run the Go-built collector and Jaeger.
if want e2e; then selected+=(pages go-tools); fi

# The test builds keep line tables (a failure's backtrace still names file and line) but not the
# rest of the debug info: it costs every debug build time, and with it each wasm test binary is
# 28-37 MB for wasm-bindgen to read. In CI every build is a first one: incremental compilation
# would only add its bookkeeping.
export CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

timings=()
current=""
started=0
busy_at_start=0
# The machine's busy CPU time so far, in core-seconds (every process's, the background builds' too):
# beside a phase's wall time it says whether the phase waited or computed.
busy() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%d", ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat; }
# Starts a named phase, closing the one before.
phase() {
  finish
  current=$1
  started=$SECONDS
  busy_at_start=$(busy)
  printf '\n==> %s\n' "$current"
}
finish() {
  if [ -n "$current" ]; then
    timings+=("$(printf '%-32s %5ss  (CPU busy %ss)' "$current" "$((SECONDS - started))" \
      "$(($(busy) - busy_at_start))")")
    current=""
  fi
}
pids=()
tools_group=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -z "$tools_group" ] || kill -- "-$tools_group" 2>/dev/null || true
  finish
  printf '\nPhase timings:\n'
  printf '  %s\n' "${timings[@]}"
}
trap cleanup EXIT
source scripts/apt.sh

if want format; then
  phase "format"
  cargo fmt --all -- --check
fi

if want host-tests || want postgres-tests; then
  phase "PostgreSQL binaries"
  # The tests start their own throwaway PostgreSQL from these binaries
  # (test-support/src/postgres.rs), or use the server TEST_POSTGRES_URL names. Installed only when
  # missing.
  if [ -z "${TEST_POSTGRES_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt_install postgresql
  fi
fi

if want host-tests || want drills; then
  phase "collector (rotel)"
  # rotel: a Rust OTLP collector on PyPI, pinned, installed in seconds. The server's process tests
  # and the drills send to it over gRPC and HTTP and read what it forwards; they run in the first
  # minutes, before the Go-built collector below exists on a fresh machine.
  source scripts/rotel.sh
  "$ROTEL_AGENT" version
fi

if want browser-tests || want e2e; then
  phase "browser (Chromium + chromedriver) and nginx"
  # Chromium and its driver from one apt run, so their versions match; nginx for the page's nginx
  # config test (e2e/tests/nginx.rs). Skipped when present.
  apt_install chromium chromium-driver nginx-light
  chromium --version
fi

mkdir -p test-artifacts
wasm_tools=""
if want wasm-lint || want browser-tests || want pages; then
  wasm_tools=1
  # The last of the apt runs above; the wasm toolchain's own (npm, and Debian's rustc-web where
  # rustup has no wasm32 target) comes next, in the background, so no two ever overlap.
  tools_log=$PWD/test-artifacts/wasm-toolchain.log
  setsid nice -n 19 ionice -c 3 bash -c \
    'started=$SECONDS; source scripts/wasm-toolchain.sh; [ $? -eq 0 ] || exit 1
     echo "tools ready in $((SECONDS - started)) s"' \
    > "$tools_log" 2>&1 &
  tools_group=$!
fi

if want lint; then
  phase "lint (host)"
  cargo clippy --workspace --all-targets --locked -- -D warnings
fi

# Every host build below selects the same packages as the host tests (or a subset whose features
# are the same, as `-p checkout-server` with its tests is): cargo unifies dependency features over
# the packages a command selects, so `cargo build -p checkout-server` or `cargo run -p drills` would
# compile tokio, sqlx, axum and all above them again.
if want host-tests; then
  phase "host tests (every crate but e2e: unit, API, process, replica tests)"
  # `e2e` needs the whole stack; it runs last, below.
  cargo test --workspace --exclude e2e --locked
fi
if want host-tests || want drills || want e2e; then
  # The binaries (the server for the drills and e2e, the drills), from the same build: nothing to
  # do after the host tests. Without them, a phase of its own, so its time is not another's.
  want host-tests || phase "host binaries (the server, the drills)"
  cargo build --workspace --exclude e2e --bins --tests --locked
fi

if want postgres-tests; then
  phase "API tests on PostgreSQL"
  TEST_DATABASE=postgres cargo test -p checkout-server --test api --locked
fi

e2e_build=""
if want drills; then
  phase "reliability drills (concurrency, crash, traces under load)"
  if want e2e; then
    # Meanwhile, e2e's tests compile (their own package selection, so their own build), at the
    # lowest priority: the drills mostly wait on the server.
    nice -n 19 cargo test -p e2e --locked --no-run > test-artifacts/e2e-build.log 2>&1 &
    e2e_build=$!
    pids+=("$e2e_build")
  fi
  CHECKOUT_SERVER_BIN=$PWD/target/debug/checkout-server timeout 600 target/debug/drills
fi

if want go-tools; then
  phase "collector, Jaeger and Prometheus (built from their Go modules)"
  # scripts/go-tools.sh: the collector from otel-collector/builder-config.yaml, Jaeger from
  # jaeger/go.mod, Prometheus from prometheus/go.mod; nothing to do when built before. On a fresh
  # machine this shares the CPU with the wasm tools' background build, which the next phase waits
  # for anyway.
  source scripts/go-tools.sh
  "$OTELCOL_BIN" --version
  "$JAEGER_BUILT_BIN" version 2>/dev/null | tail -n 1
  "$PROMETHEUS_BIN" --version | head -n 1
fi

if [ -n "$wasm_tools" ]; then
  phase "wasm toolchain (waiting for its background install)"
  if ! wait "$tools_group"; then
    cat "$tools_log"
    echo "the wasm toolchain did not install" >&2
    exit 1
  fi
  tools_group=""
  cat "$tools_log"
  # Every wasm-side command runs in a subshell with this environment, never the host builds.
  # (Not `source … &&`: that would switch off `set -e` inside the script.)
  (
    source scripts/wasm-toolchain.sh
    wasm-bindgen --version
    trunk --version
    wasm-opt --version
  )
fi

if want wasm-lint; then
  phase "lint (wasm32)"
  (
    source scripts/wasm-toolchain.sh
    # The browser tests bake in their receiver's URL; any value type-checks them. The minimal
    # page's benchmark hooks (scripts/js-peer-bench.sh) are checked too.
    export TEST_RECEIVER_URL=http://127.0.0.1:1
    if [ -z "${RUSTC_BOOTSTRAP:-}" ]; then
      cargo clippy -p otel-browser -p otel-browser-minimal -p otel-browser-full -p web --target wasm32-unknown-unknown \
        --features otel-browser-minimal/bench,otel-browser-full/bench,otel-browser/gloo-net --all-targets --locked -- -D warnings
    else
      # Debian's rustc-web has no clippy: type-check the wasm-only code instead.
      RUSTFLAGS="-D warnings" cargo check -p otel-browser -p otel-browser-minimal -p otel-browser-full -p web \
        --target wasm32-unknown-unknown --features otel-browser-minimal/bench,otel-browser-full/bench,otel-browser/gloo-net --all-targets --locked
    fi
    # The SDK with no instrumentation (the minimal page's build) and with each one alone: the
    # lines above build it with all of them, the features of the pages unified.
    for feature in "" errors fetch interaction offline page-load session web-vitals; do
      RUSTFLAGS="-D warnings" cargo check -q -p otel-browser --target wasm32-unknown-unknown --locked \
        --no-default-features --features "$feature"
    done
    # The SDK's snippets are their readable sources, minified (esbuild, from the toolchain).
    python3 scripts/snippets.py --check
    # The transport's retry schedule, natively on a fake clock (Node, which npm brought).
    node --test otel-browser/js/transport.test.mjs
    # The SDK's docs as docs.rs builds them (wasm32, every feature, what is wasm32-only or behind a
    # feature marked by `doc(cfg)`, a nightly feature: hence RUSTC_BOOTSTRAP for this one command),
    # and its doc examples compiled for the browser they are written for (each `no_run`).
    RUSTDOCFLAGS="--cfg docsrs -D warnings" RUSTC_BOOTSTRAP=1 cargo doc --no-deps -p otel-browser \
      --target wasm32-unknown-unknown --all-features --locked
    cargo test --doc -p otel-browser --target wasm32-unknown-unknown --features gloo-net --locked
  )
fi

if want browser-tests; then
  phase "browser tests (wasm-bindgen-test)"
  # Their receiver: test-support's test-receiver (the fake collector's route, healthy and hanging,
  # and a fake API, behind CORS), a host binary. Built with the others above when they were, else
  # alone.
  want host-tests || want drills || want e2e || cargo build -p test-support --bin test-receiver --locked
  receiver_port_file=$(mktemp)
  target/debug/test-receiver > "$receiver_port_file" &
  receiver=$!
  pids+=("$receiver")
  for _ in $(seq 1 50); do [ -s "$receiver_port_file" ] && break; sleep 0.1; done
  [ -s "$receiver_port_file" ] || { echo "the browser tests' receiver did not say its port in 5 s" >&2; exit 1; }
  receiver_url="http://127.0.0.1:$(head -n 1 "$receiver_port_file")"
  (
    source scripts/wasm-toolchain.sh
    # `gloo-net`: the traced gloo-net request is tested with the rest.
    TEST_RECEIVER_URL=$receiver_url timeout 900 cargo test -p otel-browser -p web --features otel-browser/gloo-net \
      --target wasm32-unknown-unknown --locked
  )
  kill "$receiver"
fi

if want pages; then
  phase "page release builds (trunk), their dependencies and sizes"
  # The pages run on otel-browser's SDK: opentelemetry_sdk in their wasm32 tree fails the run.
  scripts/page-deps.sh
  (
    source scripts/wasm-toolchain.sh
    # trunk builds offline (TRUNK_OFFLINE): the page's crates and, with build-std, std's own come
    # first (on a fresh machine run with only this phase, nothing else has fetched them).
    cargo fetch --target wasm32-unknown-unknown --locked
    trunk build --release
    (cd otel-browser/examples/minimal && trunk build --release)
    (cd otel-browser/examples/full && trunk build --release)
  )
  scripts/page-size.sh
fi

if want e2e; then
  phase "end-to-end tests (browser → nginx → server → collector → Jaeger)"
  if [ -n "$e2e_build" ]; then wait "$e2e_build" || { cat test-artifacts/e2e-build.log; exit 1; }; fi
  # Meanwhile, at the lowest priority, the page's dev build that `scripts/dev.sh` serves (trunk
  # serve's, into a directory of its own): its test (e2e/tests/dev_command.rs) comes a few minutes
  # in, and until then the tests mostly wait on spans, the CPU idle. trunk serve then finds it
  # built (or waits on cargo's lock for it), rather than compiling it while the test waits.
  if [ -n "$wasm_tools" ]; then
    dev_dist=$(mktemp -d)
    (source scripts/wasm-toolchain.sh; nice -n 19 trunk build --dist "$dev_dist") \
      > test-artifacts/dev-page-build.log 2>&1 &
    pids+=($!)
  fi
  # Two lanes, each one test at a time: the tests mostly wait on spans (with one lane the CPU was a
  # third busy), so two test binaries run side by side. The delivery drill, which times the page's
  # retries, shares its lane with tests that run no load; `loadgen`'s bursts (collector.rs) are in
  # the other. Each lane is a test binary list; the second's output is printed when it ends.
  # Every test file is in a lane.
  for file in e2e/tests/*.rs e2e/tests/*/main.rs; do
    name=$(basename "${file%/main.rs}" .rs)
    grep -q -- "--test $name " scripts/test.sh || { echo "e2e/tests: $name is in no lane" >&2; exit 1; }
  done
  export PAGE_DIST=$PWD/dist CHECKOUT_SERVER_BIN=$PWD/target/debug/checkout-server
  lane() { timeout 900 cargo test -p e2e --locked "$@" -- --test-threads=1; }
  lane --test delivery --test dev_command --test nginx > test-artifacts/e2e-lane-2.log 2>&1 &
  lane_2=$!
  pids+=("$lane_2")
  lane_1_status=0
  lane --lib --test checkout --test collector --test compose --test minimal --test pipeline \
    || lane_1_status=$?
  lane_2_status=0
  wait "$lane_2" || lane_2_status=$?
  cat test-artifacts/e2e-lane-2.log
  if [ "$lane_1_status" -ne 0 ] || [ "$lane_2_status" -ne 0 ]; then exit 1; fi
fi
