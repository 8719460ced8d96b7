#!/usr/bin/env bash
# Source this: makes sure the three Go programs of the stack are built under $CHECKOUT_TOOLS (default
# ~/.cache/checkout-trace/tools), and exports their paths:
#
# - OTELCOL_BIN: the OpenTelemetry Collector, built by the OpenTelemetry Collector Builder from
#   otel-collector/builder-config.yaml (the components otel-collector/config.yaml uses, at the
#   contrib release compose.yaml pins);
# - JAEGER_BUILT_BIN: Jaeger v2 (`cmd/jaeger`), built from its Go module at the version pinned in
#   jaeger/go.mod, whose go.sum holds the checksums Go verifies. Built from the module, it has no UI
#   of its own (scripts/dev.sh says what it does about that);
# - PROMETHEUS_BIN: Prometheus (`cmd/prometheus`), the store of the span metrics Jaeger's Monitor
#   tab reads, built from its Go module at the version pinned in prometheus/go.mod (the release
#   compose.yaml pins), with its `remove_all_sd` build tag: it scrapes nothing, so none of its
#   service discoveries (cloud SDKs, Kubernetes) is compiled. Without the `builtinassets` tag (its
#   UI needs npm's build) it serves its API and a page that says the UI is not built in.
#
# Each binary's name carries a hash of what it is built from, so an edited manifest or go.mod builds
# anew and an unchanged one builds nothing. Go's module and build caches live in the tools folder
# too. Go comes from /usr/local/go when it is not on PATH.
tools=${CHECKOUT_TOOLS:-$HOME/.cache/checkout-trace/tools}
go_tools_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The collector builder's release: the collector's own, which the manifest's modules match.
ocb_version=v0.159.0

go_tools_run() (
  # A subshell: Go's settings stay out of the caller's environment.
  export PATH=$PATH:/usr/local/go/bin
  export GOPATH=$tools/go GOMODCACHE=$tools/go/mod GOCACHE=$tools/go/cache
  # The Go on this machine builds every module here (go.mod files ask for 1.24 and 1.25); never
  # download another.
  export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
  "$@"
)

go_tools_hash() { cat "$@" | sha256sum | cut -c1-12; }

mkdir -p "$tools/bin"

OTELCOL_BIN=$tools/bin/otelcol-checkout-$(go_tools_hash "$go_tools_root/otel-collector/builder-config.yaml")
if [ ! -x "$OTELCOL_BIN" ]; then
  echo "go-tools: building the collector (otel-collector/builder-config.yaml, ocb $ocb_version)"
  go_tools_run go install "go.opentelemetry.io/collector/cmd/builder@$ocb_version"
  ocb_out=$(mktemp -d)
  go_tools_run "$tools/go/bin/builder" --config="$go_tools_root/otel-collector/builder-config.yaml" \
    --output-path="$ocb_out" >"$ocb_out.log" 2>&1 || { cat "$ocb_out.log"; rm -rf "$ocb_out"; return 1; }
  mv "$ocb_out/otelcol-checkout" "$OTELCOL_BIN"
  rm -rf "$ocb_out" "$ocb_out.log"
fi
export OTELCOL_BIN

JAEGER_BUILT_BIN=$tools/bin/jaeger-$(go_tools_hash "$go_tools_root/jaeger/go.mod" "$go_tools_root/jaeger/go.sum" \
  <(grep -o "jaegertracing/jaeger:[0-9.]*" "$go_tools_root/compose.yaml"))
if [ ! -x "$JAEGER_BUILT_BIN" ]; then
  jaeger_module=$(grep -o 'github.com/jaegertracing/jaeger v[^ ]*' "$go_tools_root/jaeger/go.mod")
  # Jaeger tags each release twice, and only the v1 tag is a Go module version (v1.75.0 is
  # v2.12.0): the binary reports the v2 release, the one compose.yaml pins (a test holds the two
  # equal).
  jaeger_release=$(grep -o 'jaegertracing/jaeger:[0-9.]*' "$go_tools_root/compose.yaml" | cut -d: -f2)
  echo "go-tools: building Jaeger ($jaeger_module, v$jaeger_release)"
  (cd "$go_tools_root/jaeger" && go_tools_run go build -trimpath -ldflags "-s -w \
    -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$jaeger_release" \
    -o "$JAEGER_BUILT_BIN.partial" github.com/jaegertracing/jaeger/cmd/jaeger) || return 1
  mv "$JAEGER_BUILT_BIN.partial" "$JAEGER_BUILT_BIN"
fi
export JAEGER_BUILT_BIN

PROMETHEUS_BIN=$tools/bin/prometheus-$(go_tools_hash "$go_tools_root/prometheus/go.mod" "$go_tools_root/prometheus/go.sum")
if [ ! -x "$PROMETHEUS_BIN" ]; then
  # Prometheus's module versions are v0.<major><minor>.<patch>: v0.316.0 is 3.16.0.
  prometheus_module=$(grep -o 'github.com/prometheus/prometheus v[^ ]*' "$go_tools_root/prometheus/go.mod")
  prometheus_release=$(echo "${prometheus_module##* }" | sed -E 's/^v0\.([0-9])([0-9][0-9])\.([0-9]+)$/\1.\2.\3/; s/\.0([0-9])\./.\1./')
  echo "go-tools: building Prometheus ($prometheus_module, v$prometheus_release)"
  (cd "$go_tools_root/prometheus" && go_tools_run go build -trimpath -tags remove_all_sd -ldflags "-s -w \
    -X github.com/prometheus/common/version.Version=$prometheus_release" \
    -o "$PROMETHEUS_BIN.partial" github.com/prometheus/prometheus/cmd/prometheus) || return 1
  mv "$PROMETHEUS_BIN.partial" "$PROMETHEUS_BIN"
fi
export PROMETHEUS_BIN
