//! The stack under test: started here on free ports, or a running compose stack.

use std::{env, net::SocketAddr, path::PathBuf, time::Duration};

use test_support::{
    collector::{Collector, Mode},
    process::{Process, free_port},
    rotel,
    secrets::CardData,
    server::{self, ServerProcess},
    trace::{Span, Trace},
    wait_for,
};

use crate::{edge::Nginx, page, workspace};

/// The CVC and email the page's form is filled with (index.html is their source: the page is the
/// product, so the tests read its values rather than define them).
pub const PAGE_CVC: &str = "123";
/// See [`PAGE_CVC`].
pub const PAGE_EMAIL: &str = "ada@example.com";
/// How long a trace may take to arrive: the page sends every 500 ms, the server every 200 ms here,
/// the collector batches for 100 ms.
pub const TRACE_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the spans are read back.
enum Traces {
    /// A fake collector in healthy mode behind the local (real) collector, capturing everything.
    Capture(Collector),
    /// Jaeger's query API (`E2E_JAEGER_URL`).
    Jaeger(String),
}

/// What serves the page and proxies its requests.
enum Front {
    /// [`page::PageHost`]: as `trunk serve` does.
    Proxy(page::PageHost),
    /// The page's own nginx config ([`Nginx`]): as the page image does, with its rate limits and
    /// security headers.
    Edge(Box<Nginx>),
}

/// Which [`Front`] a local stack starts.
#[derive(Clone, Copy)]
enum FrontKind {
    Proxy,
    Edge,
}

/// The running stack.
pub struct Stack {
    pub page_url: String,
    page: Option<Front>,
    traces: Traces,
    collector: Option<Process>,
    /// Where the local collector listens for OTLP/HTTP.
    collector_http: Option<SocketAddr>,
    server: Option<ServerProcess>,
    _dir: Option<tempfile::TempDir>,
}

fn path_from_env(var: &str, default: PathBuf) -> PathBuf {
    env::var_os(var).map_or(default, PathBuf::from)
}

impl Stack {
    /// With `E2E_PAGE_URL` and `E2E_JAEGER_URL` set, the running stack they name; otherwise a local
    /// one: capture, collector (rotel), server and page host serving the checkout page
    /// (`PAGE_DIST`, default `dist/`).
    pub async fn start() -> Self {
        if let (Ok(page_url), Ok(jaeger)) = (env::var("E2E_PAGE_URL"), env::var("E2E_JAEGER_URL")) {
            return Self {
                page_url,
                page: None,
                traces: Traces::Jaeger(jaeger.trim_end_matches('/').to_owned()),
                collector: None,
                collector_http: None,
                server: None,
                _dir: None,
            };
        }
        Self::start_local(&checkout_dist(), FrontKind::Proxy).await
    }

    /// A local stack whose checkout page is served by the page's nginx config (the public edge),
    /// proxying to the server and the collector; `None` against a compose stack, whose page is
    /// behind that nginx already (and is tested as it is).
    pub async fn start_behind_edge() -> Option<Self> {
        if env::var_os("E2E_PAGE_URL").is_some() {
            return None;
        }
        Some(Self::start_local(&checkout_dist(), FrontKind::Edge).await)
    }

    /// A local stack serving `otel-browser`'s minimal page (`MINIMAL_DIST`, default
    /// `otel-browser/examples/minimal/dist/`); `None` against a compose stack, which does not
    /// deploy it.
    pub async fn start_minimal_page() -> Option<Self> {
        if env::var_os("E2E_PAGE_URL").is_some() {
            return None;
        }
        let default = workspace().join("otel-browser/examples/minimal/dist");
        Some(Self::start_local(&path_from_env("MINIMAL_DIST", default), FrontKind::Proxy).await)
    }

    /// Capture, collector (rotel), server, and `front` serving `dist`.
    async fn start_local(dist: &std::path::Path, front: FrontKind) -> Self {
        let capture = Collector::start(Mode::Healthy).await;
        let collector_http = SocketAddr::from(([127, 0, 0, 1], free_port().await));
        let collector = rotel::start(collector_http, capture.addr).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let server = start_server(collector_http, &dir).await;
        let page = match front {
            FrontKind::Proxy => Front::Proxy(
                page::start(
                    dist,
                    format!("http://{}", server.addr),
                    format!("http://{collector_http}"),
                )
                .await,
            ),
            FrontKind::Edge => Front::Edge(Box::new(
                Nginx::start(
                    dist,
                    &[
                        ("API_UPSTREAM", server.addr.to_string()),
                        ("OTLP_UPSTREAM", collector_http.to_string()),
                    ],
                )
                .await,
            )),
        };
        let page_addr = match &page {
            Front::Proxy(host) => host.addr,
            Front::Edge(nginx) => nginx.addr,
        };
        Self {
            page_url: format!("http://{page_addr}/"),
            page: Some(page),
            traces: Traces::Capture(capture),
            collector: Some(collector),
            collector_http: Some(collector_http),
            server: Some(server),
            _dir: Some(dir),
        }
    }

    /// Whether this stack was started here (and so can have its collector stopped).
    pub fn is_local(&self) -> bool {
        matches!(self.traces, Traces::Capture(_))
    }

    /// Stops the collector (local stacks only).
    pub async fn stop_collector(&mut self) {
        if let Some(collector) = self.collector.as_mut() {
            collector.stop().await;
        }
    }

    /// Starts the collector again on its address (local stacks only), forwarding to the capture.
    pub async fn restart_collector(&mut self) {
        if let (Some(http), Traces::Capture(capture)) = (self.collector_http, &self.traces) {
            self.collector = Some(rotel::start(http, capture.addr).await);
        }
    }

    /// How many of the page's exports the collector did not take (local stacks only).
    pub fn page_failed_exports(&self) -> usize {
        match &self.page {
            Some(Front::Proxy(host)) => host.failed_exports(),
            Some(Front::Edge(nginx)) => nginx
                .statuses("POST", "/v1/traces")
                .into_iter()
                .filter(|status| !(200..300).contains(status))
                .count(),
            None => 0,
        }
    }

    /// The page's nginx, when this stack serves the page through it.
    pub fn edge(&self) -> Option<&Nginx> {
        match &self.page {
            Some(Front::Edge(nginx)) => Some(nginx),
            _ => None,
        }
    }

    /// Fails on any test card number, the page's CVC or its email in a span the capture received
    /// (name, status, attributes, events, resource) or in a line the server logged (local stacks).
    pub fn assert_no_card_data(&self) {
        let card_data = CardData::test_cards(&[PAGE_CVC], &[PAGE_EMAIL]);
        let spans = self.captured();
        for span in &spans {
            for text in span.texts() {
                assert_eq!(
                    card_data.found_in(text),
                    None,
                    "span {} of {} leaks card data: {text}",
                    span.name,
                    span.service
                );
            }
        }
        let logs = self
            .server
            .as_ref()
            .map(|s| s.process.output())
            .unwrap_or_default();
        for line in &logs {
            assert_eq!(card_data.found_in(line), None, "server log: {line}");
        }
        assert!(
            !self.is_local() || !logs.is_empty(),
            "a local run has log lines to scan"
        );
    }

    /// Fails on any attribute or span name of a span the capture received that is neither
    /// OpenTelemetry's nor defined in the trace's registry, or whose value is not of the
    /// registry's type (`test_support::schema`; local stacks: against Jaeger the compose stack's
    /// spans are for `weaver registry live-check`).
    pub fn assert_conforms_to_schema(&self) {
        test_support::schema::assert_conforms(&self.captured());
    }

    /// Every span the capture endpoint has (local stacks only; empty against Jaeger).
    pub fn captured(&self) -> Vec<Span> {
        match &self.traces {
            Traces::Capture(capture) => capture.spans(),
            Traces::Jaeger(_) => Vec::new(),
        }
    }

    /// Waits (bounded) until what the capture endpoint has satisfies `complete`, and returns it
    /// (local stacks only: spans outside one trace are not read back from Jaeger).
    pub async fn captured_until(
        &self,
        what: &str,
        complete: impl Fn(&[Span]) -> bool,
    ) -> Vec<Span> {
        wait_for(what, TRACE_TIMEOUT, || async {
            let spans = self.captured();
            complete(&spans).then_some(spans)
        })
        .await
    }

    /// Waits (bounded) until trace `trace_id` satisfies `complete`, and returns it.
    pub async fn trace(&self, trace_id: &str, complete: impl Fn(&Trace) -> bool) -> Trace {
        let client = reqwest::Client::new();
        wait_for(
            &format!("trace {trace_id} to arrive complete"),
            TRACE_TIMEOUT,
            || async {
                let spans = match &self.traces {
                    Traces::Capture(capture) => capture.spans(),
                    Traces::Jaeger(jaeger) => {
                        let url = format!("{jaeger}/api/v3/traces/{trace_id}");
                        match client.get(&url).send().await {
                            Ok(response) if response.status().is_success() => {
                                Span::from_jaeger_json(&response.json().await.ok()?)
                            }
                            _ => return None,
                        }
                    }
                };
                let trace = Trace::of(trace_id, &spans);
                complete(&trace).then_some(trace)
            },
        )
        .await
    }
}

/// The checkout page's trunk release build (`PAGE_DIST`, default `dist/`).
fn checkout_dist() -> PathBuf {
    path_from_env("PAGE_DIST", workspace().join("dist"))
}

/// The real checkout-server binary with a temporary database, exporting to the collector.
async fn start_server(collector: SocketAddr, dir: &tempfile::TempDir) -> ServerProcess {
    let binary = server::binary(workspace().join("target/debug/checkout-server"));
    let database = server::sqlite_url(&dir.path().join("checkout.db"));
    let mut command = server::command(&binary, &database, collector);
    command
        .env("PAYMENT_LATENCY_MS", "20")
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .env("OTEL_SERVICE_NAME", "checkout-server");
    ServerProcess::start(command).await
}
