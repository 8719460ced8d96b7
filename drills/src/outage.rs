//! The outage drill: `loadgen` at 200 checkouts/s while the collector is down, hanging or
//! answering 503.

use std::time::{Duration, Instant};

use test_support::collector::{Collector, Mode};

use crate::*;

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

pub(crate) async fn run() -> Vec<String> {
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
            (report.requests.iter())
                .filter(|r| !arrived.contains(&r.trace_id))
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
            report.requests.len(),
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
