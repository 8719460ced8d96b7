//! Checkout latency with the collector healthy, down, hanging or failing.
//!
//! The claim under test: telemetry faults never fail a checkout and add no noticeable latency,
//! because spans leave through the batch processor's own thread. Each mode runs the real server
//! in-process with the real OTLP/HTTP exporter (otlp-batch-exporter's processor, 100 ms schedule)
//! and times sequential checkouts over loopback.
//!
//! Run: `cargo bench -p checkout-server --bench collector_faults` (results in BENCHMARKS.md).

mod common;

use std::time::{Duration, Instant};

use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_batch_exporter::{BatchConfig, BatchProcessor, ExporterSettings, HttpTransport};
use test_support::collector::{Collector, Mode};

const WARMUP: usize = 20;
const CHECKOUTS: usize = 300;

async fn run(mode: Mode) -> (Vec<Duration>, usize) {
    let collector = Collector::start(mode).await.addr;
    let endpoint = format!("http://{collector}/v1/traces");
    let settings = ExporterSettings::from_lookup(|name| {
        (name == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").then(|| endpoint.clone())
    })
    .expect("settings");
    let transport = HttpTransport::new(settings).expect("transport");
    let processor = BatchProcessor::new(
        transport,
        BatchConfig {
            schedule_delay: Duration::from_millis(100),
            ..BatchConfig::default()
        },
    );
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let dir = tempfile::tempdir().expect("dir");
    let url = common::start_server(&provider, &dir).await;

    let client = reqwest::Client::new();
    let body = common::checkout_body();
    let mut times = Vec::with_capacity(CHECKOUTS);
    let mut failed = 0;
    for i in 0..WARMUP + CHECKOUTS {
        let started = Instant::now();
        let ok = client
            .post(&url)
            .json(&body)
            .send()
            .await
            .is_ok_and(|r| r.status() == 201);
        if i >= WARMUP {
            times.push(started.elapsed());
            failed += usize::from(!ok);
        }
    }
    // Shutdown is bounded like the binary's; a hanging collector must not hold the bench up.
    let _ = tokio::task::spawn_blocking(move || {
        provider.shutdown_with_timeout(Duration::from_millis(500))
    })
    .await;
    (times, failed)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() {
    println!("| collector | checkouts | failed | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|---|---|");
    for mode in [Mode::Healthy, Mode::Down, Mode::Hanging, Mode::Failing] {
        let (mut times, failed) = run(mode).await;
        times.sort();
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        println!(
            "| {mode:?} | {} | {failed} | {} | {} | {} | {} |",
            times.len(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.9)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().expect("times")),
        );
    }
}
