//! Jaeger v2, as compose runs it but as a process: `jaeger/config.yaml` unmodified, its addresses
//! and Badger directory given through the variables the file reads (`${env:NAME:-compose's value}`),
//! and its query API (`/api/v3`), which the tests read every span back from.
//!
//! The binary is `JAEGER_BIN`, else `JAEGER_BUILT_BIN`: the one `scripts/go-tools.sh` builds from
//! Jaeger's Go module (`scripts/test.sh` sources it).

use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::OsString,
    net::SocketAddr,
    path::Path,
    time::{Duration, SystemTime},
};

use crate::{distribution::Distribution, trace::Span, wait_for};
use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use url::Url;

/// How long Jaeger may take to open Badger and its ports.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Jaeger's query API at a base URL (a process of the test's, or a running compose stack's).
#[derive(Clone)]
pub struct JaegerApi {
    base: Url,
    client: reqwest::Client,
}

impl JaegerApi {
    /// The API under `base`, e.g. `http://localhost:16686`.
    pub fn new(base: &str) -> Self {
        Self {
            base: Url::parse(base)
                .unwrap_or_else(|e| panic!("Jaeger's base URL {base:?} is a URL: {e}")),
            client: reqwest::Client::new(),
        }
    }

    /// `{base}/api/v3/{path…}?{query}`, each path segment and query pair percent-encoded: a
    /// service or span name may hold a space, `&`, `=` or `/`.
    fn url(&self, path: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) base URL has a path")
            .pop_if_empty()
            .extend(["api", "v3"])
            .extend(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// `GET /api/v3/operations` of `service`.
    fn operations_url(&self, service: &str) -> Url {
        self.url(&["operations"], &[("service", service)])
    }

    /// `GET /api/v3/traces`: the traces with a span of `service` that started between `min` and
    /// `max` (RFC 3339).
    fn search_url(&self, service: &str, min: &str, max: &str) -> Url {
        self.url(
            &["traces"],
            &[
                ("query.service_name", service),
                ("query.start_time_min", min),
                ("query.start_time_max", max),
                ("query.num_traces", "10000"),
            ],
        )
    }

    /// The JSON answer of `GET url`, or `None` when it is not a 2xx (Jaeger answers 404 for a
    /// trace it does not have) or cannot be had.
    async fn get(&self, url: Url) -> Option<Value> {
        let response = self.client.get(url).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    /// What Jaeger's Monitor tab shows of `service`'s `span_kind` spans (`server`, `client`,
    /// `internal`), by operation: `GET /api/metrics/{which}` (`calls` and `errors`: the rate per
    /// second over `window`; `latencies`: the `quantile`, in ms, over `window`), over the `window`
    /// that ends now, each operation's last point. `None` when Jaeger cannot answer.
    pub async fn metrics(
        &self,
        which: &str,
        service: &str,
        span_kind: &str,
        window: Duration,
        quantile: Option<f64>,
    ) -> Option<BTreeMap<String, f64>> {
        let millis = window.as_millis().to_string();
        let quantile = quantile.map(|q| q.to_string());
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) base URL has a path")
            .pop_if_empty()
            .extend(["api", "metrics", which]);
        url.query_pairs_mut().extend_pairs([
            ("service", service),
            ("spanKind", span_kind),
            ("groupByOperation", "true"),
            ("lookback", &millis),
            ("ratePer", &millis),
            ("step", "1000"),
        ]);
        if let Some(quantile) = &quantile {
            url.query_pairs_mut().append_pair("quantile", quantile);
        }
        let answer = self.get(url).await?;
        let mut by_operation = BTreeMap::new();
        for metric in answer["metrics"].as_array()? {
            let operation = (metric["labels"].as_array()?.iter())
                .find(|l| l["name"] == "operation")
                .and_then(|l| l["value"].as_str())?;
            let last = metric["metricPoints"].as_array()?.last()?;
            let value = &last["gaugeValue"]["doubleValue"];
            // NaN (no calls in a step) comes as a string.
            let value = value
                .as_f64()
                .or_else(|| value.as_str().and_then(|v| v.parse().ok()))?;
            by_operation.insert(operation.to_owned(), value);
        }
        Some(by_operation)
    }

    /// The spans Jaeger has of trace `trace_id` (`GET /api/v3/traces/{trace_id}`), or `None`.
    pub async fn trace(&self, trace_id: &str) -> Option<Vec<Span>> {
        let answer = self.get(self.url(&["traces", trace_id], &[])).await?;
        Some(Span::from_jaeger_json(&answer))
    }

    /// The services Jaeger has spans of (`GET /api/v3/services`).
    pub async fn services(&self) -> Vec<String> {
        let answer = self
            .get(self.url(&["services"], &[]))
            .await
            .unwrap_or_default();
        strings(&answer["services"], |v| v.as_str())
    }

    /// The operations (span names) Jaeger has of `service` (`GET /api/v3/operations`).
    pub async fn operations(&self, service: &str) -> Vec<String> {
        let answer = self
            .get(self.operations_url(service))
            .await
            .unwrap_or_default();
        strings(&answer["operations"], |o| o["name"].as_str())
    }

    /// Every span of every trace that has a span of any service starting at or after `since`
    /// (`GET /api/v3/traces`, one search a service): what Jaeger stores of that time, each span
    /// once.
    pub async fn spans_since(&self, since: SystemTime) -> Vec<Span> {
        let rfc3339 = |t: SystemTime| {
            OffsetDateTime::from(t)
                .format(&Rfc3339)
                .expect("a time formats")
        };
        // Ten minutes each side: the page's and the server's clocks are this host's.
        let margin = Duration::from_secs(600);
        let min = rfc3339(since - margin);
        let max = rfc3339(SystemTime::now() + margin);
        let mut seen = BTreeSet::new();
        let mut spans = Vec::new();
        for service in self.services().await {
            // 404: no trace of that service in the window.
            let Some(answer) = self.get(self.search_url(&service, &min, &max)).await else {
                continue;
            };
            for span in Span::from_jaeger_json(&answer) {
                if seen.insert((span.trace_id.clone(), span.span_id.clone())) {
                    spans.push(span);
                }
            }
        }
        spans
    }
}

fn strings(list: &Value, text: impl Fn(&Value) -> Option<&str>) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| text(v).map(str::to_owned))
        .collect()
}

/// A running Jaeger v2 with its traces in Badger under a directory of the test's.
pub struct Jaeger {
    pub api: JaegerApi,
    /// Where it receives OTLP/gRPC (where the collector exports to).
    pub otlp_grpc: SocketAddr,
    distribution: Distribution,
}

/// The Jaeger binary: `JAEGER_BIN` (a release binary, say), else `JAEGER_BUILT_BIN` (the one
/// `scripts/go-tools.sh` builds from Jaeger's Go module).
fn binary() -> OsString {
    ["JAEGER_BIN", "JAEGER_BUILT_BIN"]
        .into_iter()
        .find_map(std::env::var_os)
        .expect(
            "JAEGER_BIN or JAEGER_BUILT_BIN names a Jaeger v2 binary: `source scripts/go-tools.sh` \
             builds one (scripts/test.sh does)",
        )
}

impl Jaeger {
    /// Starts Jaeger on `jaeger/config.yaml`, every address on a free loopback port (started again
    /// on fresh ones if one was taken: [`Distribution::start`]), Badger in `badger` (its `keys` and
    /// `values` directories, as compose's volume holds them), its metrics read from the
    /// Prometheus at `prometheus` (a base URL).
    pub async fn start(badger: &Path, prometheus: &str) -> Self {
        let badger = badger.display().to_string();
        let (distribution, [otlp_grpc, _, query, ..]) = Distribution::start(
            "jaeger",
            binary(),
            "jaeger/config.yaml",
            &[],
            |[otlp_grpc, otlp_http, query, query_grpc, health, metrics]| {
                vec![
                    ("JAEGER_OTLP_GRPC_ENDPOINT", otlp_grpc.to_string()),
                    ("JAEGER_OTLP_HTTP_ENDPOINT", otlp_http.to_string()),
                    ("JAEGER_QUERY_HTTP_ENDPOINT", query.to_string()),
                    ("JAEGER_QUERY_GRPC_ENDPOINT", query_grpc.to_string()),
                    ("JAEGER_HEALTH_ENDPOINT", health.to_string()),
                    ("JAEGER_METRICS_PORT", metrics.port().to_string()),
                    ("JAEGER_BADGER_DIR", badger.clone()),
                    ("PROMETHEUS_URL", prometheus.to_owned()),
                ]
            },
            &[("Jaeger's OTLP/gRPC receiver", 0)],
        )
        .await;
        let jaeger = Self {
            api: JaegerApi::new(&format!("http://{query}")),
            otlp_grpc,
            distribution,
        };
        jaeger.query_ready().await;
        jaeger
    }

    /// Stops it (SIGTERM, as `docker compose stop` does: Badger closes cleanly).
    pub async fn stop(&mut self) {
        self.distribution.stop().await;
    }

    /// Starts it again on the same addresses and Badger directory.
    pub async fn start_again(&mut self) {
        self.distribution.start_again().await;
        self.query_ready().await;
    }

    /// What it has printed (its log).
    pub fn output(&self) -> Vec<String> {
        self.distribution.output()
    }

    /// Waits until its query API answers (its OTLP receiver takes connections already).
    async fn query_ready(&self) {
        wait_for("Jaeger's query API", START_TIMEOUT, || async {
            let services = self.api.url(&["services"], &[]);
            self.api.get(services).await.map(|_| ())
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name that would break an unencoded URL: a space, `&` and `=` in a query, `/` in a path.
    const AWKWARD: &str = "GET /a b&c=d/e";

    fn query_of(url: &Url) -> Vec<(String, String)> {
        url.query_pairs().into_owned().collect()
    }

    #[test]
    fn a_service_name_round_trips_through_the_operations_query() {
        let api = JaegerApi::new("http://localhost:16686/");
        let url = api.operations_url(AWKWARD);
        assert_eq!(url.path(), "/api/v3/operations");
        assert_eq!(query_of(&url), [("service".to_owned(), AWKWARD.to_owned())]);
    }

    #[test]
    fn a_service_name_and_times_round_trip_through_the_trace_search() {
        let api = JaegerApi::new("http://localhost:16686");
        let (min, max) = ("2026-01-01T00:00:00+01:00", "2026-01-01T00:10:00Z");
        let url = api.search_url(AWKWARD, min, max);
        assert_eq!(url.path(), "/api/v3/traces");
        let pairs = query_of(&url);
        let value = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(pairs.len(), 4, "{pairs:?}");
        assert_eq!(value("query.service_name"), Some(AWKWARD));
        assert_eq!(value("query.start_time_min"), Some(min));
        assert_eq!(value("query.start_time_max"), Some(max));
        assert_eq!(value("query.num_traces"), Some("10000"));
    }

    #[test]
    fn a_path_segment_stays_one_segment_under_the_base_path() {
        let api = JaegerApi::new("http://localhost:16686/jaeger/");
        let url = api.url(&["traces", AWKWARD], &[]);
        assert_eq!(url.path(), "/jaeger/api/v3/traces/GET%20%2Fa%20b&c=d%2Fe");
        assert_eq!(url.query(), None);
    }
}
