//! The real binary as users run it: OTLP export to a collector, and SIGTERM with the collector
//! up, down, hanging or failing.
//!
//! The collector here is `test-support`'s fake one, which decodes requests with the official
//! opentelemetry-proto types; the end-to-end tests in `tests/` use a real collector.

use std::{
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

use test_support::{
    collector::{Collector, Mode},
    fixtures,
    server::{self, ServerProcess},
    tls::{ServerTls, TestCa},
    trace::Trace,
};

/// The shutdown budget the issue sets: stop accepting, drain, flush, exit.
const SHUTDOWN_BUDGET: Duration = Duration::from_secs(5);

struct Server {
    inner: ServerProcess,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

async fn start_server(collector: SocketAddr, schedule_delay_ms: u64) -> Server {
    start_server_with(collector, schedule_delay_ms, 0, &[]).await
}

async fn start_server_with(
    collector: SocketAddr,
    schedule_delay_ms: u64,
    payment_latency_ms: u64,
    extra_env: &[(&str, &str)],
) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    // A directory that does not exist yet: the server creates it.
    let mut command = server::command(
        Path::new(env!("CARGO_BIN_EXE_checkout-server")),
        &server::sqlite_url(&dir.path().join("db/checkout.db")),
        collector,
    );
    command
        .env("PAYMENT_LATENCY_MS", payment_latency_ms.to_string())
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "10000")
        .env("OTEL_BSP_SCHEDULE_DELAY", schedule_delay_ms.to_string())
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_SDK_DISABLED")
        .envs(extra_env.iter().copied());
    let inner = ServerProcess::start(command).await;
    Server {
        addr: inner.addr,
        inner,
        _dir: dir,
    }
}

/// A checkout against `addr` that must succeed.
async fn checkout_at(addr: SocketAddr) -> serde_json::Value {
    let body = fixtures::checkout(&[(1, 1)], fixtures::test_cards::APPROVED);
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/checkout"))
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.status(),
        201,
        "telemetry faults must never fail a checkout"
    );
    response.json().await.expect("json")
}

impl Server {
    /// A checkout against this server that must succeed.
    fn checkout(&self) -> impl std::future::Future<Output = serde_json::Value> + Send + 'static {
        checkout_at(self.addr)
    }

    /// Sends SIGTERM and returns how long the process took to exit, asserting it exited cleanly.
    async fn terminate(self) -> (Duration, Vec<String>) {
        let pid = self.inner.process.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.terminate_after_signal().await
    }

    /// Waits for the exit after a SIGTERM already sent, within the budget and cleanly.
    async fn terminate_after_signal(mut self) -> (Duration, Vec<String>) {
        let started = Instant::now();
        let exit = tokio::time::timeout(SHUTDOWN_BUDGET, self.inner.process.wait())
            .await
            .unwrap_or_else(|_| panic!("not stopped within {SHUTDOWN_BUDGET:?} of SIGTERM"))
            .expect("wait");
        assert!(exit.success(), "clean exit, got {exit}");
        let elapsed = started.elapsed();
        eprintln!("exited {elapsed:?} after SIGTERM");
        (elapsed, self.inner.process.output())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_as_otlp_and_are_flushed_on_sigterm() {
    let collector = Collector::start(Mode::Healthy).await;
    // A one-minute batch delay: only the shutdown flush can deliver these spans in time.
    let server = start_server(collector.addr, 60_000).await;
    let order = server.checkout().await;
    assert!(
        collector.spans().is_empty(),
        "nothing is sent before the batch is due"
    );
    let (_, logs) = server.terminate().await;

    let trace_id = order["trace_id"].as_str().expect("trace id");
    let received = collector.spans();
    let names: Vec<&str> = received
        .iter()
        .filter(|s| s.trace_id == trace_id)
        .map(|s| s.name.as_str())
        .collect();
    for expected in [
        "POST /api/checkout",
        "product.lookup",
        "payment.charge",
        "INSERT orders",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(received.iter().all(|s| s.service == "checkout-server"
        && s.resource.get("service.version").map(String::as_str)
            == Some(env!("CARGO_PKG_VERSION"))));
    test_support::schema::assert_conforms(&received);
    for line in logs {
        assert!(
            !line.contains("4242424242424242") && !line.contains(fixtures::EMAIL),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_neither_fails_checkouts_nor_delays_shutdown() {
    let server = start_server(Collector::start(Mode::Down).await.addr, 50).await;
    for _ in 0..3 {
        server.checkout().await;
    }
    let (elapsed, _) = server.terminate().await;
    assert!(elapsed < SHUTDOWN_BUDGET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_hangs_neither_fails_checkouts_nor_delays_shutdown() {
    let server = start_server(Collector::start(Mode::Hanging).await.addr, 50).await;
    for _ in 0..3 {
        server.checkout().await;
    }
    // Let an export start and hang on the silent collector before the signal.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (elapsed, _) = server.terminate().await;
    assert!(elapsed < SHUTDOWN_BUDGET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_fails_every_export_never_fails_a_checkout() {
    let collector = Collector::start(Mode::Failing).await;
    let server = start_server(collector.addr, 50).await;
    for _ in 0..3 {
        server.checkout().await;
    }
    server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish_and_refuses_new_ones() {
    let collector = Collector::start(Mode::Healthy).await;
    // A one-second gateway keeps the checkout in flight while the signal arrives.
    let server = start_server_with(collector.addr, 50, 1000, &[]).await;
    let addr = server.addr;
    let in_flight = tokio::spawn(server.checkout());
    // Give the request time to reach the payment step; it then has ~800 ms still to run.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = server.inner.process.id().expect("running").to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    let order = tokio::time::timeout(SHUTDOWN_BUDGET, in_flight)
        .await
        .expect("answered in time")
        .expect("task");
    assert_eq!(
        order["status"], "paid",
        "the request in flight was drained, not cut off"
    );
    let refused = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "no new connection is accepted after the signal"
    );
    server.terminate_after_signal().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_service_name_renames_the_service_on_every_exported_span() {
    let collector = Collector::start(Mode::Healthy).await;
    let server = start_server_with(
        collector.addr,
        60_000,
        0,
        &[("OTEL_SERVICE_NAME", "shop-api")],
    )
    .await;
    server.checkout().await;
    server.terminate().await;
    let received = collector.spans();
    assert!(!received.is_empty(), "spans were exported");
    assert!(received.iter().all(|s| s.service == "shop-api"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_sdk_disabled_exports_nothing_and_checkouts_still_carry_a_trace_id() {
    let collector = Collector::start(Mode::Healthy).await;
    let server = start_server_with(collector.addr, 50, 0, &[("OTEL_SDK_DISABLED", "true")]).await;
    let order = server.checkout().await;
    assert_eq!(order["trace_id"].as_str().map(str::len), Some(32));
    server.terminate().await;
    assert!(
        collector.spans().is_empty(),
        "nothing reaches the collector"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_export_is_retried_after_the_collectors_retry_after() {
    let collector = Collector::start(Mode::Throttled {
        times: 1,
        retry_after_secs: 1,
    })
    .await;
    let server = start_server(collector.addr, 50).await;
    let order = server.checkout().await;
    let trace_id = order["trace_id"].as_str().expect("trace id").to_owned();
    test_support::wait_for("the retried export", Duration::from_secs(10), || async {
        collector
            .spans()
            .iter()
            .any(|s| s.trace_id == trace_id)
            .then_some(())
    })
    .await;
    let answers = collector.answers();
    assert_eq!(answers[0].1, 503, "{answers:?}");
    assert_eq!(answers[1].1, 200, "the retry was accepted: {answers:?}");
    let waited = answers[1].0 - answers[0].0;
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 was honoured, retried after {waited:?}"
    );
    server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_export_is_not_retried() {
    let collector = Collector::start(Mode::Rejecting).await;
    let server = start_server(collector.addr, 60_000).await;
    server.checkout().await;
    // One batch, flushed at shutdown: a 400 is final, so exactly one request arrives.
    server.terminate().await;
    let answers = collector.answers();
    assert_eq!(
        answers
            .iter()
            .map(|(_, status)| *status)
            .collect::<Vec<_>>(),
        [400],
        "a client error is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_spans_are_reported_as_a_count_not_a_line_each() {
    let collector = Collector::start(Mode::Down).await;
    // A queue of 4 spans, a minute between exports: the checkouts' spans overflow it.
    let server = start_server_with(
        collector.addr,
        60_000,
        0,
        &[("OTEL_BSP_MAX_QUEUE_SIZE", "4")],
    )
    .await;
    for _ in 0..3 {
        server.checkout().await;
    }
    let (_, logs) = server.terminate().await;
    let drops: Vec<&String> = logs.iter().filter(|l| l.contains("dropped")).collect();
    assert_eq!(
        drops
            .iter()
            .filter(|l| l.contains("export queue full"))
            .count(),
        1,
        "the first drop is said once: {drops:?}"
    );
    let count = drops
        .iter()
        .find(|l| l.contains("dropped_span_count="))
        .unwrap_or_else(|| panic!("the count at shutdown: {drops:?}"));
    let dropped: u64 = count
        .split("dropped_span_count=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count in {count}"));
    assert!(
        dropped >= 10,
        "3 checkouts make over 20 spans for a queue of 4: {count}"
    );
    assert!(drops.len() <= 3, "a count, not a line per span: {drops:?}");
}

/// Runs `command` (the server binary), which must exit by itself, failing; returns its output.
async fn refused_at_start(command: tokio::process::Command) -> String {
    let mut server = test_support::process::Process::spawn("checkout-server", command);
    let status = tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .expect("exits by itself")
        .expect("status");
    assert!(!status.success());
    server.output().join("\n")
}

#[tokio::test]
async fn a_database_url_that_is_not_sqlite_or_postgres_is_refused_and_no_file_is_made() {
    // The slip a user makes: one slash short, which once became a SQLite file named `postgres:`.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_checkout-server"));
    command
        .current_dir(dir.path())
        .env("DATABASE_URL", "postgres:/shop:s3cret@127.0.0.1:5432/shop")
        .env("SERVER_ADDR", "127.0.0.1:0")
        .env("OTEL_SDK_DISABLED", "true");
    let output = refused_at_start(command).await;
    assert!(
        output.contains("DATABASE_URL") && output.contains("postgres://"),
        "the variable and what it wants: {output}"
    );
    assert!(!output.contains("s3cret"), "{output}");
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otel_number_that_cannot_be_parsed_is_warned_about_and_its_default_used() {
    // `5s` is the slip: the specification's variables are whole milliseconds. "The implementation
    // SHOULD generate a warning and gracefully ignore the setting" (SDK environment variables).
    let collector = Collector::start(Mode::Healthy).await;
    let server = start_server_with(
        collector.addr,
        0,
        0,
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "5s"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ],
    )
    .await;
    server.checkout().await;
    let (_, logs) = server.terminate().await;
    for name in ["OTEL_BSP_SCHEDULE_DELAY", "OTEL_EXPORTER_OTLP_TIMEOUT"] {
        assert!(
            logs.iter()
                .any(|l| l.contains("WARN") && l.contains(name) && l.contains("ignored")),
            "{name} is warned about: {logs:?}"
        );
    }
    assert!(!collector.spans().is_empty(), "spans were exported");
}

/// The spans of the trace `trace_id` that reach `collector`, once they have (a real collector
/// forwards in batches of its own).
async fn spans_of(collector: &Collector, trace_id: &str) -> Vec<test_support::trace::Span> {
    let spans = test_support::wait_for(
        "the checkout's spans at the collector",
        Duration::from_secs(20),
        || async {
            let trace = Trace::of(trace_id, &collector.spans());
            trace
                .has("checkout-server", "payment.charge")
                .then_some(trace.spans)
        },
    )
    .await;
    // Whichever pipeline and transport sent them, the spans carry the trace's schema.
    test_support::schema::assert_conforms(&spans);
    spans
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_rotel_over_grpc_through_the_sdk_and_opentelemetry_otlp() {
    // The stock pipeline: the SDK's batch processor and opentelemetry-otlp's tonic exporter, into
    // a real collector's OTLP/gRPC receiver.
    let jaeger = Collector::start(Mode::Healthy).await;
    let http = SocketAddr::from(([127, 0, 0, 1], test_support::process::free_port().await));
    let grpc = SocketAddr::from(([127, 0, 0, 1], test_support::process::free_port().await));
    let _rotel = test_support::rotel::start_with_grpc(http, grpc, jaeger.addr).await;
    let server = start_server_with(
        grpc,
        50,
        0,
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ],
    )
    .await;
    let order = server.checkout().await;
    let (_, logs) = server.terminate().await;
    let spans = spans_of(&jaeger, order["trace_id"].as_str().expect("trace id")).await;
    for expected in ["POST /api/checkout", "product.lookup", "INSERT orders"] {
        assert!(spans.iter().any(|s| s.name == expected), "{expected}");
    }
    assert!(spans.iter().all(|s| s.service == "checkout-server"));
    assert!(
        !logs.iter().any(|l| l.contains("ERROR")),
        "no export error: {logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_rotel_over_http_through_the_stock_pipeline() {
    // EXPORT_PIPELINE=stock: the SDK's batch processor and opentelemetry-otlp's HTTP exporter.
    let jaeger = Collector::start(Mode::Healthy).await;
    let http = SocketAddr::from(([127, 0, 0, 1], test_support::process::free_port().await));
    let _rotel = test_support::rotel::start(http, jaeger.addr).await;
    let server = start_server_with(
        http,
        50,
        0,
        &[
            ("EXPORT_PIPELINE", "stock"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ],
    )
    .await;
    let order = server.checkout().await;
    server.terminate().await;
    let spans = spans_of(&jaeger, order["trace_id"].as_str().expect("trace id")).await;
    assert!(spans.iter().any(|s| s.name == "POST /api/checkout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_compresses_each_export_and_rotel_takes_it() {
    // Straight to the fake collector, which sees the header and decodes the body ...
    let collector = Collector::start(Mode::Healthy).await;
    let gzip = [("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")];
    let server = start_server_with(collector.addr, 50, 0, &gzip).await;
    let order = server.checkout().await;
    server.terminate().await;
    spans_of(&collector, order["trace_id"].as_str().expect("trace id")).await;
    let encodings = collector.encodings();
    assert!(
        !encodings.is_empty() && encodings.iter().all(|e| e.as_deref() == Some("gzip")),
        "{encodings:?}"
    );
    // ... and to a real collector, which forwards what it could read.
    let jaeger = Collector::start(Mode::Healthy).await;
    let http = SocketAddr::from(([127, 0, 0, 1], test_support::process::free_port().await));
    let _rotel = test_support::rotel::start(http, jaeger.addr).await;
    let server = start_server_with(http, 50, 0, &gzip).await;
    let order = server.checkout().await;
    server.terminate().await;
    spans_of(&jaeger, order["trace_id"].as_str().expect("trace id")).await;
}

/// A collector behind TLS whose certificate comes from `ca`, asking its clients for a certificate
/// from `ca` too.
async fn tls_collector(ca: &TestCa) -> Collector {
    Collector::start_tls(
        Mode::Healthy,
        ServerTls {
            server: ca.issue(&["localhost", "127.0.0.1"]),
            client_ca_pem: Some(ca.pem()),
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_a_collector_over_https_with_a_private_ca_and_a_client_certificate() {
    let ca = TestCa::new("checkout test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let collector = tls_collector(&ca).await;
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let (cert, key) = ca.issue(&["checkout-server"]).write(dir.path(), "client");
    let endpoint = format!("https://localhost:{}", collector.addr.port());
    let server = start_server_with(
        collector.addr,
        50,
        0,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca_file),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &cert),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", &key),
        ],
    )
    .await;
    let order = server.checkout().await;
    let (_, logs) = server.terminate().await;
    spans_of(&collector, order["trace_id"].as_str().expect("trace id")).await;
    assert!(
        !logs.iter().any(|l| l.contains("not be exported")),
        "{logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_certificate_from_another_ca_is_logged_once_and_fails_no_checkout() {
    let collector = tls_collector(&TestCa::new("the collector's CA")).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let other_ca = TestCa::new("another CA").write_pem(dir.path(), "other-ca.pem");
    let endpoint = format!("https://127.0.0.1:{}", collector.addr.port());
    // No schedule delay: each checkout's spans are a batch of their own, each refused.
    let server = start_server_with(
        collector.addr,
        0,
        0,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &other_ca),
        ],
    )
    .await;
    for _ in 0..3 {
        server.checkout().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (_, logs) = server.terminate().await;
    let failures: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("could not be exported"))
        .collect();
    assert_eq!(failures.len(), 1, "logged once: {logs:?}");
    assert!(
        failures[0].contains("certificate"),
        "says why: {}",
        failures[0]
    );
    let run = logs
        .iter()
        .find(|l| l.contains("exports failed for a while"))
        .unwrap_or_else(|| panic!("what the run cost, at shutdown: {logs:?}"));
    assert!(!run.contains("failed_exports=1 "), "several: {run}");
    assert!(collector.spans().is_empty());
}

#[tokio::test]
async fn a_certificate_that_cannot_be_read_stops_the_start_naming_its_variable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = server::command(
        Path::new(env!("CARGO_BIN_EXE_checkout-server")),
        &server::sqlite_url(&dir.path().join("checkout.db")),
        SocketAddr::from(([127, 0, 0, 1], 4318)),
    );
    command
        .env("SERVER_ADDR", "127.0.0.1:0")
        .env("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem");
    let output = refused_at_start(command).await;
    assert!(
        output.contains("OTEL_EXPORTER_OTLP_CERTIFICATE") && output.contains("/nonexistent/ca.pem"),
        "the variable and its value: {output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ratio_sampler_keeps_the_traces_whose_randomness_reaches_its_threshold_and_records_it() {
    // `traceidratio` at 0.5: T = 2^55. Each request continues a trace of a known id (the parent's
    // sampled flag is ignored, as the specification's TraceIdRatioBased does); the trace ids'
    // last 56 bits (their randomness) half at or above 2^55 and half below.
    let collector = Collector::start(Mode::Healthy).await;
    let server = start_server_with(
        collector.addr,
        50,
        0,
        &[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let ids = |from: u64| {
        (0..8_u64).map(move |i| format!("{:032x}", 0xabcd_u128 << 112 | u128::from(from + i)))
    };
    let kept: Vec<String> = ids(1 << 55).collect();
    let dropped: Vec<String> = ids((1 << 55) - 8).collect();
    for trace_id in kept.iter().chain(&dropped) {
        let response = client
            .get(format!("http://{}/api/products", server.addr))
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-03"))
            .send()
            .await
            .expect("the server answers");
        assert!(response.status().is_success());
    }
    test_support::wait_for(
        "the kept traces' spans at the collector",
        Duration::from_secs(20),
        || async {
            let spans = collector.spans();
            (kept.iter())
                .all(|id| spans.iter().any(|s| &s.trace_id == id))
                .then_some(())
        },
    )
    .await;
    server.terminate().await;
    let spans = collector.spans();
    for span in spans.iter().filter(|s| kept.contains(&s.trace_id)) {
        assert_eq!(span.wire.trace_state, "ot=th:8", "{}", span.name);
    }
    for id in &dropped {
        assert!(!spans.iter().any(|s| &s.trace_id == id), "{id} dropped");
    }
}
