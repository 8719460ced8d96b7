#!/usr/bin/env bash
# Runs the whole thing on this machine, Docker or not: the page (trunk serve, rebuilt on every edit)
# on http://127.0.0.1:8080, the server on 127.0.0.1:3000, and a collector on :4317/:4318.
#
# - With Docker: the contrib collector and Jaeger from compose.yaml (traces in Jaeger's UI on
#   http://localhost:16686).
# - Without Docker: rotel (pinned, from PyPI) as the collector, printing every trace it receives
#   on this terminal; the page draws each checkout's trace itself.
#
# Ctrl-C stops everything it started. The server reads the variables of .env.example, e.g.
# FAULTS_ENDPOINT=1 scripts/dev.sh to change faults at run time. Usage: scripts/dev.sh
set -euo pipefail
cd "$(dirname "$0")/.."

pids=()
compose_started=""
stop_all() {
  trap - EXIT INT TERM
  # Each child leads its own process group (setsid): this ends trunk's and cargo's children too.
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$compose_started" ]; then docker compose stop jaeger otel-collector >/dev/null || true; fi
  echo "dev: stopped"
}
trap stop_all EXIT INT TERM

# Starts a command in its own process group and remembers it.
start() {
  setsid "$@" &
  pids+=($!)
}

# Waits (up to $2 seconds) until something answers on 127.0.0.1:$1.
wait_for_port() {
  for _ in $(seq 1 $(($2 * 5))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "dev: nothing answers on port $1 after $2 s" >&2
  return 1
}

for port in 8080 3000 4318; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "dev: port $port is taken; stop what runs there first" >&2
    exit 1
  fi
done

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo "dev: starting the collector and Jaeger with docker compose"
  docker compose up -d jaeger otel-collector
  compose_started=1
  traces="in Jaeger: http://localhost:16686"
else
  source scripts/rotel.sh
  echo "dev: no Docker here: rotel is the collector and prints each trace below"
  start "$ROTEL_AGENT" start --otlp-grpc-endpoint 127.0.0.1:4317 --otlp-http-endpoint 127.0.0.1:4318 \
    --exporter blackhole --debug-log traces --debug-log-verbosity detailed \
    --batch-timeout 200ms --pid-file "${TMPDIR:-/tmp}/checkout-dev-rotel.pid"
  traces="printed here by rotel, and drawn on the page after each checkout"
fi
wait_for_port 4318 30

cargo build --quiet -p checkout-server
OTEL_BSP_SCHEDULE_DELAY=${OTEL_BSP_SCHEDULE_DELAY:-500} start target/debug/checkout-server
wait_for_port 3000 30

# The first build of the page takes a few minutes (the wasm toolchain is installed once).
start scripts/serve-page.sh
wait_for_port 8080 1200

cat <<EOF

dev: ready
  the page     http://127.0.0.1:8080
  the API      http://127.0.0.1:3000/api/products
  the traces   $traces
Ctrl-C stops everything.
EOF
# Until Ctrl-C, or until one of them stops (then the rest are stopped too).
wait -n "${pids[@]}"
