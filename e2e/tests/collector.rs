//! The collector tier on the real stack (otel-collector/config.yaml, unmodified): Request, Error
//! and Duration metrics from every span, read back through Jaeger's Monitor tab API from
//! Prometheus; and tail sampling, which keeps every failed and every slow trace whole and a share
//! of the rest.
//!
//! A known mix goes through the real page (in Chromium, behind its nginx) and through `loadgen`
//! against the server: approved, declined and gateway-failing checkouts, some slowed by the
//! server's fault endpoint. The collector keeps 10 % of the other traces here
//! (`TAIL_SAMPLING_PERCENTAGE`; 100 % in compose's default stack and `scripts/dev.sh`).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use e2e::{
    browser::{click, text, wait_for_result, with_browser},
    stack::{Settings, Stack},
    trace::{Span, SpanKind, Trace},
    wait_for,
};

const WEB: &str = "checkout-web";
const SERVER: &str = "checkout-server";
/// The share of the other traces the collector keeps here, in percent.
const SHARE_PERCENT: f64 = 10.0;
/// The slowed checkouts' payment latency (the fault endpoint's), above the collector's 500 ms
/// threshold for a slow trace; the others' is the stack's 20 ms.
const SLOWED_PAYMENT_MS: u64 = 700;
const NORMAL_PAYMENT_MS: u64 = 20;
/// How far a kept count may be from the share before the test fails: each side's binomial tail
/// beyond the bound is at most this likely (the test cannot fail by chance more than once in
/// 500,000 runs).
const TAIL_PROBABILITY: f64 = 1e-6;
/// How long the traces may take to be decided and stored: the collector decides a trace whose
/// root never arrives (the server's spans of a `loadgen` request, whose parent is the generator's)
/// 5 s after its first span.
const DECIDED_TIMEOUT: Duration = Duration::from_secs(60);
/// The batch processor's timeout after the sampler (otel-collector/config.yaml): the longest it
/// holds what the sampler let through.
const BATCH_TIMEOUT: Duration = Duration::from_secs(1);

/// One checkout the test made and what it must come to.
#[derive(Debug, Clone)]
struct Checkout {
    trace_id: String,
    /// Made through the page (its trace has the page's spans too).
    page: bool,
    /// Answered with a replay (`Idempotent-Replayed`): nothing charged.
    replayed: bool,
    /// Its trace has an Error span: a declined card (the payment span) or a gateway failure (the
    /// payment span and the 502's server span).
    error: bool,
    slowed: bool,
}

impl Checkout {
    fn must_be_kept(&self) -> bool {
        self.error || self.slowed
    }

    /// Whether `trace` is all of this checkout: the page's click, checkout and fetch (a page
    /// checkout), the server span, the payment (unless a replay), and every span's parent but the
    /// trace's root's.
    fn is_whole(&self, trace: &Trace) -> bool {
        let page_part = !self.page
            || (trace.has(WEB, "click checkout")
                && trace.has(WEB, "checkout")
                && trace.has(WEB, "POST"));
        let servers = (trace.spans.iter())
            .filter(|s| s.service == SERVER && s.kind == SpanKind::Server)
            .count();
        let payment = self.replayed || trace.has(SERVER, "payment.charge");
        let orphans = (trace.spans.iter())
            .filter(|s| !s.parent_id.is_empty() && trace.parent_of(s).is_none())
            .count();
        // A `loadgen` checkout's server span has a parent that is not exported: the generator's.
        let expected_orphans = usize::from(!self.page);
        page_part && servers == 1 && payment && orphans == expected_orphans
    }
}

/// The smallest and largest count of `Binomial(n, p)` outside which each tail is at most
/// [`TAIL_PROBABILITY`] likely: the bound the kept share is held to.
fn binomial_bounds(n: usize, p: f64) -> (usize, usize) {
    let mut pmf = vec![(1.0 - p).powi(i32::try_from(n).expect("small"))];
    for k in 0..n {
        let next = pmf[k] * (n - k) as f64 / (k + 1) as f64 * p / (1.0 - p);
        pmf.push(next);
    }
    let mut below = 0.0;
    let mut low = 0;
    while below + pmf[low] <= TAIL_PROBABILITY {
        below += pmf[low];
        low += 1;
    }
    let mut above = 0.0;
    let mut high = n;
    while above + pmf[high] <= TAIL_PROBABILITY {
        above += pmf[high];
        high -= 1;
    }
    (low, high)
}

/// Sets the server's payment latency through its fault endpoint.
async fn set_payment_latency(stack: &Stack, millis: u64) {
    let response = reqwest::Client::new()
        .put(format!("{}/api/faults", stack.server_url()))
        .json(&serde_json::json!({ "payment_latency_ms": millis }))
        .send()
        .await
        .expect("the fault endpoint answers");
    assert!(response.status().is_success(), "{response:?}");
}

/// `loadgen`'s checkouts (no catalog views) at `rate` a second for `seconds`; each must get the
/// answer its card asks for.
async fn load(stack: &Stack, rate: f64, seconds: u64, slowed: bool) -> Vec<Checkout> {
    let report = loadgen::run(&loadgen::Options {
        target: stack.server_url(),
        rate,
        duration: Duration::from_secs(seconds),
        progress: false,
        catalog_percent: 0,
    })
    .await;
    assert!(report.unexpected.is_empty(), "{:?}", report.unexpected);
    report
        .requests
        .iter()
        .map(|r| Checkout {
            trace_id: r.trace_id.clone(),
            page: false,
            replayed: r.replayed,
            // A declined card's payment span is an Error, but a replay charges nothing; a 502 is
            // the server span's Error, replayed or not.
            error: (r.status == 402 && !r.replayed) || r.status == 502,
            slowed: slowed && !r.replayed,
        })
        .collect()
}

/// Checkouts on the page, one a `(card, slowed)`: the card's button, and whether the payment is
/// slowed for it (the fault endpoint). `share_percent`: the share the page's nginx tells it the
/// collectors keep, which its trace link mentions for every placed checkout. The last checkout's
/// trace must be kept (failed, slowed, or a share of 100 %): the browser stays open until it is
/// whole in Jaeger. The page sends its spans in order, so every earlier checkout's have left by
/// then; a browser closed sooner can take the spans still in the page's queue with it (a
/// clean-clone run once lost the last checkout's page spans so).
async fn page_checkouts(
    stack: &Stack,
    share_percent: f64,
    checkouts: &[(&str, bool)],
) -> Vec<Checkout> {
    let made = Mutex::new(Vec::new());
    let made_ref = &made;
    with_browser(|client| async move {
        client.goto(&stack.page_url).await.expect("the page loads");
        let mut previous = String::new();
        for &(card, slowed) in checkouts {
            if slowed {
                set_payment_latency(stack, SLOWED_PAYMENT_MS).await;
            }
            click(&client, card).await;
            click(&client, "add-2").await;
            click(&client, "checkout").await;
            let (status, message) = wait_for_result(&client, &previous).await;
            let declined = card == "card-decline";
            assert_eq!(status, if declined { "error" } else { "ok" }, "{message}");
            let trace_id = text(&client, "trace-id").await;
            // Where the collectors keep a share, the link says a placed checkout's trace may not
            // be there (kept if slow); a failed one's always is.
            let note = text(&client, "trace-note").await;
            if declined || share_percent == 100.0 {
                assert_eq!(note, "", "{card}, slowed: {slowed}");
            } else {
                assert!(
                    note.contains(&format!("{share_percent} % sampled")),
                    "{note}"
                );
            }
            made_ref.lock().expect("lock").push(Checkout {
                trace_id,
                page: true,
                replayed: false,
                error: declined,
                slowed,
            });
            previous = message;
            if slowed {
                set_payment_latency(stack, NORMAL_PAYMENT_MS).await;
            }
        }
        let last = made_ref.lock().expect("lock").last().cloned();
        let last = last.expect("at least one checkout");
        assert!(share_percent == 100.0 || last.must_be_kept(), "{last:?}");
        stack
            .trace(&last.trace_id, |trace| last.is_whole(trace))
            .await;
    })
    .await;
    made.into_inner().expect("lock")
}

/// A counter of the collector's own metrics (Prometheus text), summed over the series whose labels
/// hold `label`; 0 when it has none (a histogram has no series before its first value).
fn counter(metrics: &str, name: &str, label: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']) && rest.contains(label))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        // An empty sum is -0.0.
        .sum::<f64>()
        + 0.0
}

/// The sum over the sampling collectors' own metrics of [`counter`].
fn sum(all: &[String], name: &str, label: &str) -> f64 {
    all.iter().map(|m| counter(m, name, label)).sum::<f64>() + 0.0
}

/// Waits until the sampling collectors have decided every trace they got (at least `traces`:
/// each policy judges every trace, so the `share` policy's count is the decisions), then until
/// Jaeger stores every span they let through (as many as they sent it, once the batch processor
/// after the sampler has sent what it held); returns what Jaeger stores.
async fn decided_and_stored(stack: &Stack, traces: usize) -> Vec<Span> {
    let decided_at = wait_for("every trace decided", DECIDED_TIMEOUT, || async {
        let all = stack.sampler_metrics().await;
        let received = sum(
            &all,
            "otelcol_processor_tail_sampling_new_trace_id_received",
            "",
        );
        let decided = sum(
            &all,
            "otelcol_processor_tail_sampling_count_traces_sampled",
            r#"policy="share""#,
        );
        (received >= traces as f64 && decided >= received).then(Instant::now)
    })
    .await;
    wait_for("every kept span stored", DECIDED_TIMEOUT, || async {
        if decided_at.elapsed() < BATCH_TIMEOUT {
            return None;
        }
        let all = stack.sampler_metrics().await;
        let sent = sum(
            &all,
            "otelcol_exporter_sent_spans",
            r#"exporter="otlp_grpc/jaeger""#,
        );
        let spans = stack.stored().await;
        (spans.len() as f64 == sent).then_some(spans)
    })
    .await
}

/// Prometheus's `sum(…)` of the span metrics' calls selected by `labels` (PromQL matchers).
async fn calls(stack: &Stack, labels: &str) -> Option<f64> {
    let samples = stack
        .prometheus()
        .query(&format!("sum(traces_span_metrics_calls_total{{{labels}}})"))
        .await?;
    samples.first().map(|s| s.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_metrics_count_every_span_and_tail_sampling_keeps_every_failed_and_slow_trace_whole() {
    let settings = Settings {
        collector: vec![
            ("SPAN_METRICS_FLUSH_INTERVAL", "1s".to_owned()),
            ("TAIL_SAMPLING_PERCENTAGE", SHARE_PERCENT.to_string()),
        ],
        server: vec![
            ("FAULTS_ENDPOINT", "1".to_owned()),
            ("SEED_STOCK", "1000000".to_owned()),
        ],
        // The page's nginx tells the page the share, as compose's scale profile does.
        edge: vec![("TAIL_SAMPLING_PERCENTAGE", SHARE_PERCENT.to_string())],
        ..Settings::default()
    };
    let Some(stack) = Stack::start_with(settings).await else {
        return;
    };
    let started = Instant::now();
    let mut checkouts = page_checkouts(
        &stack,
        SHARE_PERCENT,
        &[
            ("card-approve", false),
            ("card-decline", false),
            ("card-approve", true),
        ],
    )
    .await;
    checkouts.extend(load(&stack, 50.0, 4, false).await);
    set_payment_latency(&stack, SLOWED_PAYMENT_MS).await;
    checkouts.extend(load(&stack, 5.0, 2, true).await);
    set_payment_latency(&stack, NORMAL_PAYMENT_MS).await;

    let n = checkouts.len();
    let charged: Vec<&Checkout> = checkouts.iter().filter(|c| !c.replayed).collect();
    let declined_or_failed = charged.iter().filter(|c| c.error).count();
    let slowed = checkouts.iter().filter(|c| c.slowed).count();
    println!(
        "{n} checkouts ({} on the page), {} charged, {declined_or_failed} of them declined or failed, \
         {slowed} slowed",
        checkouts.iter().filter(|c| c.page).count(),
        charged.len()
    );
    // The percentiles below need both kinds: more than 1 % slowed, fewer than half.
    assert!(slowed * 100 > n && slowed * 2 < n, "{slowed} of {n} slowed");

    // Every span counted, before any sampling: Prometheus holds the exact counts.
    let server_calls = r#"service_name="checkout-server",span_name="POST /api/checkout",span_kind="SPAN_KIND_SERVER""#;
    let payment = r#"service_name="checkout-server",span_name="payment.charge""#;
    let payment_errors = format!(r#"{payment},status_code="STATUS_CODE_ERROR""#);
    wait_for(
        "the span metrics to count every checkout",
        DECIDED_TIMEOUT,
        || async {
            let counted = (
                calls(&stack, server_calls).await?,
                calls(&stack, payment).await?,
                calls(&stack, &payment_errors).await?,
            );
            (counted == (n as f64, charged.len() as f64, declined_or_failed as f64)).then_some(())
        },
    )
    .await;

    // What the Monitor tab shows, over the whole test: the calls, the payment's error rate, the
    // checkout's latency percentiles.
    // Whole seconds: Jaeger writes the window into PromQL as a Go duration, and PromQL reads
    // `14s`, not `14.879s`.
    let window = Duration::from_secs(started.elapsed().as_secs() + 5);
    let jaeger = &stack.jaeger;
    let rates = jaeger
        .metrics("calls", SERVER, "server", window, None)
        .await
        .expect("Jaeger's calls");
    let per_window = rates["POST /api/checkout"] * window.as_secs_f64();
    println!("Jaeger: POST /api/checkout {per_window:.1} calls over {window:?} (made {n})");
    assert!(
        (per_window - n as f64).abs() <= 0.1 * n as f64,
        "Jaeger's calls of POST /api/checkout over the test, {per_window:.1}, within 10 % of {n}"
    );
    let errors = jaeger
        .metrics("errors", SERVER, "internal", window, None)
        .await
        .expect("Jaeger's errors");
    let expected_rate = declined_or_failed as f64 / charged.len() as f64;
    println!(
        "Jaeger: payment.charge error rate {:.4} (made {expected_rate:.4})",
        errors["payment.charge"]
    );
    assert!(
        (errors["payment.charge"] - expected_rate).abs() <= 0.02,
        "payment.charge's error rate {} is {declined_or_failed}/{}",
        errors["payment.charge"],
        charged.len()
    );
    for (quantile, at_least, at_most) in [(0.5, 0.0, 250.0), (0.99, 500.0, 1000.0)] {
        let latencies = jaeger
            .metrics("latencies", SERVER, "server", window, Some(quantile))
            .await
            .expect("Jaeger's latencies");
        let ms = latencies["POST /api/checkout"];
        println!(
            "Jaeger: POST /api/checkout p{} {ms:.0} ms",
            quantile * 100.0
        );
        assert!(
            (at_least..=at_most).contains(&ms),
            "p{} of POST /api/checkout, {ms} ms, within {at_least}..{at_most} ms ({slowed} of {n} \
             slowed to {SLOWED_PAYMENT_MS} ms)",
            quantile * 100.0
        );
    }
    let web = jaeger
        .metrics("calls", WEB, "client", window, None)
        .await
        .expect("Jaeger's calls of the page");
    assert!(web.get("POST").is_some_and(|r| *r > 0.0), "{web:?}");

    let stored = decided_and_stored(&stack, checkouts.len()).await;
    let metrics = stack.collector_metrics().await;
    let late = counter(
        &metrics,
        "otelcol_processor_tail_sampling_sampling_late_span_age_count",
        "",
    );
    println!("spans that arrived after their trace's decision: {late}");
    assert_eq!(late, 0.0, "every span arrived before its trace was decided");

    let mut by_trace: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for span in &stored {
        by_trace
            .entry(&span.trace_id)
            .or_default()
            .push(span.clone());
    }
    let (mut others, mut others_kept) = (0, 0);
    for checkout in &checkouts {
        let trace = by_trace
            .get(checkout.trace_id.as_str())
            .map(|spans| Trace::of(&checkout.trace_id, spans));
        match &trace {
            Some(trace) => assert!(
                checkout.is_whole(trace),
                "{checkout:?} kept whole:{}",
                trace.outline()
            ),
            None => assert!(!checkout.must_be_kept(), "{checkout:?} kept"),
        }
        if !checkout.must_be_kept() {
            others += 1;
            others_kept += usize::from(trace.is_some());
        }
        // Each kept span records the share it was kept with: every span (th 0) for a failed or
        // slow trace; 10 % (th e666…) for the others (specification, "TraceState: Probability
        // Sampling"), so that counts can be re-weighted.
        if let Some(trace) = &trace {
            let th = if checkout.must_be_kept() {
                "ot=th:0"
            } else {
                "ot=th:e666"
            };
            assert!(
                trace
                    .spans
                    .iter()
                    .all(|s| s.wire.trace_state.starts_with(th)),
                "{checkout:?}: {:?}",
                (trace.spans.iter())
                    .map(|s| &s.wire.trace_state)
                    .collect::<Vec<_>>()
            );
        }
    }
    let (low, high) = binomial_bounds(others, SHARE_PERCENT / 100.0);
    println!(
        "kept {others_kept} of the {others} other traces (share {SHARE_PERCENT} %: {low}..={high} \
         with each tail at most {TAIL_PROBABILITY})"
    );
    assert!(
        (low..=high).contains(&others_kept),
        "{others_kept} of {others} kept, outside {low}..={high}"
    );
}

/// The scale profile's two tiers: the page and the server send to the first
/// (`otel-collector/routing.yaml`), which routes every span by its trace id to one of two
/// second-tier collectors (`otel-collector/config.yaml`, keeping every trace here), found by one
/// name as compose finds them by DNS. Each trace reaches exactly one of them, whole; the span
/// metrics of both add up to every checkout. Then one of them is killed (SIGKILL), its address
/// taken out of the name as Docker's DNS does, while checkouts go on: it loses what it held and
/// nothing more, and the first tier routes everything after to the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tiers_keep_each_trace_whole_in_one_sampling_collector_and_lose_only_what_a_killed_one_held()
 {
    let settings = Settings {
        collector: vec![("SPAN_METRICS_FLUSH_INTERVAL", "1s".to_owned())],
        server: vec![("SEED_STOCK", "1000000".to_owned())],
        second_tier: 2,
        ..Settings::default()
    };
    let Some(stack) = Stack::start_with(settings).await else {
        return;
    };
    let mut checkouts = page_checkouts(&stack, 100.0, &[("card-approve", false)]).await;
    checkouts.extend(load(&stack, 50.0, 2, false).await);

    // Each trace in exactly one second-tier collector: the traces they got add up to the traces
    // Jaeger has (every one kept here), which a trace split between them would exceed.
    let stored = decided_and_stored(&stack, checkouts.len()).await;
    let all = stack.sampler_metrics().await;
    let received: Vec<f64> = (all.iter())
        .map(|m| {
            counter(
                m,
                "otelcol_processor_tail_sampling_new_trace_id_received",
                "",
            )
        })
        .collect();
    let (traces, _) = by_trace(&stored);
    println!(
        "{} checkouts; {} traces in Jaeger; the second-tier collectors got {received:?}",
        checkouts.len(),
        traces.len()
    );
    assert!(
        received.iter().all(|r| *r > 0.0),
        "both got traces: {received:?}"
    );
    assert_eq!(received.iter().sum::<f64>(), traces.len() as f64);
    for checkout in &checkouts {
        let trace = Trace::of(&checkout.trace_id, &traces[checkout.trace_id.as_str()]);
        assert!(
            checkout.is_whole(&trace),
            "{checkout:?}:{}",
            trace.outline()
        );
    }
    // The span metrics: each collector its own series, which add up to every checkout.
    let server_calls = r#"service_name="checkout-server",span_name="POST /api/checkout",span_kind="SPAN_KIND_SERVER""#;
    let by_collector =
        format!("count(traces_span_metrics_calls_total{{{server_calls}}}) by (collector_instance)");
    wait_for(
        "both collectors' span metrics to count every checkout",
        DECIDED_TIMEOUT,
        || async {
            let series = stack.prometheus().query(&by_collector).await?;
            let total = calls(&stack, server_calls).await?;
            (series.len() == 2 && total == checkouts.len() as f64).then_some(())
        },
    )
    .await;

    // A burst, then one second-tier collector killed once the first tier has passed all of it on:
    // what that collector has not yet sent Jaeger (its traces still in the sampler's wait) is what
    // it holds, and the most it can lose. Its address leaves the name at once, and checkouts go on.
    let burst = load(&stack, 50.0, 2, false).await;
    let (passed, held) = passed_on(&stack).await;
    stack.kill_second_tier(1).await;
    let killed = Instant::now();
    let during = load(&stack, 50.0, 3, false).await;
    let rerouted = wait_for(
        "the first tier to route to the one collector left",
        DECIDED_TIMEOUT,
        || async {
            let backends = counter(
                &stack.collector_metrics().await,
                "otelcol_loadbalancer_num_backends",
                "",
            );
            (backends == 1.0).then(|| killed.elapsed())
        },
    )
    .await;
    let after = load(&stack, 50.0, 1, false).await;

    // Every checkout from the kill on whole in Jaeger, through the survivor.
    let (stored, duplicates) = wait_for(
        "every checkout since the kill whole in Jaeger",
        DECIDED_TIMEOUT,
        || async {
            let spans = stack.stored().await;
            let (traces, duplicates) = by_trace(&spans);
            let whole = |c: &Checkout| {
                (traces.get(c.trace_id.as_str()))
                    .is_some_and(|spans| c.is_whole(&Trace::of(&c.trace_id, spans)))
            };
            (during.iter().chain(&after).all(whole)).then_some((spans, duplicates))
        },
    )
    .await;
    let recovered = killed.elapsed();
    // The burst: each trace whole or gone (it was all in the killed collector); no more spans
    // gone than the killed collector held (all that was passed on before the kill is in Jaeger
    // but for those).
    let (traces, _) = by_trace(&stored);
    let mut lost = 0;
    for checkout in &burst {
        match traces.get(checkout.trace_id.as_str()) {
            None => lost += 1,
            Some(spans) => {
                let trace = Trace::of(&checkout.trace_id, spans);
                assert!(
                    checkout.is_whole(&trace),
                    "a trace kept in part: {checkout:?}:{}",
                    trace.outline()
                );
            }
        }
    }
    let since_kill: BTreeSet<&str> = (during.iter().chain(&after))
        .map(|c| c.trace_id.as_str())
        .collect();
    let stored_before: usize = (traces.iter())
        .filter(|(id, _)| !since_kill.contains(*id))
        .map(|(_, spans)| spans.len())
        .sum();
    let lost_spans = passed - stored_before as f64;
    println!(
        "one second-tier collector killed after a burst of {} checkouts, holding {held} spans \
         ({passed} passed on in all): {lost} of the burst's traces lost, {lost_spans} spans; the \
         first tier routed to the other {:.1} s after the kill; {} checkouts meanwhile and {} \
         after, every one whole in Jaeger {:.1} s after the kill; {duplicates} spans stored twice",
        burst.len(),
        rerouted.as_secs_f64(),
        during.len(),
        after.len(),
        recovered.as_secs_f64(),
    );
    assert!(
        lost_spans <= held,
        "{lost_spans} spans lost, more than the {held} the killed collector held"
    );
}

/// Waits until the first tier has passed on every span it took and the second tier has them all,
/// with no new span for a second (the server sends what it has every 200 ms here, so a quiet
/// second is past its last); returns how many spans the first tier has passed on, and how many of
/// them second-tier collector 1 holds (took and has not sent Jaeger: every trace is kept here).
async fn passed_on(stack: &Stack) -> (f64, f64) {
    let last = Mutex::new((-1.0, Instant::now()));
    wait_for(
        "the first tier to have passed on every span it took",
        DECIDED_TIMEOUT,
        || async {
            let first = stack.collector_metrics().await;
            let took = counter(&first, "otelcol_receiver_accepted_spans", "");
            let passed = counter(
                &first,
                "otelcol_exporter_sent_spans",
                r#"exporter="load_balancing""#,
            );
            let second = stack.sampler_metrics().await;
            let taken = sum(&second, "otelcol_receiver_accepted_spans", "");
            let sent = |m: &str| {
                counter(
                    m,
                    "otelcol_exporter_sent_spans",
                    r#"exporter="otlp_grpc/jaeger""#,
                )
            };
            let held =
                counter(&second[1], "otelcol_receiver_accepted_spans", "") - sent(&second[1]);
            let mut last = last.lock().expect("lock");
            if last.0 != took {
                *last = (took, Instant::now());
            }
            let quiet = last.1.elapsed() >= Duration::from_secs(1);
            (quiet && took == passed && passed == taken).then_some((passed, held))
        },
    )
    .await
}

/// The traces of `spans`, each span once (a batch the first tier sends again after it reached one
/// collector but not the other reaches that one twice: at least once, as OTLP delivers), and how
/// many spans came twice.
fn by_trace(spans: &[Span]) -> (BTreeMap<&str, Vec<Span>>, usize) {
    let mut seen = BTreeSet::new();
    let mut duplicates = 0;
    let mut traces: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for span in spans {
        if seen.insert((span.trace_id.as_str(), span.span_id.as_str())) {
            traces
                .entry(span.trace_id.as_str())
                .or_default()
                .push(span.clone());
        } else {
            duplicates += 1;
        }
    }
    (traces, duplicates)
}
#[test]
fn the_binomial_bounds_hold_each_tail_under_the_probability() {
    // Binomial(200, 0.1): mean 20, standard deviation 4.2; P(X <= 2) = 1.9e-7, P(X <= 3) = 1.5e-6
    // (computed apart, with exact binomial coefficients).
    assert_eq!(binomial_bounds(200, 0.1), (3, 43));
    // Nothing kept is likely at 10 % of 10 (0.9^10 = 0.35); 8 or more kept is not (3.7e-7).
    assert_eq!(binomial_bounds(10, 0.1).0, 0);
    assert_eq!(binomial_bounds(10, 0.1).1, 7);
}

/// What a trace the tail sampler holds costs the collector (BENCHMARKS.md, "Tail sampling"), a
/// measurement run by hand rather than a test:
///
/// ```sh
/// source scripts/go-tools.sh && cargo test -p e2e --test collector -- --ignored --nocapture
/// ```
///
/// `loadgen`'s checkouts go to the server at `RATE` a second for `SECONDS`; none of their traces'
/// roots is exported (it is the generator's), so the collector holds every one for its 5 s
/// `decision_wait`. With Go's collector run at `GOGC=10`, its heap is close to what it keeps alive;
/// the growth over the idle heap, divided by the traces held, is the cost of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (BENCHMARKS.md, \"Tail sampling\"), not a test"]
async fn held_trace_memory() {
    const RATE: f64 = 100.0;
    const SECONDS: u64 = 4;
    let settings = Settings {
        collector: vec![("GOGC", "10".to_owned())],
        server: vec![("SEED_STOCK", "1000000".to_owned())],
        ..Settings::default()
    };
    let Some(stack) = Stack::start_with(settings).await else {
        return;
    };
    let heap = |metrics: &str| counter(metrics, "otelcol_process_runtime_heap_alloc_bytes", "");
    let held = |metrics: &str| {
        counter(
            metrics,
            "otelcol_processor_tail_sampling_sampling_traces_on_memory",
            "",
        )
    };
    let idle = heap(&stack.collector_metrics().await);
    let requests = load(&stack, RATE, SECONDS, false).await.len();
    let metrics = stack.collector_metrics().await;
    let spans = counter(
        &metrics,
        "otelcol_processor_incoming_items",
        r#"processor="memory_limiter""#,
    );
    let (held, heap) = (held(&metrics), heap(&metrics));
    println!(
        "{requests} checkouts, {spans} spans; held {held} traces; heap {:.1} MB idle, {:.1} MB \
         holding them: {:.0} B a trace ({:.1} spans a trace)",
        idle / 1e6,
        heap / 1e6,
        (heap - idle) / held,
        spans / requests as f64
    );
}
