//! The stack under test: started here on free ports from the real parts compose runs (Jaeger and
//! the collector on the project's own config files, the server, the page behind its nginx), or a
//! running compose stack. Either way every span is read back from Jaeger's query API.

use std::{
    env,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::{Duration, SystemTime},
};

use tokio::sync::Mutex;

use test_support::{
    process::free_port,
    secrets::CardData,
    server::{self, ServerProcess},
    trace::{Span, Trace},
    wait_for,
};

use crate::{
    edge::Nginx,
    fault::FaultProxy,
    hosts::HostsName,
    jaeger::{Jaeger, JaegerApi},
    otelcol::Otelcol,
    page,
    prometheus::{Prometheus, PrometheusApi},
    workspace,
};

/// The CVC and email the page's form is filled with (index.html is their source: the page is the
/// product, so the tests read its values rather than define them).
pub const PAGE_CVC: &str = "123";
/// See [`PAGE_CVC`].
pub const PAGE_EMAIL: &str = "ada@example.com";
/// How long a trace may take to arrive: the page sends every 500 ms, the server every 200 ms here,
/// the collector batches for 1 s, Jaeger for 200 ms.
pub const TRACE_TIMEOUT: Duration = Duration::from_secs(20);

/// What serves the page and proxies its requests.
enum Front {
    /// [`page::PageHost`]: as `trunk serve` does, to the collector's private receiver.
    Proxy(page::PageHost),
    /// The page's own nginx config ([`Nginx`]): as the page image does, with its rate limits and
    /// security headers, to the collector's public receiver.
    Edge(Box<Nginx>),
}

/// Which [`Front`] a local stack starts.
#[derive(Clone, Copy)]
enum FrontKind {
    Proxy,
    Edge,
    /// The edge, its OTLP upstream a [`FaultProxy`] in front of the collector.
    EdgeWithFaults,
}

/// What a test gives a local stack's parts on top of compose's settings: variables the collector's
/// config reads (`TAIL_SAMPLING_PERCENTAGE`, `SPAN_METRICS_FLUSH_INTERVAL`), the server's
/// (`FAULTS_ENDPOINT`).
#[derive(Default, Clone)]
pub struct Settings {
    pub collector: Vec<(&'static str, String)>,
    pub server: Vec<(&'static str, String)>,
    /// The page's nginx's (web/Dockerfile's variables).
    pub edge: Vec<(&'static str, String)>,
    /// 0: one collector, as compose's default stack runs it. More: the scale profile's two tiers,
    /// a first (`otel-collector/routing.yaml`, which the page and the server send to) routing by
    /// trace id to this many second-tier collectors (`otel-collector/config.yaml`, each with
    /// `collector`'s settings and a `HOSTNAME` of its own, as compose's replicas have), which it
    /// finds by one name, as compose's finds them by DNS.
    pub second_tier: usize,
}

/// The parts a local stack started, each a real process on free ports. The collector and Jaeger
/// can be stopped and started again while a browser uses the page.
struct Local {
    page: Front,
    faults: Option<FaultProxy>,
    /// The collector the page and the server send to: the only one, or the first tier.
    collector: Mutex<Otelcol>,
    /// The second tier's collectors, when there are two tiers.
    second_tier: Vec<Mutex<Otelcol>>,
    /// The name the first tier resolves to find them: an address for each.
    second_tier_name: Option<HostsName>,
    jaeger: Mutex<Jaeger>,
    prometheus: Prometheus,
    server: ServerProcess,
    _dir: tempfile::TempDir,
}

/// The running stack.
pub struct Stack {
    pub page_url: String,
    /// Where every span is read back from.
    pub jaeger: JaegerApi,
    /// When the test started it: what Jaeger stores from then on is this test's.
    started: SystemTime,
    /// `None` for a compose stack.
    local: Option<Local>,
}

fn path_from_env(var: &str, default: PathBuf) -> PathBuf {
    env::var_os(var).map_or(default, PathBuf::from)
}

impl Stack {
    /// With `E2E_PAGE_URL` and `E2E_JAEGER_URL` set, the running stack they name; otherwise a local
    /// one: Jaeger, the collector, the server, and the checkout page (`PAGE_DIST`, default
    /// `dist/`) behind the page's nginx, as compose runs them.
    pub async fn start() -> Self {
        if let (Ok(page_url), Ok(jaeger)) = (env::var("E2E_PAGE_URL"), env::var("E2E_JAEGER_URL")) {
            return Self {
                page_url,
                jaeger: JaegerApi::new(&jaeger),
                started: SystemTime::now(),
                local: None,
            };
        }
        Self::start_local(&checkout_dist(), FrontKind::Edge, Settings::default()).await
    }

    /// A local stack as [`Stack::start`] starts it; `None` against a compose stack, whose page is
    /// behind that nginx already (and is tested as it is).
    pub async fn start_behind_edge() -> Option<Self> {
        Self::start_with(Settings::default()).await
    }

    /// A local stack as [`Stack::start_behind_edge`] starts it, its parts given `settings`; `None`
    /// against a compose stack.
    pub async fn start_with(settings: Settings) -> Option<Self> {
        if env::var_os("E2E_PAGE_URL").is_some() {
            return None;
        }
        Some(Self::start_local(&checkout_dist(), FrontKind::Edge, settings).await)
    }

    /// A local stack as [`Stack::start_behind_edge`] starts it, with a [`FaultProxy`] between the
    /// edge and the collector ([`Stack::faults`]); `None` against a compose stack.
    pub async fn start_with_faults() -> Option<Self> {
        if env::var_os("E2E_PAGE_URL").is_some() {
            return None;
        }
        Some(
            Self::start_local(
                &checkout_dist(),
                FrontKind::EdgeWithFaults,
                Settings::default(),
            )
            .await,
        )
    }

    /// The proxy between the edge and the collector ([`Stack::start_with_faults`] only).
    pub fn faults(&self) -> &FaultProxy {
        (self.local().faults.as_ref()).expect("a stack started with faults")
    }

    /// A local stack serving `otel-browser`'s minimal page (`MINIMAL_DIST`, default
    /// `otel-browser/examples/minimal/dist/`) as `trunk serve` does (its service name is not the
    /// checkout page's, which the public receiver keeps alone); `None` against a compose stack,
    /// which does not deploy it.
    pub async fn start_minimal_page() -> Option<Self> {
        if env::var_os("E2E_PAGE_URL").is_some() {
            return None;
        }
        let default = workspace().join("otel-browser/examples/minimal/dist");
        let dist = path_from_env("MINIMAL_DIST", default);
        Some(Self::start_local(&dist, FrontKind::Proxy, Settings::default()).await)
    }

    /// Prometheus and Jaeger (each storing in a temporary directory), the collector, the server,
    /// and `front` serving `dist`.
    async fn start_local(dist: &std::path::Path, front: FrontKind, settings: Settings) -> Self {
        let started = SystemTime::now();
        let dir = tempfile::tempdir().expect("temp dir");
        let prometheus = Prometheus::start(&dir.path().join("prometheus")).await;
        let jaeger = Jaeger::start(&dir.path().join("badger"), &prometheus.url()).await;
        // The second tier, each on an address of its own and one port (compose's replicas, each
        // its container's address and 4317), found by the first through one name.
        let port = free_port().await;
        let mut second_tier = Vec::new();
        for i in 0..settings.second_tier {
            let mut env = settings.collector.clone();
            env.push(("HOSTNAME", format!("otel-collector-sampling-{}", i + 1)));
            let otlp_grpc = SocketAddr::new(second_tier_addr(i), port);
            second_tier.push(
                Otelcol::start_sampling(
                    jaeger.otlp_grpc,
                    &prometheus.otlp_metrics_url(),
                    &env,
                    Some(otlp_grpc),
                )
                .await,
            );
        }
        let second_tier_name = (!second_tier.is_empty()).then(|| {
            let addrs: Vec<IpAddr> = second_tier.iter().map(|c| c.otlp_grpc.ip()).collect();
            HostsName::add("otel-collector-sampling", &addrs)
        });
        let collector = match &second_tier_name {
            None => {
                Otelcol::start(
                    jaeger.otlp_grpc,
                    &prometheus.otlp_metrics_url(),
                    &settings.collector,
                )
                .await
            }
            Some(name) => Otelcol::start_routing(name.name(), port).await,
        };
        let server = start_server(collector.otlp_http, &dir, &settings.server).await;
        let faults = match front {
            FrontKind::EdgeWithFaults => Some(FaultProxy::start(collector.public_http).await),
            _ => None,
        };
        let page = match front {
            FrontKind::Proxy => Front::Proxy(
                page::start(
                    dist,
                    format!("http://{}", server.addr),
                    format!("http://{}", collector.otlp_http),
                )
                .await,
            ),
            FrontKind::Edge | FrontKind::EdgeWithFaults => {
                let otlp = faults.as_ref().map_or(collector.public_http, |f| f.addr);
                let mut env = vec![
                    ("API_UPSTREAM", server.addr.to_string()),
                    ("OTLP_UPSTREAM", otlp.to_string()),
                ];
                env.extend(settings.edge.iter().cloned());
                Front::Edge(Box::new(Nginx::start(dist, &env).await))
            }
        };
        let page_addr = match &page {
            Front::Proxy(host) => host.addr,
            Front::Edge(nginx) => nginx.addr,
        };
        Self {
            page_url: format!("http://{page_addr}/"),
            jaeger: jaeger.api.clone(),
            started,
            local: Some(Local {
                page,
                faults,
                collector: Mutex::new(collector),
                second_tier: second_tier.into_iter().map(Mutex::new).collect(),
                second_tier_name,
                jaeger: Mutex::new(jaeger),
                prometheus,
                server,
                _dir: dir,
            }),
        }
    }

    /// Whether this stack was started here (and so can have its parts stopped).
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    fn local(&self) -> &Local {
        self.local
            .as_ref()
            .expect("a local stack: a compose stack's parts are stopped by the person running it")
    }

    /// The Prometheus the collector's span metrics go to (local stacks only).
    pub fn prometheus(&self) -> &PrometheusApi {
        &self.local().prometheus.api
    }

    /// The server's base URL, past the edge (local stacks only): what `loadgen` targets.
    pub fn server_url(&self) -> String {
        format!("http://{}", self.local().server.addr)
    }

    /// The collector's own metrics (the first tier's, with two), Prometheus's text format (local
    /// stacks only).
    pub async fn collector_metrics(&self) -> String {
        self.local().collector.lock().await.own_metrics().await
    }

    /// The own metrics of each collector that samples (local stacks only): the one collector, or
    /// each of the second tier's, in order, but for those killed.
    pub async fn sampler_metrics(&self) -> Vec<String> {
        let local = self.local();
        if local.second_tier.is_empty() {
            return vec![self.collector_metrics().await];
        }
        let mut all = Vec::new();
        for collector in &local.second_tier {
            let collector = collector.lock().await;
            if collector.is_running() {
                all.push(collector.own_metrics().await);
            }
        }
        all
    }

    /// Kills second-tier collector `i` (SIGKILL: what it holds is lost) and takes its address
    /// out of the name the first tier resolves, as Docker's DNS does when a container dies.
    pub async fn kill_second_tier(&self, i: usize) {
        let local = self.local();
        let mut collector = local.second_tier[i].lock().await;
        collector.kill().await;
        if let Some(name) = &local.second_tier_name {
            name.remove(collector.otlp_grpc.ip());
        }
    }

    /// Stops the collector as `docker compose stop` does (local stacks only).
    pub async fn stop_collector(&self) {
        self.local().collector.lock().await.stop().await;
    }

    /// Starts the collector again on its addresses (local stacks only).
    pub async fn start_collector_again(&self) {
        self.local().collector.lock().await.start_again().await;
    }

    /// Stops Jaeger as `docker compose stop` does (local stacks only).
    pub async fn stop_jaeger(&self) {
        self.local().jaeger.lock().await.stop().await;
    }

    /// Starts Jaeger again on its addresses and its Badger directory (local stacks only).
    pub async fn start_jaeger_again(&self) {
        self.local().jaeger.lock().await.start_again().await;
    }

    /// What the collector has printed (local stacks only).
    pub async fn collector_output(&self) -> Vec<String> {
        self.local().collector.lock().await.output()
    }

    /// How many of the page's exports the collector did not take (local stacks only).
    pub fn page_failed_exports(&self) -> usize {
        match self.local.as_ref().map(|l| &l.page) {
            Some(Front::Proxy(host)) => host.failed_exports(),
            Some(Front::Edge(nginx)) => nginx
                .statuses("POST", "/v1/traces")
                .into_iter()
                .filter(|status| !(200..300).contains(status))
                .count(),
            None => 0,
        }
    }

    /// The page's nginx, when this stack serves the page through it here.
    pub fn edge(&self) -> Option<&Nginx> {
        match self.local.as_ref().map(|l| &l.page) {
            Some(Front::Edge(nginx)) => Some(nginx),
            _ => None,
        }
    }

    /// Fails on any test card number, the page's CVC or its email in a span Jaeger stores from this
    /// test's time (name, status, attributes, events, resource), or in a line the server, the
    /// collector or Jaeger logged (local stacks).
    pub async fn assert_no_card_data(&self) {
        let card_data = CardData::test_cards(&[PAGE_CVC], &[PAGE_EMAIL]);
        let spans = self.stored().await;
        assert!(!spans.is_empty(), "Jaeger has this test's spans to scan");
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
        let Some(local) = &self.local else {
            return;
        };
        let logs = local.server.process.output();
        assert!(!logs.is_empty(), "a local run has log lines to scan");
        let mut collectors = local.collector.lock().await.output();
        for collector in &local.second_tier {
            collectors.extend(collector.lock().await.output());
        }
        let all_logs = logs
            .iter()
            .chain(&collectors)
            .chain(&local.jaeger.lock().await.output())
            .cloned()
            .collect::<Vec<_>>();
        for line in &all_logs {
            assert_eq!(card_data.found_in(line), None, "logged: {line}");
        }
        // Prometheus logs durations to the nanosecond, where the three-digit CVC is a token
        // (`duration=2.123µs`): its lines are scanned for the card numbers and the email.
        let without_cvc = CardData::test_cards(&[], &[PAGE_EMAIL]);
        for line in &local.prometheus.output() {
            assert_eq!(without_cvc.found_in(line), None, "logged: {line}");
        }
    }

    /// Fails on any attribute or span name of a span Jaeger stores from this test's time that is
    /// neither OpenTelemetry's nor defined in the trace's registry, or whose value is not of the
    /// registry's type (`test_support::schema`).
    pub async fn assert_conforms_to_schema(&self) {
        test_support::schema::assert_conforms(&self.stored().await);
    }

    /// Every span Jaeger stores of the traces that started since this stack did (a compose
    /// stack's: of everyone's traces of that time).
    pub async fn stored(&self) -> Vec<Span> {
        self.jaeger.spans_since(self.started).await
    }

    /// Waits (bounded) until what Jaeger stores since this stack started satisfies `complete`, and
    /// returns it.
    pub async fn stored_until(&self, what: &str, complete: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        wait_for(what, TRACE_TIMEOUT, || async {
            let spans = self.stored().await;
            complete(&spans).then_some(spans)
        })
        .await
    }

    /// Waits (bounded) until trace `trace_id` in Jaeger satisfies `complete`, and returns it.
    pub async fn trace(&self, trace_id: &str, complete: impl Fn(&Trace) -> bool) -> Trace {
        wait_for(
            &format!("trace {trace_id} to arrive complete in Jaeger"),
            TRACE_TIMEOUT,
            || async {
                let spans = self.jaeger.trace(trace_id).await?;
                let trace = Trace::of(trace_id, &spans);
                complete(&trace).then_some(trace)
            },
        )
        .await
    }
}

/// Second-tier collector `i`'s address: 127.0.0.2, 127.0.0.3, … (all of 127.0.0.0/8 is loopback).
fn second_tier_addr(i: usize) -> IpAddr {
    let last = u8::try_from(i + 2).expect("fewer than 254 second-tier collectors");
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// The checkout page's trunk release build (`PAGE_DIST`, default `dist/`).
fn checkout_dist() -> PathBuf {
    path_from_env("PAGE_DIST", workspace().join("dist"))
}

/// The real checkout-server binary with a temporary database, exporting to the collector with the
/// settings compose gives it (the README's recommended ones: the queue that outlasts a collector
/// outage, gzip, a 5 s timeout), but sending every 200 ms.
async fn start_server(
    collector: SocketAddr,
    dir: &tempfile::TempDir,
    settings: &[(&'static str, String)],
) -> ServerProcess {
    let binary = server::binary(workspace().join("target/debug/checkout-server"));
    let database = server::sqlite_url(&dir.path().join("checkout.db"));
    let mut command = server::command(&binary, &database, collector);
    command
        .env("PAYMENT_LATENCY_MS", "20")
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .envs(server::RECOMMENDED_EXPORT)
        .env("OTEL_SERVICE_NAME", "checkout-server")
        .envs(settings.iter().map(|(k, v)| (k, v)));
    ServerProcess::start(command).await
}
