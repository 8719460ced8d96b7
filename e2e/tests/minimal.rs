//! `otel-browser`'s minimal page (`otel-browser/examples/minimal/`), the floor a user of the crate
//! pays: a real browser clicks its one button, and its click span and traced fetch arrive through the
//! collector in Jaeger as one trace that the server continues.

use e2e::{
    browser::{attribute, click, with_browser},
    stack::Stack,
    trace::{SpanKind, Trace},
};

const PAGE: &str = "otel-browser-minimal";
const SERVER: &str = "checkout-server";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_minimal_page_traces_a_click_and_its_fetch_into_the_server() {
    let Some(stack) = Stack::start_minimal_page().await else {
        eprintln!("skipped: a compose stack does not serve the minimal page");
        return;
    };
    let stack = &stack;
    with_browser(|client| async move {
        client.goto(&stack.page_url).await.expect("the page loads");
        click(&client, "go").await;
        assert_eq!(attribute(&client, "status", "data-status").await, "ok");

        let click_span = e2e::wait_for("the click span", e2e::stack::TRACE_TIMEOUT, || async {
            stack
                .stored()
                .await
                .into_iter()
                .find(|s| s.service == PAGE && s.name == "click")
        })
        .await;
        let trace = stack
            .trace(&click_span.trace_id, |t: &Trace| {
                t.has(PAGE, "GET") && t.has(SERVER, "GET /api/products")
            })
            .await;
        let fetch = trace.one(PAGE, "GET");
        let server = trace.one(SERVER, "GET /api/products");
        assert_eq!(fetch.kind, SpanKind::Client);
        assert_eq!(fetch.parent_id, click_span.span_id, "{}", trace.outline());
        assert_eq!(server.parent_id, fetch.span_id, "{}", trace.outline());
        assert_eq!(fetch.attr("http.response.status_code"), "200");
        assert!(!fetch.is_error && !click_span.is_error);
    })
    .await;
    stack.assert_no_card_data().await;
    stack.assert_conforms_to_schema().await;
}
