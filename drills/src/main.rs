//! Reliability drills against the real server binary, each printing its figures and failing
//! (exit 1) when an expectation is missed. Results are recorded in RELIABILITY.md, from the
//! release build; `scripts/test.sh` runs all but the outage drill against the debug build
//! (`CHECKOUT_SERVER_BIN`).
//!
//! ```sh
//! cargo build --release -p checkout-server && cargo run --release -p drills [-- concurrency|crash|traces|outage]
//! ```
//!
//! - **concurrency**: 1,000 checkouts at concurrency 50 on a scarce catalog: exactly the
//!   acknowledged (201) orders are paid, stock equals seed minus paid quantities and is never
//!   negative, every other answer is a clean 409.
//! - **crash**: checkouts at concurrency 20, `kill -9` mid-load, restart on the same database:
//!   every order that got a 201 is there and paid, no order is left pending once the killed
//!   server's claims expire (`CLAIM_LEASE_SECONDS=2`), stock equals seed minus paid quantities.
//!
//! - **outage** (not in `all`: over three minutes; `all-with-outage` runs everything): `loadgen`
//!   at 200 checkouts/s for 60 s while the collector is down, hanging, or answering 503 with
//!   `Retry-After` from 15 s to 45 s, with the export settings the README recommends: no
//!   unexpected answer, p99 within 10 % of a run without the fault, RSS growth ≤ 32 MB, new spans
//!   flowing again within 10 s of the collector's return, the backlog drained, and no trace lost.
//! - **traces**: `loadgen`'s mix at 50 requests/s for 60 s against the server exporting to a real
//!   collector (rotel; `source scripts/rotel.sh` sets `ROTEL_AGENT`): no unexpected answer, and
//!   every trace the load started reaches what the collector forwards to.
//!
//! In the first two the collector is `test-support`'s fake one (healthy): they are about orders and
//! stock.

// An application (or its tests' support), not a library for others: an item is documented where
// the doc says more than its name. The library crates (otel-browser, otlp-wire, trace-context,
// checkout-api) keep the workspace's `missing_docs`.
#![allow(missing_docs)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use checkout_api::OrderStatus;
use futures::{StreamExt as _, stream};
use serde_json::Value;
use test_support::{
    collector::{Collector, Mode},
    fixtures,
    ledger::Ledger,
    process::free_loopback,
    rotel,
    secrets::CardData,
    server::{self, ServerProcess},
};
use tokio::process::Command;

const PRODUCTS: i64 = 6;

#[tokio::main]
async fn main() -> ExitCode {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".to_owned());
    let mut missed = Vec::new();
    let all = matches!(which.as_str(), "all" | "all-with-outage");
    if all || which == "concurrency" {
        missed.extend(concurrency().await);
    }
    if all || which == "crash" {
        missed.extend(crash().await);
    }
    if all || which == "traces" {
        missed.extend(traces().await);
    }
    // Over three minutes: run by name (and by `all-with-outage`), not in every test run.
    if matches!(which.as_str(), "outage" | "all-with-outage") {
        missed.extend(outage().await);
    }
    if missed.is_empty() {
        println!("\nall expectations met");
        ExitCode::SUCCESS
    } else {
        println!("\nMISSED:");
        for miss in &missed {
            println!("  {miss}");
        }
        ExitCode::FAILURE
    }
}

/// The server on `db` (a SQLite file) with `seed` of each product, exporting to `collector`.
async fn start_server(db: &Path, seed: i64, collector: SocketAddr) -> ServerProcess {
    let binary = server::binary(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/checkout-server"),
    );
    let mut command = server::command(&binary, &server::sqlite_url(db), collector);
    command
        .env("SEED_STOCK", seed.to_string())
        .env("PAYMENT_LATENCY_MS", "5")
        .env("MAX_INFLIGHT_CHECKOUTS", "256")
        // Short, so that the crash drill sees the killed server's orders recovered in seconds.
        .env("CLAIM_LEASE_SECONDS", "2")
        // The export settings the README recommends and compose uses.
        .env("OTEL_BSP_MAX_QUEUE_SIZE", "262144")
        .env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "5000")
        .env("RUST_LOG", "warn,checkout_server=info");
    ServerProcess::start(command).await
}

/// One checkout of one unit of `product`; the status and, on 201, the order id.
async fn checkout(client: &reqwest::Client, base: &str, product: i64) -> (u16, Option<String>) {
    let body = fixtures::checkout(&[(product, 1)], fixtures::test_cards::APPROVED);
    match client
        .post(format!("{base}/api/checkout"))
        .json(&body)
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            let order = response
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["order_id"].as_str().map(str::to_owned));
            (status, order)
        }
        // A connection cut by the crash: no answer, no promise made.
        Err(_) => (0, None),
    }
}

/// The card numbers and emails the drills and their load send (not the CVCs: a few digits also
/// occur as tokens in log lines, e.g. in `elapsed_ms=123.4` or a port).
fn card_data() -> CardData {
    CardData::test_cards(&[], &[fixtures::EMAIL, loadgen::EMAIL])
}

/// Card data in what the server logged or the collector received is a miss.
fn scan_for_card_data(
    drill: &str,
    server: &ServerProcess,
    collector: &Collector,
    missed: &mut Vec<String>,
) {
    let card_data = card_data();
    let spans = collector.spans();
    let texts = server
        .process
        .output()
        .into_iter()
        .chain(spans.iter().flat_map(|s| s.texts()).map(str::to_owned));
    for text in texts {
        if let Some(secret) = card_data.found_in(&text) {
            missed.push(format!("{drill}: card data ({secret}) in: {text}"));
            return;
        }
    }
}

async fn concurrency() -> Vec<String> {
    const CHECKOUTS: usize = 1000;
    const CONCURRENCY: usize = 50;
    // Scarce: 6 × 120 = 720 units for 1,000 buyers, so the last units are raced for.
    const SEED: i64 = 120;
    println!(
        "== concurrency: {CHECKOUTS} checkouts at concurrency {CONCURRENCY}, {SEED} of each of {PRODUCTS} products"
    );
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("drill.db");
    let collector = Collector::start(Mode::Healthy).await;
    let server = start_server(&db, SEED, collector.addr).await;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let results: Vec<(u16, Option<String>, Duration)> = stream::iter(0..CHECKOUTS)
        .map(|i| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let t = Instant::now();
                let (status, order) = checkout(&client, &base, (i as i64 % PRODUCTS) + 1).await;
                (status, order, t.elapsed())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut scanned = Vec::new();
    scan_for_card_data("concurrency", &server, &collector, &mut scanned);
    drop(server);
    let ledger = Ledger::read(&server::sqlite_url(&db)).await;

    let mut missed = Vec::new();
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for (status, ..) in &results {
        *by_status.entry(*status).or_default() += 1;
    }
    let acknowledged: Vec<&String> = results.iter().filter_map(|(_, o, _)| o.as_ref()).collect();
    let paid = ledger.count(OrderStatus::Paid);
    if paid != acknowledged.len() {
        missed.push(format!(
            "concurrency: {paid} paid orders for {} acknowledged",
            acknowledged.len()
        ));
    }
    if let Some(unpaid) = acknowledged.iter().find(|id| !ledger.is_paid(id)) {
        missed.push(format!(
            "concurrency: acknowledged order {unpaid} is not paid"
        ));
    }
    if by_status.keys().any(|s| !matches!(s, 201 | 409)) {
        missed.push(format!(
            "concurrency: answers other than 201/409: {by_status:?}"
        ));
    }
    missed.extend(
        ledger
            .stock_mismatches(SEED)
            .into_iter()
            .map(|m| format!("concurrency: {m}")),
    );
    missed.extend(scanned);
    let mut times: Vec<Duration> = results.iter().map(|(.., t)| *t).collect();
    times.sort_unstable();
    println!(
        "  {:.0} checkouts/s; p50 {:?}, p99 {:?}; answers {by_status:?}; {paid} paid = {} acknowledged; stock = seed - paid for every product",
        CHECKOUTS as f64 / elapsed.as_secs_f64(),
        loadgen::percentile(&times, 50),
        loadgen::percentile(&times, 99),
        acknowledged.len()
    );
    missed
}

async fn crash() -> Vec<String> {
    const SEED: i64 = 100_000;
    const CONCURRENCY: usize = 20;
    println!("== crash: checkouts at concurrency {CONCURRENCY}, kill -9 after 2 s, restart");
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("drill.db");
    let collector = Collector::start(Mode::Healthy).await;
    let server = start_server(&db, SEED, collector.addr).await;
    let base = format!("http://{}", server.addr);
    let pid = server.process.id().expect("running");
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let client = reqwest::Client::new();
    let load = {
        let acknowledged = Arc::clone(&acknowledged);
        tokio::spawn(async move {
            stream::iter(0..)
                .map(|i: i64| {
                    let (client, base) = (client.clone(), base.clone());
                    async move { checkout(&client, &base, i % PRODUCTS + 1).await }
                })
                .buffer_unordered(CONCURRENCY)
                .take_while(|(status, _)| std::future::ready(*status != 0))
                .for_each(|(_, order)| {
                    if let Some(order) = order {
                        acknowledged.lock().expect("lock").push(order);
                    }
                    std::future::ready(())
                })
                .await;
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(10), load).await;
    let acknowledged = acknowledged.lock().expect("lock").clone();
    let before_restart = Ledger::read(&server::sqlite_url(&db)).await;
    let pending_at_crash = before_restart.count(OrderStatus::Pending);

    // Restart on the same file: recovery fails what the crash left pending and returns its stock.
    let restarted = start_server(&db, SEED, collector.addr).await;
    // The killed server's claims expire after their 2 s lease; the restarted one then recovers
    // them within a third of a lease.
    let recovery = Instant::now();
    while Ledger::read(&server::sqlite_url(&db))
        .await
        .count(OrderStatus::Pending)
        > 0
        && recovery.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_after = recovery.elapsed();
    let mut scanned = Vec::new();
    scan_for_card_data("crash", &server, &collector, &mut scanned);
    scan_for_card_data("crash (restarted)", &restarted, &collector, &mut scanned);
    drop(restarted);
    let ledger = Ledger::read(&server::sqlite_url(&db)).await;
    let mut missed = Vec::new();
    if acknowledged.is_empty() {
        missed.push("crash: no checkout was acknowledged before the crash".to_owned());
    }
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !ledger.is_paid(id))
        .collect();
    if !lost.is_empty() {
        missed.push(format!(
            "crash: {} acknowledged orders not paid after restart",
            lost.len()
        ));
    }
    let pending = ledger.count(OrderStatus::Pending);
    if pending > 0 {
        missed.push(format!(
            "crash: {pending} orders still pending after restart"
        ));
    }
    missed.extend(
        ledger
            .stock_mismatches(SEED)
            .into_iter()
            .map(|m| format!("crash: {m}")),
    );
    missed.extend(scanned);
    println!(
        "  {} acknowledged before the kill, all paid after restart: {}; {pending_at_crash} left pending by the crash, failed {recovered_after:.1?} after restart (their claims' lease) with their stock returned; stock = seed - paid: {}",
        acknowledged.len(),
        lost.is_empty(),
        !missed.iter().any(|m| m.contains("stock")),
    );
    missed
}

async fn traces() -> Vec<String> {
    const RATE: f64 = 50.0;
    const SECONDS: u64 = 60;
    println!("== traces: loadgen at {RATE} req/s for {SECONDS} s, server -> rotel -> capture");
    let dir = tempfile::tempdir().expect("dir");
    let capture = Collector::start(Mode::Healthy).await;
    let http = free_loopback().await;
    let _rotel = rotel::start(http, capture.addr).await;
    // Enough stock that payments, not 409s, make up the run.
    let server = start_server(&dir.path().join("drill.db"), 100_000, http).await;
    let report = loadgen::run(&loadgen::Options {
        target: format!("http://{}", server.addr),
        rate: RATE,
        duration: Duration::from_secs(SECONDS),
        progress: false,
        catalog_percent: 40,
    })
    .await;
    println!("  {}", report.line());
    let mut missed: Vec<String> = report
        .unexpected
        .iter()
        .take(5)
        .map(|why| format!("traces: unexpected answer: {why}"))
        .collect();
    // The server exports every 5 s by default, rotel batches for 100 ms: all within 15 s.
    let deadline = Instant::now() + Duration::from_secs(15);
    let missing = loop {
        let arrived: std::collections::HashSet<String> =
            capture.spans().into_iter().map(|s| s.trace_id).collect();
        let missing = report
            .trace_ids
            .iter()
            .filter(|id| !arrived.contains(*id))
            .count();
        if missing == 0 || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!(
        "  {} traces started, {} arrived at the collector's destination",
        report.trace_ids.len(),
        report.trace_ids.len() - missing
    );
    if missing > 0 {
        missed.push(format!("traces: {missing} traces never arrived"));
    }
    scan_for_card_data("traces", &server, &capture, &mut missed);
    missed
}

/// The server's resident memory, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

fn unix_nanos(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

async fn outage() -> Vec<String> {
    const RATE: f64 = 200.0;
    let load = |target: String, seconds: u64| async move {
        loadgen::run(&loadgen::Options {
            target,
            rate: RATE,
            duration: Duration::from_secs(seconds),
            progress: false,
            // Checkouts only: the drill is about ~200 checkouts/s.
            catalog_percent: 0,
        })
        .await
    };
    let mut missed = Vec::new();
    for (label, fault) in [
        ("down", Mode::Down),
        ("hanging", Mode::Hanging),
        (
            "503 + Retry-After: 2",
            Mode::Throttled {
                times: usize::MAX,
                retry_after_secs: 2,
            },
        ),
    ] {
        println!(
            "== outage ({label}): loadgen at {RATE} checkouts/s; the fault from 15 s to 45 s of 60 s"
        );
        let dir = tempfile::tempdir().expect("dir");
        let collector = Collector::start(Mode::Healthy).await;
        let server = start_server(&dir.path().join("drill.db"), 1_000_000, collector.addr).await;
        let target = format!("http://{}", server.addr);
        let pid = server.process.id().expect("running");
        let baseline = load(target.clone(), 15).await;
        let rss_before = rss_bytes(pid);

        let run = tokio::spawn(load(target, 60));
        tokio::time::sleep(Duration::from_secs(15)).await;
        collector.set_mode(fault).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        collector.set_mode(Mode::Healthy).await;
        let restored = std::time::SystemTime::now();
        let restored_at = Instant::now();
        let recovery = test_support::wait_for("spans again", Duration::from_secs(30), || async {
            let since = unix_nanos(restored);
            collector
                .spans()
                .iter()
                .any(|s| s.start_ns > since)
                .then(|| restored_at.elapsed())
        })
        .await;
        let report = run.await.expect("load");
        let rss_after = rss_bytes(pid);
        // The backlog kept through the outage drains: every trace of the run arrives, or what is
        // still missing after 30 s is lost.
        let missing = || {
            let arrived: std::collections::HashSet<String> =
                collector.spans().into_iter().map(|s| s.trace_id).collect();
            (report.trace_ids.iter())
                .filter(|id| !arrived.contains(*id))
                .count()
        };
        let drained = tokio::time::timeout(Duration::from_secs(30), async {
            while missing() > 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .is_ok()
        .then(|| restored_at.elapsed());
        let lost = missing();
        scan_for_card_data(
            &format!("outage ({label})"),
            &server,
            &collector,
            &mut missed,
        );
        drop(server);

        let (p99_base, p99_run) = (baseline.percentile(99), report.percentile(99));
        let growth = rss_after.saturating_sub(rss_before);
        println!("  baseline: {}", baseline.line());
        println!("  with the fault: {}", report.line());
        println!(
            "  p99 {:.1} ms vs {:.1} ms without ({:+.0} %); RSS {:.1} -> {:.1} MB; new spans again {:.1} s after the collector came back, the backlog drained {}; {lost} of {} traces lost to the fault",
            p99_run.as_secs_f64() * 1e3,
            p99_base.as_secs_f64() * 1e3,
            (p99_run.as_secs_f64() / p99_base.as_secs_f64().max(1e-9) - 1.0) * 100.0,
            rss_before as f64 / 1e6,
            rss_after as f64 / 1e6,
            recovery.as_secs_f64(),
            drained.map_or("not within 30 s".to_owned(), |d| format!(
                "{:.1} s after",
                d.as_secs_f64()
            )),
            report.trace_ids.len(),
        );
        if !report.unexpected.is_empty() {
            missed.push(format!(
                "outage ({label}): {} unexpected answers, e.g. {}",
                report.unexpected.len(),
                report.unexpected[0]
            ));
        }
        if p99_run.as_secs_f64() > p99_base.as_secs_f64() * 1.10 {
            missed.push(format!(
                "outage ({label}): p99 {:.1} ms is more than 10 % over {:.1} ms",
                p99_run.as_secs_f64() * 1e3,
                p99_base.as_secs_f64() * 1e3
            ));
        }
        if lost > 0 {
            missed.push(format!("outage ({label}): {lost} traces lost"));
        }
        if growth > 32_000_000 {
            missed.push(format!(
                "outage ({label}): RSS grew {} MB",
                growth / 1_000_000
            ));
        }
        if recovery > Duration::from_secs(10) {
            missed.push(format!(
                "outage ({label}): spans flowed again only after {recovery:?}"
            ));
        }
    }
    missed
}
