#!/usr/bin/env bash
# Runs the whole thing on this machine, Docker or not: the page (trunk serve, rebuilt on every edit)
# on http://127.0.0.1:8080, the server on 127.0.0.1:3000, the collector on :4317/:4318, Jaeger on
# http://localhost:16686 and Prometheus, which holds the span metrics of Jaeger's Monitor tab, on
# http://localhost:9090. The collector keeps every trace (its tail sampler's share is 100 %).
#
# - With Docker: the contrib collector, Jaeger and Prometheus from compose.yaml.
# - Without Docker: the same three as processes, on the same config files (otel-collector/config.yaml,
#   jaeger/config.yaml, prometheus/prometheus.yml), built from their Go modules by scripts/go-tools.sh. Jaeger's UI comes with
#   a release binary (`JAEGER_BIN`, or `jaeger` on PATH) or a jaeger-ui build (`JAEGER_UI_ASSETS`,
#   a directory); the Jaeger built from its module has none (it serves a placeholder page), so this
#   also prints each new trace's URL in Jaeger's API. Its traces are kept in Badger under
#   ${XDG_STATE_HOME:-~/.local/state}/checkout-trace/jaeger, across runs, as compose's volume keeps them
#   (and Prometheus's beside them).
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
  if [ -n "$compose_started" ]; then docker compose stop prometheus jaeger otel-collector >/dev/null || true; fi
  echo "dev: stopped"
}
trap stop_all EXIT INT TERM

# Prints each trace Jaeger gets from now on, once, with its URL in Jaeger's query API (for the Jaeger
# built from its Go module, whose UI is a placeholder).
watch_traces() {
  local query=http://localhost:16686 since seen
  since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  seen=$(mktemp)
  while sleep 1; do
    for service in checkout-web checkout-server; do
      curl -fsS "$query/api/v3/traces?query.service_name=$service&query.start_time_min=$since&query.start_time_max=2999-01-01T00:00:00Z&query.num_traces=1000" \
        2>/dev/null || true
    done | grep -o '"traceId":"[0-9a-f]\{32\}"' | cut -d'"' -f4 | sort -u | while read -r id; do
      if ! grep -qx "$id" "$seen"; then
        echo "$id" >>"$seen"
        echo "dev: trace $id in Jaeger: $query/api/v3/traces/$id"
      fi
    done
  done
}

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

# The page, the server, the collector's receivers (the server's; the page's) and its health check,
# Jaeger's UI and API, its own OTLP receivers, its health check, the two processes' metrics, and
# Prometheus.
for port in 8080 3000 4317 4318 4319 13133 16686 16685 14317 14318 13134 8888 8889 9090; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "dev: port $port is taken; stop what runs there first" >&2
    exit 1
  fi
done

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo "dev: starting the collector, Jaeger and Prometheus with docker compose"
  docker compose up -d prometheus jaeger otel-collector
  compose_started=1
  traces="in Jaeger: http://localhost:16686"
else
  echo "dev: no Docker here: the collector, Jaeger and Prometheus run as processes (scripts/go-tools.sh builds them once)"
  source scripts/go-tools.sh
  jaeger=${JAEGER_BIN:-$(command -v jaeger || true)}
  if [ -n "$jaeger" ]; then
    traces="in Jaeger: http://localhost:16686 ($jaeger)"
  elif [ -n "${JAEGER_UI_ASSETS:-}" ]; then
    jaeger=$JAEGER_BUILT_BIN
    traces="in Jaeger: http://localhost:16686 (the UI from $JAEGER_UI_ASSETS)"
  else
    jaeger=$JAEGER_BUILT_BIN
    watch_traces=1
    traces="in Jaeger's API (this Jaeger has no UI: each trace's URL is printed below as it arrives)"
  fi
  badger=${XDG_STATE_HOME:-$HOME/.local/state}/checkout-trace/jaeger
  prometheus_data=${XDG_STATE_HOME:-$HOME/.local/state}/checkout-trace/prometheus
  mkdir -p "$badger" "$prometheus_data"
  # Compose's flags (compose.yaml; a test holds the two equal).
  start "$PROMETHEUS_BIN" --config.file=prometheus/prometheus.yml --web.listen-address=127.0.0.1:9090 \
    --storage.tsdb.path="$prometheus_data" --web.enable-otlp-receiver \
    --enable-feature=created-timestamp-zero-ingestion
  # Compose's addresses where they are this host's too; Jaeger's own receivers, health check and
  # metrics move aside for the collector's.
  JAEGER_OTLP_GRPC_ENDPOINT=127.0.0.1:14317 JAEGER_OTLP_HTTP_ENDPOINT=127.0.0.1:14318 \
    JAEGER_QUERY_HTTP_ENDPOINT=127.0.0.1:16686 JAEGER_QUERY_GRPC_ENDPOINT=127.0.0.1:16685 \
    JAEGER_HEALTH_ENDPOINT=127.0.0.1:13134 JAEGER_METRICS_PORT=8889 JAEGER_BADGER_DIR=$badger \
    PROMETHEUS_URL=http://127.0.0.1:9090 start "$jaeger" --config=jaeger/config.yaml
  wait_for_port 14317 60
  COLLECTOR_OTLP_GRPC_ENDPOINT=127.0.0.1:4317 COLLECTOR_OTLP_HTTP_ENDPOINT=127.0.0.1:4318 \
    COLLECTOR_PUBLIC_HTTP_ENDPOINT=127.0.0.1:4319 COLLECTOR_HEALTH_ENDPOINT=127.0.0.1:13133 \
    JAEGER_OTLP_GRPC_TARGET=127.0.0.1:14317 \
    PROMETHEUS_OTLP_METRICS_URL=http://127.0.0.1:9090/api/v1/otlp/v1/metrics \
    start "$OTELCOL_BIN" --config=otel-collector/config.yaml \
    --feature-gates=processor.tailsamplingprocessor.usetracestate
fi
wait_for_port 4318 60
wait_for_port 16686 60

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
  the metrics  Jaeger's Monitor tab, or its API: http://localhost:16686/api/metrics/calls?service=checkout-server
               (every 15 s, from every span; Prometheus's on http://localhost:9090)
Ctrl-C stops everything.
EOF
# (A function, run by a shell of its own: `start` gives each child its own process group.)
if [ -n "${watch_traces:-}" ]; then start bash -c "$(declare -f watch_traces); watch_traces"; fi
# Until Ctrl-C, or until one of them stops (then the rest are stopped too).
wait -n "${pids[@]}"
