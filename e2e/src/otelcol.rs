//! The OpenTelemetry Collector, as compose runs it but as a process: built from
//! `otel-collector/builder-config.yaml` (the components of the config, at compose's contrib
//! release), on `otel-collector/config.yaml` unmodified, its addresses given through the variables
//! the file reads (`${env:NAME:-compose's value}`).
//!
//! The binary is `OTELCOL_BIN` (`scripts/go-tools.sh` builds it; `scripts/test.sh` sets it).

use std::{net::SocketAddr, time::Duration};

use crate::{
    distribution::Distribution,
    process::{free_loopback, free_port},
};

/// How long the collector may take to open its receivers.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running collector exporting to a Jaeger.
pub struct Otelcol {
    /// The server's receiver, OTLP/HTTP (compose's `otel-collector:4318`).
    pub otlp_http: SocketAddr,
    /// The page's receiver, `otlp/public` (compose's `otel-collector:4319`, behind nginx).
    pub public_http: SocketAddr,
    distribution: Distribution,
}

impl Otelcol {
    /// Starts the collector on free loopback ports, exporting to Jaeger's OTLP/gRPC receiver at
    /// `jaeger`. A port another process took between its choice and the collector's bind ends the
    /// collector at once; it is started again on fresh ports, up to three times.
    pub async fn start(jaeger: SocketAddr) -> Self {
        let binary = std::env::var_os("OTELCOL_BIN").expect(
            "OTELCOL_BIN names the collector built from otel-collector/builder-config.yaml: \
             `source scripts/go-tools.sh` builds it (scripts/test.sh does)",
        );
        let mut exits = Vec::new();
        for _ in 0..3 {
            let (otlp_grpc, otlp_http) = (free_loopback().await, free_loopback().await);
            let (public_http, health) = (free_loopback().await, free_loopback().await);
            let env = vec![
                ("COLLECTOR_OTLP_GRPC_ENDPOINT", otlp_grpc.to_string()),
                ("COLLECTOR_OTLP_HTTP_ENDPOINT", otlp_http.to_string()),
                ("COLLECTOR_PUBLIC_HTTP_ENDPOINT", public_http.to_string()),
                ("COLLECTOR_HEALTH_ENDPOINT", health.to_string()),
                ("COLLECTOR_METRICS_PORT", free_port().await.to_string()),
                ("JAEGER_OTLP_GRPC_TARGET", jaeger.to_string()),
            ];
            let mut collector = Self {
                otlp_http,
                public_http,
                distribution: Distribution::start(
                    "otelcol",
                    binary.clone(),
                    "otel-collector/config.yaml",
                    env,
                ),
            };
            match collector.listening().await {
                Ok(()) => return collector,
                Err(exit) => exits.push(exit),
            }
        }
        panic!("the collector did not start:\n{}", exits.join("\n\n"));
    }

    /// Stops it as `docker compose stop` does (SIGTERM): what it holds is exported first.
    pub async fn stop(&mut self) {
        self.distribution.stop().await;
    }

    /// Starts it again on the same addresses.
    pub async fn start_again(&mut self) {
        self.distribution.start_again();
        if let Err(exit) = self.listening().await {
            panic!("{exit}");
        }
    }

    /// What it has printed (its log).
    pub fn output(&self) -> Vec<String> {
        self.distribution.output()
    }

    /// Waits until both receivers take connections; `Err` with its log when it exits first.
    async fn listening(&mut self) -> Result<(), String> {
        for (receiver, addr) in [
            ("OTLP/HTTP", self.otlp_http),
            ("public OTLP/HTTP", self.public_http),
        ] {
            let what = format!("the collector's {receiver} receiver");
            self.distribution
                .listening(&what, addr, START_TIMEOUT)
                .await?;
        }
        Ok(())
    }
}
