//! The traces drill: `loadgen`'s mix at 50 requests/s for 60 s through a real collector (rotel).

use std::time::{Duration, Instant};

use test_support::{
    collector::{Collector, Mode},
    process::free_loopback,
    rotel,
};

use crate::*;

pub(crate) async fn run() -> Vec<String> {
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
            .requests
            .iter()
            .filter(|r| !arrived.contains(&r.trace_id))
            .count();
        if missing == 0 || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!(
        "  {} traces started, {} arrived at the collector's destination",
        report.requests.len(),
        report.requests.len() - missing
    );
    if missing > 0 {
        missed.push(format!("traces: {missing} traces never arrived"));
    }
    scan_for_card_data("traces", &server, &capture, &mut missed);
    missed
}
