//! The OpenTelemetry Collector, as compose runs it but as a process: built from
//! `otel-collector/builder-config.yaml` (the components of the config, at compose's contrib
//! release), on `otel-collector/config.yaml` unmodified, its addresses given through the variables
//! the file reads (`${env:NAME:-compose's value}`).
//!
//! The binary is `OTELCOL_BIN` (`scripts/go-tools.sh` builds it; `scripts/test.sh` sets it).

use std::net::SocketAddr;

use crate::distribution::Distribution;

/// The collector's feature gates, as compose's command gives them (a test in `e2e/tests/compose`
/// holds the two equal): the tail sampler reads and writes the trace's `ot=th`
/// (otel-collector/config.yaml, `tail_sampling`).
pub const FEATURE_GATES: &str = "--feature-gates=processor.tailsamplingprocessor.usetracestate";

/// A running collector exporting traces to a Jaeger and span metrics to a Prometheus.
pub struct Otelcol {
    /// The server's receiver, OTLP/gRPC (compose's `otel-collector:4317`): where a first tier
    /// sends to the second.
    pub otlp_grpc: SocketAddr,
    /// The server's receiver, OTLP/HTTP (compose's `otel-collector:4318`).
    pub otlp_http: SocketAddr,
    /// The page's receiver, `otlp/public` (compose's `otel-collector:4319`, behind nginx).
    pub public_http: SocketAddr,
    /// Its own metrics, Prometheus's text format at `/metrics` (the tail sampler's among them).
    pub metrics: SocketAddr,
    distribution: Distribution,
}

impl Otelcol {
    /// Starts the collector on free loopback ports (started again on fresh ones if one was taken:
    /// [`Distribution::start`]), exporting to Jaeger's OTLP/gRPC receiver at `jaeger` and to
    /// Prometheus's OTLP receiver at `prometheus` (its metrics URL), with `settings` (variables the
    /// config reads, such as `TAIL_SAMPLING_PERCENTAGE`) on top.
    pub async fn start(
        jaeger: SocketAddr,
        prometheus: &str,
        settings: &[(&'static str, String)],
    ) -> Self {
        Self::start_sampling(jaeger, prometheus, settings, None).await
    }

    /// [`Otelcol::start`] for a second-tier collector: its OTLP/gRPC receiver, where the first
    /// tier sends, at `otlp_grpc` (each of the tier on its own loopback address and the same port,
    /// as compose's replicas are), the rest on free loopback ports.
    pub async fn start_sampling(
        jaeger: SocketAddr,
        prometheus: &str,
        settings: &[(&'static str, String)],
        otlp_grpc: Option<SocketAddr>,
    ) -> Self {
        let mut env = vec![
            ("JAEGER_OTLP_GRPC_TARGET", jaeger.to_string()),
            ("PROMETHEUS_OTLP_METRICS_URL", prometheus.to_owned()),
        ];
        env.extend(settings.iter().cloned());
        Self::start_on("otel-collector/config.yaml", env, otlp_grpc).await
    }

    /// Starts the scale profile's first tier (`otel-collector/routing.yaml`) the same way, routing
    /// by trace id to the second-tier collectors that `hostname` resolves to, on `port`: compose's
    /// resolver (`dns`, the name re-read every 5 s), with the name in `/etc/hosts` here
    /// ([`crate::hosts`]) where compose's is Docker's DNS.
    pub async fn start_routing(hostname: &str, port: u16) -> Self {
        let resolver = format!("{{dns: {{hostname: {hostname}, port: '{port}'}}}}");
        Self::start_on(
            "otel-collector/routing.yaml",
            vec![("SAMPLING_TIER_RESOLVER", resolver)],
            None,
        )
        .await
    }

    /// Starts a collector on `config` with its addresses on free loopback ports (its OTLP/gRPC
    /// receiver on `otlp_grpc` if given) and `settings` on top.
    async fn start_on(
        config: &'static str,
        settings: Vec<(&'static str, String)>,
        otlp_grpc: Option<SocketAddr>,
    ) -> Self {
        let binary = std::env::var_os("OTELCOL_BIN").expect(
            "OTELCOL_BIN names the collector built from otel-collector/builder-config.yaml: \
             `source scripts/go-tools.sh` builds it (scripts/test.sh does)",
        );
        let (distribution, [otlp_grpc, otlp_http, public_http, _, metrics]) = Distribution::start(
            "otelcol",
            binary,
            config,
            &[FEATURE_GATES],
            |addrs| {
                if let Some(given) = otlp_grpc {
                    addrs[0] = given;
                }
                let [otlp_grpc, otlp_http, public_http, health, metrics] = addrs;
                let mut env = vec![
                    ("COLLECTOR_OTLP_GRPC_ENDPOINT", otlp_grpc.to_string()),
                    ("COLLECTOR_OTLP_HTTP_ENDPOINT", otlp_http.to_string()),
                    ("COLLECTOR_PUBLIC_HTTP_ENDPOINT", public_http.to_string()),
                    ("COLLECTOR_HEALTH_ENDPOINT", health.to_string()),
                    ("COLLECTOR_METRICS_PORT", metrics.port().to_string()),
                ];
                env.extend(settings.iter().cloned());
                env
            },
            &[
                ("the collector's OTLP/gRPC receiver", 0),
                ("the collector's OTLP/HTTP receiver", 1),
                ("the collector's public OTLP/HTTP receiver", 2),
            ],
        )
        .await;
        Self {
            otlp_grpc,
            otlp_http,
            public_http,
            metrics,
            distribution,
        }
    }

    /// Its own metrics, Prometheus's text format.
    pub async fn own_metrics(&self) -> String {
        let response = reqwest::get(format!("http://{}/metrics", self.metrics))
            .await
            .unwrap_or_else(|e| panic!("the collector's metrics at {}: {e}", self.metrics));
        response.text().await.expect("the collector's metrics")
    }

    /// Stops it as `docker compose stop` does (SIGTERM): what it holds is exported first.
    pub async fn stop(&mut self) {
        self.distribution.stop().await;
    }

    /// Kills it (SIGKILL), as when its machine dies: what it holds is lost.
    pub async fn kill(&mut self) {
        self.distribution.kill().await;
    }

    /// Whether it runs (it has not been killed, or has been started again).
    pub fn is_running(&self) -> bool {
        self.distribution.is_running()
    }

    /// Starts it again on the same addresses.
    pub async fn start_again(&mut self) {
        self.distribution.start_again().await;
    }

    /// What it has printed (its log).
    pub fn output(&self) -> Vec<String> {
        self.distribution.output()
    }
}
