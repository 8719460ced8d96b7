//! A real browser clicks Checkout; the whole trace arrives in Jaeger through the collector.
//!
//! Locally each test starts its own stack (see `e2e::stack`) from the parts compose runs: Jaeger
//! and the collector (built from their Go modules, on `jaeger/config.yaml` and
//! `otel-collector/config.yaml`), the checkout server, and the page behind its nginx. With
//! `E2E_PAGE_URL` and `E2E_JAEGER_URL` set, the same tests drive a running `docker compose` stack.
//! Either way, every assertion is on what Jaeger's query API returns.

use std::time::Duration;

use e2e::{
    browser::{
        WaterfallRow, attribute, click, find, screenshot, text, wait_for_result, waterfall_rows,
        with_browser,
    },
    stack::Stack,
    trace::{Span, SpanKind, Trace},
};

const WEB: &str = "checkout-web";
const SERVER: &str = "checkout-server";
/// Browser and server read the same host clock through different APIs
/// (`performance.timeOrigin + now()` and `SystemTime`): a child may appear to start up to this much
/// before its parent, or end this much after it, across that boundary.
const CROSS_SERVICE_SKEW: Duration = Duration::from_millis(25);
/// Within one service, times come from one clock: only rounding separates them.
const SAME_SERVICE_SKEW: Duration = Duration::from_millis(1);

/// Whether the server's part of the trace has arrived, through its last statement.
fn server_part_arrived(trace: &Trace) -> bool {
    trace.has(SERVER, "POST /api/checkout")
        && trace.has(SERVER, "payment.charge")
        && trace.has(SERVER, "UPDATE orders")
}

/// Whether the browser's part has arrived: the click, the checkout and its fetch.
fn browser_part_arrived(trace: &Trace) -> bool {
    trace.has(WEB, "click checkout") && trace.has(WEB, "checkout") && trace.has(WEB, "POST")
}

/// The waterfall row named `name`.
fn waterfall_row<'r>(rows: &'r [WaterfallRow], name: &str) -> &'r WaterfallRow {
    rows.iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no waterfall row {name}: {rows:?}"))
}

/// The page's waterfall has the click, the fetch within it, the server within the fetch and each
/// server part within the server, in that order.
fn assert_waterfall_in_time_order(rows: &[WaterfallRow]) {
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names[..3],
        ["checkout", "fetch", "server"],
        "the click, the fetch, the server, in order: {rows:?}"
    );
    let within = |inner: &WaterfallRow, outer: &WaterfallRow| {
        assert!(
            outer.start_us <= inner.start_us && inner.end_us <= outer.end_us,
            "{inner:?} is not within {outer:?}"
        );
    };
    let row = |name| waterfall_row(rows, name);
    within(row("fetch"), row("checkout"));
    within(row("server"), row("fetch"));
    for part in &rows[3..] {
        within(part, row("server"));
    }
    assert_eq!(row("checkout").start_us, 0, "the axis starts at the click");
}

/// Every child lies within its parent's interval, up to the stated skews.
fn assert_children_within_parents(trace: &Trace) {
    for child in &trace.spans {
        let Some(parent) = trace.parent_of(child) else {
            continue;
        };
        let skew = if child.service == parent.service {
            SAME_SERVICE_SKEW
        } else {
            CROSS_SERVICE_SKEW
        };
        let skew = u64::try_from(skew.as_nanos()).expect("small");
        assert!(
            child.start_ns + skew >= parent.start_ns && child.end_ns <= parent.end_ns + skew,
            "{} [{}] {}..{} is not within {} [{}] {}..{}",
            child.name,
            child.service,
            child.start_ns,
            child.end_ns,
            parent.name,
            parent.service,
            parent.start_ns,
            parent.end_ns
        );
    }
}

/// Jaeger lists both services and their operations (its search page's drop-downs).
async fn assert_jaeger_lists_both_services(stack: &Stack) {
    let services = stack.jaeger.services().await;
    for (service, operation) in [
        (WEB, "click checkout"),
        (WEB, "checkout"),
        (SERVER, "POST /api/checkout"),
        (SERVER, "payment.charge"),
    ] {
        assert!(services.iter().any(|s| s == service), "{services:?}");
        let operations = stack.jaeger.operations(service).await;
        assert!(
            operations.iter().any(|o| o == operation),
            "{service}: {operations:?}"
        );
    }
}

/// Two bags of beans and a kettle (products 1 and 3 of the seeded catalog) checked out on the page
/// `client` shows: the page says so, with the total, and links the trace it shows to Jaeger.
/// Returns the trace id.
async fn check_out_three_items(client: &fantoccini::Client) -> String {
    find(client, "product-1").await;
    click(client, "add-1").await;
    click(client, "add-1").await;
    click(client, "add-3").await;
    click(client, "checkout").await;
    let (status, message) = wait_for_result(client, "").await;
    assert_eq!(status, "ok", "the page says: {message}");
    assert!(message.contains("$107.00"), "2 × $24 + $59: {message}");
    let trace_id = text(client, "trace-id").await;
    let link = attribute(client, "trace-link", "href").await;
    assert_eq!(link, format!("http://localhost:16686/trace/{trace_id}"));
    trace_id
}

/// The page's own waterfall of the checkout: in time order, with the product, payment and db parts,
/// none failed. Screenshots of the page and of the waterfall are kept for the reader.
async fn assert_the_page_shows_the_checkout_waterfall(client: &fantoccini::Client) {
    let shot = screenshot(client, "checkout-success").await;
    eprintln!("screenshot of the page after checkout: {}", shot.display());
    let rows = waterfall_rows(client).await;
    assert_waterfall_in_time_order(&rows);
    for part in ["product", "payment", "db"] {
        waterfall_row(&rows, part);
    }
    assert!(rows.iter().all(|r| !r.error), "nothing failed: {rows:?}");
    let waterfall = find(client, "trace-waterfall").await;
    let png = waterfall.screenshot().await.expect("waterfall screenshot");
    let path = shot.with_file_name("checkout-waterfall.png");
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("the waterfall: {}", path.display());
}

/// Readable at phone width: one column, nothing wider than the screen.
async fn assert_readable_at_phone_width(client: &fantoccini::Client) {
    client.set_window_size(390, 844).await.expect("resized");
    let overflow = client
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth",
            vec![],
        )
        .await
        .expect("measured");
    assert!(
        overflow.as_i64().is_some_and(|px| px <= 0),
        "{overflow} px scroll sideways at 390 px"
    );
    let phone = screenshot(client, "checkout-success-phone").await;
    eprintln!("at phone width: {}", phone.display());
}

/// The chain from the click to the server, each the parent of the next: the click's interaction
/// span is the root, the checkout it caused its child, then the fetch, then the server's span,
/// which got the session through baggage. Returns the server's span.
fn assert_one_chain_from_the_click_to_the_server(trace: &Trace) -> &Span {
    let click = trace.one(WEB, "click checkout");
    assert!(
        click.parent_id.is_empty(),
        "the click is the root:{}",
        trace.outline()
    );
    let root = trace.one(WEB, "checkout");
    assert_eq!(root.parent_id, click.span_id, "{}", trace.outline());
    assert_eq!(root.kind, SpanKind::Internal);
    assert_eq!(root.attr("checkout.item_count"), "3");
    assert_eq!(root.attr("checkout.total_cents"), "10700");
    assert_eq!(root.attr("session.id").len(), 32);

    let fetch = trace.one(WEB, "POST");
    assert_eq!(fetch.kind, SpanKind::Client);
    assert_eq!(
        fetch.parent_id,
        root.span_id,
        "the fetch is the checkout's child:{}",
        trace.outline()
    );
    assert_eq!(fetch.attr("http.response.status_code"), "201");

    let server = trace.one(SERVER, "POST /api/checkout");
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(
        server.parent_id,
        fetch.span_id,
        "the server continues the fetch:{}",
        trace.outline()
    );
    assert_eq!(
        server.attr("session.id"),
        root.attr("session.id"),
        "baggage reached the server"
    );
    server
}

/// The server's work descends from its span `server`: the product lookup, the payment, and the
/// order's reads and writes, each a client span of the database.
fn assert_the_server_work_descends_from(trace: &Trace, server: &Span) {
    for name in ["product.lookup", "payment.charge"] {
        assert!(
            trace.descends_from(trace.one(SERVER, name), server),
            "{name}:{}",
            trace.outline()
        );
    }
    let db: Vec<&Span> = trace
        .spans
        .iter()
        .filter(|s| s.attr("db.system.name") == "sqlite")
        .collect();
    assert!(
        db.len() >= 4,
        "the reads and writes of the order:{}",
        trace.outline()
    );
    assert!(
        db.iter()
            .all(|s| s.kind == SpanKind::Client && trace.descends_from(s, server))
    );
}

/// Jaeger found nothing to warn about (a missing parent, a clock skew it would adjust).
fn assert_jaeger_warns_of_nothing(trace: &Trace) {
    assert!(
        trace.spans.iter().all(|s| s.jaeger_warnings.is_empty()),
        "{:?}",
        trace
            .spans
            .iter()
            .map(|s| (&s.name, &s.jaeger_warnings))
            .collect::<Vec<_>>()
    );
}

/// Exactly one trace for the click: one root `checkout` and one server span in all that Jaeger
/// stores, both in `trace_id`, the trace the page showed. (A local stack only: a compose stack's
/// Jaeger may hold other checkouts.)
async fn assert_the_click_made_one_trace(stack: &Stack, trace_id: &str) {
    let all = stack.stored().await;
    let roots: Vec<_> = all
        .iter()
        .filter(|s| s.service == WEB && s.name == "checkout")
        .collect();
    let servers: Vec<_> = all
        .iter()
        .filter(|s| s.name == "POST /api/checkout")
        .collect();
    assert_eq!(roots.len(), 1);
    assert_eq!(servers.len(), 1);
    assert!(roots.iter().chain(&servers).all(|s| s.trace_id == trace_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_on_checkout_is_one_trace_from_the_browser_to_the_database() {
    let stack = Stack::start().await;
    let stack = &stack;
    with_browser(|client| async move {
        client.goto(&stack.page_url).await.expect("the page loads");
        let trace_id = check_out_three_items(&client).await;
        assert_the_page_shows_the_checkout_waterfall(&client).await;
        assert_readable_at_phone_width(&client).await;

        let trace = stack
            .trace(&trace_id, |t| {
                browser_part_arrived(t) && server_part_arrived(t)
            })
            .await;
        let server = assert_one_chain_from_the_click_to_the_server(&trace);
        assert_the_server_work_descends_from(&trace, server);
        assert!(
            trace.spans.iter().all(|s| !s.is_error),
            "nothing failed:{}",
            trace.outline()
        );
        assert_children_within_parents(&trace);
        assert_jaeger_warns_of_nothing(&trace);

        assert_jaeger_lists_both_services(stack).await;
        if stack.is_local() {
            assert_the_click_made_one_trace(stack, &trace_id).await;
        }
    })
    .await;
    stack.assert_no_card_data().await;
    stack.assert_conforms_to_schema().await;
}

/// The web vitals the page view carried, by name (`lcp`, `fcp`, …).
fn web_vitals(spans: &[Span]) -> Vec<&std::collections::BTreeMap<String, String>> {
    spans
        .iter()
        .filter(|s| s.service == WEB && s.name == "pageView")
        .flat_map(|s| &s.events)
        .filter(|(name, _)| name == "browser.web_vital")
        .map(|(_, attributes)| attributes)
        .collect()
}

/// The page's spans among `spans` that carry the session `session`.
fn spans_of_session(spans: &[Span], session: &str) -> Vec<Span> {
    spans
        .iter()
        .filter(|s| s.service == WEB && s.attr("session.id") == session)
        .cloned()
        .collect()
}

/// Whether a session's `spans` hold all the page sent before it was left: the first render, the
/// fcp, lcp and ttfb vitals, and the fetch of the checkout `trace_id`.
fn the_session_arrived(spans: &[Span], trace_id: &str) -> bool {
    let vitals: Vec<_> = web_vitals(spans)
        .iter()
        .map(|v| v.get("browser.web_vital.name").cloned().unwrap_or_default())
        .collect();
    spans.iter().any(|s| s.name == "app.first_render")
        && ["fcp", "lcp", "ttfb"]
            .iter()
            .all(|n| vitals.iter().any(|v| v == n))
        && spans
            .iter()
            .any(|s| s.trace_id == trace_id && s.name == "POST")
}

/// The page-load trace among a session's `spans`: documentLoad, its fetch, the .wasm among the
/// resources, and the wasm phases and the first render in time order inside the navigation.
fn assert_the_page_load_trace(spans: &[Span]) {
    let load = spans
        .iter()
        .find(|s| s.service == WEB && s.name == "documentLoad")
        .expect("a documentLoad span");
    assert!(load.parent_id.is_empty(), "documentLoad is a root");
    let of_load = |name: &str| {
        spans
            .iter()
            .find(|s| s.trace_id == load.trace_id && s.name == name)
            .unwrap_or_else(|| panic!("{name} in the page-load trace"))
    };
    of_load("documentFetch");
    let wasm = spans
        .iter()
        .find(|s| {
            s.trace_id == load.trace_id
                && s.name == "resourceFetch"
                && s.attr("url.full").ends_with(".wasm")
        })
        .expect("the .wasm among the resources");
    let phases = [
        "wasm.download",
        "wasm.compile",
        "wasm.instantiate",
        "app.first_render",
    ]
    .map(of_load);
    for phase in &phases {
        assert_eq!(
            phase.parent_id, load.span_id,
            "{} is documentLoad's",
            phase.name
        );
        assert!(
            load.start_ns <= phase.start_ns && phase.end_ns <= load.end_ns,
            "{} within the navigation",
            phase.name
        );
    }
    for pair in phases[1..].windows(2) {
        assert!(
            pair[0].end_ns <= pair[1].start_ns + 1_000,
            "{} ends before {} starts",
            pair[0].name,
            pair[1].name
        );
    }
    assert!(
        phases[0].start_ns <= wasm.end_ns,
        "the download is the .wasm's"
    );
}

/// Every web vital on the page view of a session's `spans` has a rating.
fn assert_every_web_vital_is_rated(spans: &[Span]) {
    for vital in web_vitals(spans) {
        assert!(
            ["good", "needs-improvement", "poor"].contains(
                &vital
                    .get("browser.web_vital.rating")
                    .map_or("", String::as_str)
            ),
            "{vital:?}"
        );
    }
}

/// Every page span Jaeger stores carries `session`: on a local stack, all are of this one page
/// view.
fn assert_every_page_span_carries(stored: &[Span], session: &str) {
    for span in stored.iter().filter(|s| s.service == WEB) {
        assert_eq!(
            span.attr("session.id"),
            session,
            "{} carries the session",
            span.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_load_the_web_vitals_and_the_checkout_reach_jaeger_in_one_session() {
    let stack = Stack::start().await;
    let stack = &stack;
    with_browser(|client| async move {
        client.goto(&stack.page_url).await.expect("the page loads");
        find(&client, "product-1").await;
        click(&client, "add-1").await;
        click(&client, "checkout").await;
        let (status, message) = wait_for_result(&client, "").await;
        assert_eq!(status, "ok", "the page says: {message}");
        let trace_id = text(&client, "trace-id").await;
        // Leaving the page: pagehide ends the page view and sends it with keepalive.
        client.goto("about:blank").await.expect("left the page");

        // The session is the checkout's; the page load and the page view are traces of their own,
        // found in Jaeger by the session they carry.
        let checkout = stack.trace(&trace_id, browser_part_arrived).await;
        let session = checkout.one(WEB, "checkout").attr("session.id").to_owned();
        assert_eq!(session.len(), 32);
        let stored = stack
            .stored_until(
                "the session's page load, page view and checkout",
                |stored| the_session_arrived(&spans_of_session(stored, &session), &trace_id),
            )
            .await;
        let spans = spans_of_session(&stored, &session);

        assert_the_page_load_trace(&spans);
        assert_every_web_vital_is_rated(&spans);
        // The checkout trace is checked as the other tests check it; here, one session on every
        // span of the page.
        assert!(
            spans.len() >= 8,
            "{} browser spans of the session",
            spans.len()
        );
        if stack.is_local() {
            assert_every_page_span_carries(&stored, &session);
        }
    })
    .await;
    // The page load, the page view's web vitals, the session's events: all in the schema.
    stack.assert_conforms_to_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_is_shown_and_marks_the_payment_and_fetch_spans_as_errors() {
    let stack = Stack::start().await;
    let stack = &stack;
    with_browser(|client| async move {
        client.goto(&stack.page_url).await.expect("the page loads");
        click(&client, "card-decline").await;
        click(&client, "add-2").await;
        click(&client, "checkout").await;
        let (status, message) = wait_for_result(&client, "").await;
        assert_eq!(status, "error");
        assert!(message.contains("declined"), "the page says: {message}");
        let trace_id = text(&client, "trace-id").await;
        let rows = waterfall_rows(&client).await;
        assert_waterfall_in_time_order(&rows);
        let row = |name| waterfall_row(&rows, name);
        assert!(
            row("payment").error && row("fetch").error && row("checkout").error,
            "the payment, the fetch and the click are errors: {rows:?}"
        );
        assert!(
            !row("server").error,
            "a 402 leaves the server span unset: {rows:?}"
        );

        let trace = stack
            .trace(&trace_id, |t| {
                browser_part_arrived(t) && t.has(SERVER, "payment.charge")
            })
            .await;
        let payment = trace.one(SERVER, "payment.charge");
        assert!(
            payment.is_error,
            "the payment span is an error:{}",
            trace.outline()
        );
        assert_eq!(payment.attr("error.type"), "card_declined");
        let fetch = trace.one(WEB, "POST");
        assert!(
            fetch.is_error,
            "the browser's fetch span is an error:{}",
            trace.outline()
        );
        assert_eq!(fetch.attr("http.response.status_code"), "402");
        assert!(
            !trace.one(SERVER, "POST /api/checkout").is_error,
            "a 4xx is not the server's error"
        );
    })
    .await;
    stack.assert_no_card_data().await;
    stack.assert_conforms_to_schema().await;
}

/// A checkout on the page `client` shows, after the one that showed `previous`: its message and
/// trace id.
async fn check_out(client: &fantoccini::Client, product: &str, previous: &str) -> (String, String) {
    click(client, product).await;
    click(client, "checkout").await;
    let (status, message) = wait_for_result(client, previous).await;
    assert_eq!(status, "ok", "the page says: {message}");
    assert!(message.contains("placed"), "{message}");
    (message, text(client, "trace-id").await)
}

/// The server's part of a checkout made while the page's exports were refused: the SERVER span,
/// everything under it, every statement; and, where the page's fetch span is missing, Jaeger's
/// warning that the server span's parent is not in the trace.
fn assert_server_part_whole(trace: &Trace) {
    let server = trace.one(SERVER, "POST /api/checkout");
    assert!(
        trace.spans.iter().all(|s| s.service == WEB
            || s.span_id == server.span_id
            || trace.descends_from(s, server)),
        "{}",
        trace.outline()
    );
    let statements = trace
        .spans
        .iter()
        .filter(|s| s.attr("db.system.name") == "sqlite")
        .count();
    assert!(
        statements >= 4,
        "every statement's span:{}",
        trace.outline()
    );
    // Where the page's fetch span has not arrived yet (the page retries it through the outage and
    // after), the span the server continues is missing, and Jaeger says so.
    if !trace.has(WEB, "POST") {
        let parent = format!("parent span ID={}", server.parent_id);
        assert!(
            server.jaeger_warnings.iter().any(|w| w.contains(&parent)),
            "{:?}",
            server.jaeger_warnings
        );
    }
}

/// The collector stopped (as `docker compose stop` stops it) and started again while a shopper
/// checks out: no checkout fails, and with the settings compose gives the server, every checkout's
/// server part reaches Jaeger: the server's own pipeline kept its batches through the outage. (The
/// page retries its exports through the outage too: `e2e/tests/delivery.rs` counts them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_restart_fails_no_checkout_and_loses_none_of_the_servers_spans() {
    let stack = Stack::start().await;
    if !stack.is_local() {
        eprintln!(
            "not run against a compose stack: stopping its collector is left to the person running it"
        );
        return;
    }
    let stack = &stack;
    with_browser(|client| async move {
        client.goto(&stack.page_url).await.expect("the page loads");
        let (mut previous, before) = check_out(&client, "add-1", "").await;
        // Its trace is whole in Jaeger before the collector goes (the page sends every 500 ms).
        stack
            .trace(&before, |t| {
                browser_part_arrived(t) && server_part_arrived(t)
            })
            .await;
        stack.stop_collector().await;
        let mut during = Vec::new();
        for product in ["add-2", "add-5", "add-3"] {
            let (message, trace_id) = check_out(&client, product, &previous).await;
            previous = message;
            during.push(trace_id);
        }
        // The page did try to export (and the edge answered it 502), and that changed nothing for
        // the shopper.
        e2e::wait_for(
            "the page to attempt an export",
            Duration::from_secs(10),
            || async { (stack.page_failed_exports() > 0).then_some(()) },
        )
        .await;
        stack.start_collector_again().await;
        let (_, after) = check_out(&client, "add-4", &previous).await;

        stack
            .trace(&after, |t| {
                browser_part_arrived(t) && server_part_arrived(t)
            })
            .await;
        for trace_id in &during {
            assert_server_part_whole(&stack.trace(trace_id, server_part_arrived).await);
        }
        eprintln!(
            "{} checkouts while the collector was down: each server part in Jaeger; the page's \
             exports refused meanwhile: {}",
            during.len(),
            stack.page_failed_exports()
        );
    })
    .await;
    stack.assert_no_card_data().await;
    stack.assert_conforms_to_schema().await;
}

/// Click → trace latency, a benchmark kept with the tests (it asserts no time, BENCHMARKS.md has
/// the figures): 20 checkouts in a row, each timed from just before the click on Checkout until the
/// last span of its trace (the browser's root, the server's last statement) can be read from
/// Jaeger's API, as a person following "Open in Jaeger" would. The stack's export delays are the
/// ones it runs with (the page 500 ms, the server `OTEL_BSP_SCHEDULE_DELAY=200`, the collector's
/// batch 1 s, Jaeger's 200 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_checkouts_each_arrive_whole_and_the_click_to_trace_latency_is_printed() {
    const CHECKOUTS: usize = 20;
    let stack = Stack::start().await;
    let stack = &stack;
    with_browser(|client| async move {
        client.goto(&stack.page_url).await.expect("the page loads");
        find(&client, "product-1").await;
        let mut latencies = Vec::with_capacity(CHECKOUTS);
        let mut previous = String::new();
        for _ in 0..CHECKOUTS {
            click(&client, "add-1").await;
            let clicked = std::time::Instant::now();
            click(&client, "checkout").await;
            let (status, message) = wait_for_result(&client, &previous).await;
            assert_eq!(status, "ok", "the page says: {message}");
            previous = message;
            let trace_id = text(&client, "trace-id").await;
            stack
                .trace(&trace_id, |t| {
                    server_part_arrived(t) && browser_part_arrived(t)
                })
                .await;
            latencies.push(clicked.elapsed());
        }
        latencies.sort_unstable();
        let at = |percent: usize| latencies[(latencies.len() * percent).div_ceil(100) - 1];
        eprintln!(
            "click → trace over {CHECKOUTS} checkouts: p50 {:?}, p95 {:?}, max {:?}",
            at(50),
            at(95),
            latencies[CHECKOUTS - 1]
        );
    })
    .await;
    stack.assert_conforms_to_schema().await;
}
