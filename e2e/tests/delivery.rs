//! The browser delivery drill (RELIABILITY.md): the checkout page in headless Chromium, behind its
//! nginx, with a fault proxy between the edge and the collector (`e2e::fault`), and DevTools'
//! network emulation for a browser that is offline. Each case prints the page's spans sent,
//! arrived, lost and duplicated, counted on the proxy from every export attempt: a span is lost
//! when an attempt carried it and none the collector accepted did.

use std::time::{Duration, Instant};

use e2e::{
    browser::{click, find, set_offline, text, wait_for_result, with_browser},
    fault::{Attempt, Delivery, Fault},
    stack::Stack,
    wait_for,
};

const WEB: &str = "checkout-web";
/// Long enough for the page's retries (10 attempts within 60 s) and its offline queue's drain.
const DELIVERED: Duration = Duration::from_secs(90);

/// One checkout of product `add-1`; the page's message and the trace id it shows.
async fn check_out(client: &fantoccini::Client, previous: &str) -> (String, String) {
    click(client, "add-1").await;
    click(client, "checkout").await;
    let (status, message) = wait_for_result(client, previous).await;
    assert_eq!(status, "ok", "the page says: {message}");
    (message, text(client, "trace-id").await)
}

/// Waits until the page has sent at least `spans` spans and every span an attempt carried has
/// arrived; prints and returns the count. (Every span sent arriving is not enough alone: spans
/// queued behind a batch that was retrying are sent after it, and the count was read, once,
/// between the two.)
async fn all_delivered(stack: &Stack, case: &str, spans: usize) -> Delivery {
    let delivery = wait_for("every span the page sent to arrive", DELIVERED, || async {
        let delivery = stack.faults().delivery(WEB);
        (delivery.sent >= spans.max(1) && delivery.lost == 0).then_some(delivery)
    })
    .await;
    eprintln!("{case}: {delivery}");
    assert_eq!(delivery.duplicated, 0, "{case}: {delivery}");
    delivery
}

/// The attempts answered `status`.
fn answered(attempts: &[Attempt], status: u16) -> Vec<&Attempt> {
    attempts.iter().filter(|a| a.status == status).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30_s_collector_outage_while_checkouts_run_loses_no_span() {
    let Some(stack) = Stack::start_with_faults().await else {
        eprintln!("not run against a compose stack: it needs the fault proxy");
        return;
    };
    let stack = &stack;
    with_browser(|client| async move {
        client.goto(&stack.page_url).await.expect("the page loads");
        let (mut previous, _) = check_out(&client, "").await;
        stack.faults().set(Fault::Gone);
        let outage = Instant::now();
        let mut checkouts = 0;
        while outage.elapsed() < Duration::from_secs(30) {
            (previous, _) = check_out(&client, &previous).await;
            checkouts += 1;
            // A shopper's pace, not a wait for a condition.
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        stack.faults().set(Fault::Pass);
        let refused = answered(&stack.faults().attempts(), 502).len();
        // As many as the assertion below asks for.
        let delivery = all_delivered(stack, "30 s outage", 3 * checkouts).await;
        eprintln!(
            "{checkouts} checkouts in the outage, every one placed; {refused} attempts refused"
        );
        assert!(checkouts >= 8, "the page was used throughout: {checkouts}");
        assert!(refused > 0, "the page tried during the outage");
        assert!(delivery.arrived >= 3 * checkouts, "{delivery}");
    })
    .await;
    stack.assert_no_card_data().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_429_with_retry_after_5_nothing_is_sent_for_5_s_then_everything_arrives() {
    let Some(stack) = Stack::start_with_faults().await else {
        return;
    };
    let stack = &stack;
    with_browser(|client| async move {
        stack.faults().set(Fault::Answer {
            status: 429,
            retry_after: Some(5),
        });
        client.goto(&stack.page_url).await.expect("the page loads");
        let throttled = wait_for("the page's first export", DELIVERED, || async {
            answered(&stack.faults().attempts(), 429)
                .first()
                .map(|a| a.at)
        })
        .await;
        stack.faults().set(Fault::Pass);
        check_out(&client, "").await;
        all_delivered(stack, "429 with Retry-After: 5", 1).await;
        let attempts = stack.faults().attempts();
        let next = attempts
            .iter()
            .find(|a| a.at > throttled)
            .expect("sent again");
        let quiet = next.at - throttled;
        eprintln!("429 with Retry-After: 5: the next attempt {quiet:?} after it");
        // Whole seconds: the header's unit, less the time its answer took to reach the page.
        assert!(
            quiet >= Duration::from_millis(4_900),
            "sent after {quiet:?}"
        );
        assert_eq!(answered(&attempts, 429).len(), 1, "one attempt, then quiet");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_20_s_of_503_the_attempts_follow_the_backoff_and_everything_arrives() {
    let Some(stack) = Stack::start_with_faults().await else {
        return;
    };
    let stack = &stack;
    with_browser(|client| async move {
        client.goto(&stack.page_url).await.expect("the page loads");
        find(&client, "product-1").await;
        stack.faults().set(Fault::Answer {
            status: 503,
            retry_after: None,
        });
        let failing = Instant::now();
        check_out(&client, "").await;
        wait_for("20 s of 503", DELIVERED, || async {
            (failing.elapsed() >= Duration::from_secs(20)).then_some(())
        })
        .await;
        stack.faults().set(Fault::Pass);
        all_delivered(stack, "503 for 20 s", 1).await;
        // The first batch the checkout's spans went in, attempt after attempt: 1 s, then ×1.5
        // up to 5 s, each ±20 %.
        let attempts = stack.faults().attempts();
        let first = answered(&attempts, 503)[0].spans[0].span_id.clone();
        let times: Vec<Instant> = (attempts.iter())
            .filter(|a| a.spans.iter().any(|s| s.span_id == first))
            .map(|a| a.at)
            .collect();
        let gaps: Vec<f64> = times
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        eprintln!(
            "503 for 20 s: one batch's attempts {} s apart",
            format_gaps(&gaps)
        );
        assert!(gaps.len() >= 5, "{gaps:?}");
        for (i, gap) in gaps.iter().enumerate() {
            let backoff = 1.5_f64.powi(i32::try_from(i).expect("few")).min(5.0);
            // ±20 % of the backoff, plus the attempt's own round trip.
            assert!(
                (0.8 * backoff..1.2 * backoff + 0.3).contains(gap),
                "attempt {} came {gap:.2} s after the one before; the backoff is {backoff:.2} s",
                i + 2
            );
        }
    })
    .await;
}

/// How many spans of trace `trace_id` the page's offline queue holds (its IndexedDB store, opened
/// by the page): the occurrences of the id's 16 bytes in the stored protobuf bodies.
async fn stored(client: &fantoccini::Client, trace_id: &str) -> u64 {
    let script = r#"
        const [hex, done] = arguments;
        const id = Uint8Array.from(hex.match(/../g), (b) => parseInt(b, 16));
        const spans = (body) => body.filter((_, i) => id.every((b, j) => body[i + j] === b)).length;
        const open = indexedDB.open("otel-browser");
        open.onerror = () => done(0);
        open.onsuccess = () => {
          const db = open.result;
          const all = db.transaction("batches").objectStore("batches").getAll();
          all.onsuccess = () => { db.close(); done(all.result.reduce((n, b) => n + spans(b.body), 0)); };
          all.onerror = () => { db.close(); done(0); };
        };
    "#;
    let found = client.execute_async(script, vec![trace_id.into()]).await;
    found.expect("the store read").as_u64().expect("a count")
}

fn format_gaps(gaps: &[f64]) -> String {
    let gaps: Vec<String> = gaps.iter().map(|g| format!("{g:.2}")).collect();
    gaps.join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_closed_offline_sends_its_spans_at_the_next_load_once_even_in_two_tabs() {
    let Some(stack) = Stack::start_with_faults().await else {
        return;
    };
    let stack = &stack;
    with_browser(|client| async move {
        client.goto(&stack.page_url).await.expect("the page loads");
        find(&client, "product-1").await;
        // Offline: DevTools cuts the tab's requests (and `navigator.onLine` reads false), and the
        // proxy the rest (the `keepalive` requests leave from the browser's process, which the
        // emulation does not cut).
        set_offline(&client, true).await;
        stack.faults().set(Fault::Gone);
        click(&client, "add-1").await;
        click(&client, "checkout").await;
        let (status, message) = wait_for_result(&client, "").await;
        assert_eq!(
            status, "error",
            "offline, the checkout cannot go: {message}"
        );
        let trace_id = text(&client, "trace-id").await;
        // Its spans (the click, the checkout, its POST) go to the store at the next send (within
        // the 500 ms schedule), not out.
        wait_for("the offline checkout stored", DELIVERED, || async {
            (stored(&client, &trace_id).await >= 3).then_some(())
        })
        .await;
        // Then the page goes away, still offline. (While it unloads, DevTools' emulation lets it
        // read online, and its `online` listener tries the store once: the proxy, cut too,
        // answers 502, and the batch stays stored.)
        client.goto("about:blank").await.expect("the page closes");
        let closed = std::time::SystemTime::now();
        set_offline(&client, false).await;
        stack.faults().set(Fault::Pass);

        // Later, two tabs of the origin at once.
        client
            .goto(&stack.page_url)
            .await
            .expect("the page loads again");
        let second = client.new_window(true).await.expect("a second tab");
        client.switch_to_window(second.handle).await.expect("to it");
        client
            .goto(&stack.page_url)
            .await
            .expect("the page loads in it");

        // Both tabs drain the store under one Web Lock: each batch is sent by one of them, and
        // deleted once the collector took it.
        let of_the_checkout = |span: &e2e::trace::Span| span.trace_id == trace_id;
        wait_for("the offline checkout's spans", DELIVERED, || async {
            let delivery = stack.faults().delivery_of(of_the_checkout);
            let left = stored(&client, &trace_id).await;
            (delivery.arrived >= 3 && left == 0).then_some(())
        })
        .await;
        let delivery = stack.faults().delivery_of(of_the_checkout);
        eprintln!("closed offline, opened in two tabs: the offline checkout's {delivery}");
        assert_eq!((delivery.lost, delivery.duplicated), (0, 0), "{delivery}");
        let page = stack.faults().delivery(WEB);
        assert_eq!(page.duplicated, 0, "none of the page's spans twice: {page}");
        let spans: Vec<e2e::trace::Span> = (stack.faults().attempts().iter())
            .filter(|a| (200..300).contains(&a.status))
            .flat_map(|a| a.spans.iter().filter(|s| of_the_checkout(s)).cloned())
            .collect();
        let closed_ns = closed
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos();
        for span in &spans {
            assert!(
                u128::from(span.end_ns) <= closed_ns,
                "{} keeps the time it ended, before the page closed",
                span.name
            );
        }
    })
    .await;
}
