//! Prometheus, as compose runs it but as a process: `prometheus/prometheus.yml` unmodified, with
//! compose's flags ([`FLAGS`]), its address and data directory the test's. The collector pushes the
//! span metrics to its OTLP receiver; Jaeger's Monitor tab reads them back through its query API,
//! and so do the tests ([`PrometheusApi`]).
//!
//! The binary is `PROMETHEUS_BIN`: the one `scripts/go-tools.sh` builds from Prometheus's Go module
//! (`scripts/test.sh` sources it).

use std::{net::SocketAddr, path::Path, time::Duration};

use serde_json::Value;
use tokio::process::Command;
use url::Url;

use crate::{
    process::{Process, free_loopback},
    workspace,
};

/// The flags compose gives it besides its config file, address and data directory (a test in
/// `e2e/tests/compose` holds compose's command to them): the OTLP receiver the collector pushes
/// to, and start-time zero samples, so that a counter the collector starts mid-window counts from
/// zero in `rate()` rather than from its first value.
pub const FLAGS: [&str; 2] = [
    "--web.enable-otlp-receiver",
    "--enable-feature=created-timestamp-zero-ingestion",
];

/// How long Prometheus may take to open its TSDB and its port.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running Prometheus with its TSDB under a directory of the test's.
pub struct Prometheus {
    pub api: PrometheusApi,
    /// Where its API and OTLP receiver listen.
    pub addr: SocketAddr,
    process: Process,
}

impl Prometheus {
    /// Starts it on a free loopback port, its TSDB in `data`.
    pub async fn start(data: &Path) -> Self {
        let binary = std::env::var_os("PROMETHEUS_BIN").expect(
            "PROMETHEUS_BIN names Prometheus built from its Go module: `source scripts/go-tools.sh` \
             builds it (scripts/test.sh does)",
        );
        let mut exits = Vec::new();
        for _ in 0..3 {
            let addr = free_loopback().await;
            let mut command = Command::new(&binary);
            command
                .arg(format!(
                    "--config.file={}",
                    workspace().join("prometheus/prometheus.yml").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .args(FLAGS);
            let mut process = Process::spawn("prometheus", command);
            match process
                .listening("Prometheus's API", addr, START_TIMEOUT)
                .await
            {
                Ok(()) => {
                    let prometheus = Self {
                        api: PrometheusApi::new(&format!("http://{addr}")),
                        addr,
                        process,
                    };
                    prometheus.ready().await;
                    return prometheus;
                }
                Err(exit) => exits.push(exit),
            }
        }
        panic!("prometheus did not start:\n{}", exits.join("\n\n"));
    }

    /// Its base URL (what Jaeger's `PROMETHEUS_URL` is).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its OTLP receiver's metrics URL (what the collector's `PROMETHEUS_OTLP_METRICS_URL` is).
    pub fn otlp_metrics_url(&self) -> String {
        format!("http://{}/api/v1/otlp/v1/metrics", self.addr)
    }

    /// What it has printed (its log).
    pub fn output(&self) -> Vec<String> {
        self.process.output()
    }

    /// Waits until it answers `/-/ready` (its TSDB open).
    async fn ready(&self) {
        let url = self.api.base.join("-/ready").expect("a URL");
        crate::wait_for("Prometheus ready", START_TIMEOUT, || async {
            let response = self.api.client.get(url.clone()).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
    }
}

/// Prometheus's query API at a base URL.
#[derive(Clone)]
pub struct PrometheusApi {
    base: Url,
    client: reqwest::Client,
}

/// One series of an instant query: its labels and its value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: serde_json::Map<String, Value>,
    pub value: f64,
}

impl PrometheusApi {
    /// The API under `base`, e.g. `http://localhost:9090`.
    pub fn new(base: &str) -> Self {
        Self {
            base: Url::parse(base)
                .unwrap_or_else(|e| panic!("Prometheus's base URL {base:?} is a URL: {e}")),
            client: reqwest::Client::new(),
        }
    }

    /// `GET /api/v1/query?query=…` (an instant query, now): each series and its value; `None` when
    /// Prometheus cannot be reached or refuses the query.
    pub async fn query(&self, promql: &str) -> Option<Vec<Sample>> {
        let mut url = self.base.join("api/v1/query").expect("a URL");
        url.query_pairs_mut().append_pair("query", promql);
        let answer: Value = self.client.get(url).send().await.ok()?.json().await.ok()?;
        if answer["status"] != "success" {
            return None;
        }
        let samples = answer["data"]["result"].as_array()?;
        samples
            .iter()
            .map(|s| {
                Some(Sample {
                    labels: s["metric"].as_object()?.clone(),
                    value: s["value"][1].as_str()?.parse().ok()?,
                })
            })
            .collect()
    }
}
