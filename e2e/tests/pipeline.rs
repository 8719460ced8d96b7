//! What lies between the page and Jaeger, run for real: the public edge (nginx's `/v1/traces` to
//! the collector's `otlp/public` receiver, its `filter/public` and `transform/public`), and
//! Jaeger's Badger store and the collector's `sending_queue` across a restart of Jaeger.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::{
    browser::{click, text, wait_for_result, with_browser},
    stack::Stack,
    trace::Trace,
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value},
    resource::v1::Resource,
    trace::v1::{ResourceSpans, ScopeSpans, Span},
};
use prost::Message as _;

const WEB: &str = "checkout-web";
const SERVER: &str = "checkout-server";

fn string(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..KeyValue::default()
    }
}

/// Ids no other test has: from the clock's nanoseconds and `n`.
fn id<const N: usize>(n: u8) -> [u8; N] {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    let mut id = [0; N];
    let bytes = nanos.to_be_bytes();
    id.copy_from_slice(&bytes[16 - N..]);
    id[0] = n.max(1);
    id
}

/// A span that lasted a millisecond from now.
fn span(trace_id: [u8; 16], span_id: [u8; 8], name: String, attributes: Vec<KeyValue>) -> Span {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    let start = u64::try_from(now.as_nanos()).expect("before 2554");
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        name,
        kind: 1,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000_000,
        attributes,
        ..Span::default()
    }
}

/// One resource of `service` holding `spans`.
fn resource(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![string("service.name", service.to_owned())],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Through the page's own origin (nginx's `/v1/traces`, to `otlp/public`), one export holding a
/// span of the page with an oversized attribute and name, and two spans that claim to be the
/// server's: one in the page span's trace, one in a trace of its own. The page's span arrives cut
/// to the public pipeline's bounds; the forged ones never reach Jaeger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_keeps_only_the_pages_service_and_cuts_what_a_span_carries() {
    let stack = Stack::start().await;
    let shared = id::<16>(1);
    let forged_alone = id::<16>(2);
    let long_value = "v".repeat(10 * 1024);
    let long_name = "n".repeat(300);
    let request = ExportTraceServiceRequest {
        resource_spans: vec![
            resource(
                SERVER,
                vec![
                    span(shared, id(3), "POST /api/checkout".to_owned(), vec![]),
                    span(forged_alone, id(4), "POST /api/checkout".to_owned(), vec![]),
                ],
            ),
            resource(
                WEB,
                vec![span(
                    shared,
                    id(5),
                    long_name,
                    vec![string("url.full", long_value)],
                )],
            ),
        ],
    };
    let response = reqwest::Client::new()
        .post(format!("{}v1/traces", stack.page_url))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .expect("the edge answers");
    assert!(
        response.status().is_success(),
        "the edge takes the export: {}",
        response.status()
    );

    // Both resources went through the public pipeline in one request: once the page's span is in
    // Jaeger, the forged ones would be too, had the filter let them pass.
    let trace_id = hex(&shared);
    let trace = stack
        .trace(&trace_id, |t: &Trace| !t.spans.is_empty())
        .await;
    assert_eq!(
        trace.spans.len(),
        1,
        "only the page's span:{}",
        trace.outline()
    );
    let span = &trace.spans[0];
    assert_eq!(span.service, WEB);
    assert_eq!(span.name, "n".repeat(256), "the name cut to 256 bytes");
    assert_eq!(
        span.attr("url.full"),
        "v".repeat(4096),
        "the attribute cut to 4 KiB"
    );
    assert_eq!(
        stack
            .jaeger
            .trace(&hex(&forged_alone))
            .await
            .map(|t| t.len()),
        None,
        "the forged server span's own trace is not in Jaeger"
    );
}

/// A checkout's trace in Jaeger; Jaeger stopped as `docker compose stop` stops it, a second
/// checkout made meanwhile, and Jaeger started again on the same Badger directory: the first trace
/// is still there (Badger kept it), and the second arrives whole (the collector's `sending_queue`
/// kept it and its retries delivered it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_restarted_on_its_badger_keeps_its_traces_and_gets_what_the_collector_queued() {
    let stack = Stack::start().await;
    if !stack.is_local() {
        eprintln!("not run against a compose stack: it restarts Jaeger");
        return;
    }
    let stack = &stack;
    let whole = |t: &Trace| {
        t.has(WEB, "click checkout")
            && t.has(WEB, "POST")
            && t.has(SERVER, "POST /api/checkout")
            && t.has(SERVER, "UPDATE orders")
    };
    with_browser(|client| async move {
        client.goto(&stack.page_url).await.expect("the page loads");
        click(&client, "add-1").await;
        click(&client, "checkout").await;
        let (status, first_message) = wait_for_result(&client, "").await;
        assert_eq!(status, "ok", "the page says: {first_message}");
        let first = text(&client, "trace-id").await;
        let before = stack.trace(&first, whole).await;

        stack.stop_jaeger().await;
        click(&client, "add-2").await;
        click(&client, "checkout").await;
        let (status, message) = wait_for_result(&client, &first_message).await;
        assert_eq!(status, "ok", "the page says: {message}");
        let second = text(&client, "trace-id").await;
        // The collector has the second trace's spans and cannot deliver them: it says it retries.
        e2e::wait_for(
            "the collector to retry its export to Jaeger",
            Duration::from_secs(30),
            || async {
                stack
                    .collector_output()
                    .await
                    .into_iter()
                    .find(|line| line.contains("Will retry the request after interval"))
            },
        )
        .await;
        stack.start_jaeger_again().await;

        let after = stack.trace(&first, whole).await;
        assert_eq!(
            after.spans.len(),
            before.spans.len(),
            "every span of the first trace, from Badger:{}",
            after.outline()
        );
        // The collector's retries back off up to 10 s (otel-collector/config.yaml).
        let queued = e2e::wait_for(
            "the queued trace to reach Jaeger",
            Duration::from_secs(60),
            || async {
                let spans = stack.jaeger.trace(&second).await?;
                let trace = Trace::of(&second, &spans);
                whole(&trace).then_some(trace)
            },
        )
        .await;
        eprintln!(
            "after Jaeger's restart: the first trace's {} spans from Badger, the queued one's {}",
            after.spans.len(),
            queued.spans.len()
        );
    })
    .await;
    stack.assert_no_card_data().await;
    stack.assert_conforms_to_schema().await;
}
