//! The SDK's span rules in headless Chromium (`wasm-bindgen-test`), checked on what arrives,
//! OTLP-encoded, at a real local HTTP receiver (`scripts/test-receiver.py`): span limits and the
//! dropped counts, last-value attributes, end once, the status rules, local and remote parents,
//! every sampling decision with the `random` flag, and the ids. (SDK specification, trace/sdk.md;
//! API specification, trace/api.md.)
#![cfg(target_arch = "wasm32")]

use common::{attr, exported_named as exported, install, the_span};
use opentelemetry::{
    Context, KeyValue,
    trace::{
        Span as _, SpanContext, SpanId, Status, TraceContextExt as _, TraceFlags, TraceId,
        TraceState, Tracer as _,
    },
};
use otel_browser::{Config, Sampler, SpanLimits, Threshold};
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

/// `Span.flags` bits for "the parent's remoteness is known" and "the parent is remote".
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

#[wasm_bindgen_test]
async fn limits_drop_what_is_beyond_them_and_count_it_for_otlp() {
    let telemetry = install(Config {
        span_limits: SpanLimits {
            max_attributes_per_span: 2,
            max_events_per_span: 1,
            max_links_per_span: 1,
            max_attributes_per_event: 1,
            max_attributes_per_link: 1,
        },
        ..Default::default()
    });
    let tracer = telemetry.tracer("limits");
    let linked = SpanContext::new(
        TraceId::from(7),
        SpanId::from(8),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    );
    let mut span = tracer
        .span_builder("limits.span")
        .with_attributes([KeyValue::new("a", 1_i64), KeyValue::new("b", 2_i64)])
        .start(&tracer);
    span.set_attribute(KeyValue::new("c", 3_i64));
    span.set_attribute(KeyValue::new("d", 4_i64));
    span.set_attribute(KeyValue::new("a", 10_i64));
    span.add_event(
        "first",
        vec![KeyValue::new("x", 1_i64), KeyValue::new("y", 2_i64)],
    );
    span.add_event("second", vec![]);
    span.add_event("third", vec![]);
    span.add_link(
        linked.clone(),
        vec![KeyValue::new("l1", 1_i64), KeyValue::new("l2", 2_i64)],
    );
    span.add_link(linked, vec![]);
    span.end();

    let span = the_span(&telemetry, "limits.span").await;
    let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"], "the first two keys are kept");
    assert_eq!(
        attr(&span, "a").as_deref(),
        Some("10"),
        "a kept key still takes a new value"
    );
    assert_eq!(span.dropped_attributes_count, 2, "c and d");
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.events[0].name, "first");
    assert_eq!(span.events[0].attributes.len(), 1);
    assert_eq!(span.events[0].dropped_attributes_count, 1);
    assert_eq!(span.dropped_events_count, 2);
    assert_eq!(span.links.len(), 1);
    assert_eq!(span.links[0].dropped_attributes_count, 1);
    assert_eq!(span.dropped_links_count, 1);
}

#[wasm_bindgen_test]
async fn an_attribute_set_twice_keeps_its_last_value_and_the_default_limits_are_128() {
    let telemetry = install(Config::default());
    let tracer = telemetry.tracer("attributes");
    let mut span = tracer
        .span_builder("attributes.span")
        .with_attributes([
            KeyValue::new("k", "builder"),
            KeyValue::new("k", "builder again"),
        ])
        .start(&tracer);
    span.set_attribute(KeyValue::new("k", "last"));
    for i in 0..200 {
        span.set_attribute(KeyValue::new(format!("n{i}"), i64::from(i)));
    }
    span.end();
    let span = the_span(&telemetry, "attributes.span").await;
    assert_eq!(span.attributes.iter().filter(|kv| kv.key == "k").count(), 1);
    assert_eq!(attr(&span, "k").as_deref(), Some("last"));
    assert_eq!(span.attributes.len(), 128);
    assert_eq!(span.dropped_attributes_count, 201 - 128);
}

#[wasm_bindgen_test]
async fn a_span_ends_once_and_nothing_changes_it_after() {
    let telemetry = install(Config::default());
    let tracer = telemetry.tracer("end");
    let mut span = tracer.start("end.span");
    assert!(span.is_recording());
    let first_end = otel_browser::clock::now();
    span.end_with_timestamp(first_end);
    assert!(!span.is_recording(), "an ended span records nothing");
    span.set_attribute(KeyValue::new("late", true));
    span.set_status(Status::error("late"));
    span.update_name("end.renamed");
    span.add_event("late", vec![]);
    span.end();
    drop(span);
    let span = the_span(&telemetry, "end.span").await;
    assert!(span.attributes.is_empty() && span.events.is_empty());
    assert_eq!(span.status.expect("status").code, 0, "unset");
    let nanos = first_end
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_nanos() as u64;
    assert_eq!(span.end_time_unix_nano, nanos, "the first end's time");
    assert!(exported(&telemetry, "end.renamed").await.is_empty());
}

#[wasm_bindgen_test]
async fn a_dropped_span_ends_at_the_precise_clock() {
    let telemetry = install(Config::default());
    let before = otel_browser::clock::now();
    telemetry.tracer("drop").in_span("drop.span", |_cx| {});
    let span = the_span(&telemetry, "drop.span").await;
    let before = before
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_nanos() as u64;
    assert!(span.start_time_unix_nano >= before);
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    assert!(
        span.start_time_unix_nano % 1_000_000 != 0 || span.end_time_unix_nano % 1_000_000 != 0,
        "sub-millisecond times, not Date.now()"
    );
}

#[wasm_bindgen_test]
async fn ok_is_final_unset_never_overrides_and_error_can_be_replaced() {
    let telemetry = install(Config::default());
    let tracer = telemetry.tracer("status");
    let cases: [(&str, &[Status], (i32, &str)); 4] = [
        (
            "status.ok-final",
            &[Status::Ok, Status::error("after ok")],
            (1, ""),
        ),
        (
            "status.unset-ignored",
            &[Status::error("boom"), Status::Unset],
            (2, "boom"),
        ),
        (
            "status.error-replaced",
            &[Status::error("a"), Status::error("b")],
            (2, "b"),
        ),
        (
            "status.error-then-ok",
            &[Status::error("a"), Status::Ok],
            (1, ""),
        ),
    ];
    for (name, statuses, _) in &cases {
        let mut span = tracer.start(*name);
        for status in *statuses {
            span.set_status(status.clone());
        }
        span.end();
    }
    let spans = exported(&telemetry, "status.").await;
    for (name, _, (code, message)) in cases {
        let span = spans.iter().find(|s| s.name == name).expect(name);
        let status = span.status.as_ref().expect("status");
        assert_eq!(
            (status.code, status.message.as_str()),
            (code, message),
            "{name}"
        );
    }
}

#[wasm_bindgen_test]
async fn children_take_local_and_remote_parents_from_the_context() {
    let telemetry = install(Config::default());
    let tracer = telemetry.tracer("parents");
    let root = tracer.start("parents.root");
    let root_context = root.span_context().clone();
    let cx = Context::new().with_span(root);
    tracer.start_with_context("parents.local-child", &cx).end();
    cx.span().end();

    let remote = SpanContext::new(
        TraceId::from(0x4bf92f3577b34da6a3ce929d0e0e4736),
        SpanId::from(0x00f067aa0ba902b7),
        TraceFlags::new(0x03),
        true,
        TraceState::from_key_value([("vendor", "v1")]).expect("valid"),
    );
    let remote_cx = Context::new().with_remote_span_context(remote.clone());
    tracer
        .start_with_context("parents.remote-child", &remote_cx)
        .end();

    let spans = exported(&telemetry, "parents.").await;
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).expect(n);
    let (root, local, remote_child) = (
        by_name("parents.root"),
        by_name("parents.local-child"),
        by_name("parents.remote-child"),
    );
    assert!(root.parent_span_id.is_empty());
    assert_eq!(root.trace_id, root_context.trace_id().to_bytes());
    assert_eq!(local.trace_id, root.trace_id);
    assert_eq!(local.parent_span_id, root.span_id);
    assert_eq!(
        local.flags & (HAS_IS_REMOTE | IS_REMOTE),
        HAS_IS_REMOTE,
        "a local parent"
    );
    assert_eq!(remote_child.trace_id, remote.trace_id().to_bytes());
    assert_eq!(remote_child.parent_span_id, remote.span_id().to_bytes());
    assert_eq!(remote_child.flags & IS_REMOTE, IS_REMOTE, "a remote parent");
    assert_eq!(
        remote_child.trace_state, "vendor=v1",
        "the parent's trace state is carried"
    );
    assert_eq!(
        remote_child.flags & 0xff,
        0x03,
        "the parent's flags are carried"
    );
}

#[wasm_bindgen_test]
async fn roots_are_sampled_with_the_random_flag_and_unsampled_roots_are_not_recorded() {
    let on = install(Config::default());
    let mut span = on.tracer("sampling").start("sampling.on");
    assert_eq!(
        span.span_context().trace_flags().to_u8(),
        0x03,
        "sampled and random"
    );
    assert!(span.is_recording());
    span.end();
    assert_eq!(the_span(&on, "sampling.on").await.flags & 0xff, 0x03);

    let off = install(Config {
        sampler: Sampler::always_off(),
        ..Default::default()
    });
    let mut span = off.tracer("sampling").start("sampling.off");
    assert!(!span.is_recording());
    assert!(
        span.span_context().is_valid(),
        "still a context to propagate"
    );
    assert_eq!(
        span.span_context().trace_flags().to_u8(),
        0x02,
        "random, not sampled"
    );
    span.end();
    assert!(exported(&off, "sampling.off").await.is_empty());
}

#[wasm_bindgen_test]
async fn a_remote_parent_decides_whatever_the_root_sampler() {
    let remote = |flags: u8| {
        Context::new().with_remote_span_context(SpanContext::new(
            otel_browser::ids::new_trace_id(),
            otel_browser::ids::new_span_id(),
            TraceFlags::new(flags),
            true,
            TraceState::NONE,
        ))
    };
    let off = install(Config {
        sampler: Sampler::always_off(),
        ..Default::default()
    });
    let tracer = off.tracer("sampling");
    let mut kept = tracer.start_with_context("remote.sampled", &remote(0x01));
    assert!(
        kept.is_recording(),
        "a sampled remote parent is followed under AlwaysOff"
    );
    assert_eq!(
        kept.span_context().trace_flags().to_u8(),
        0x01,
        "no random flag it did not have"
    );
    kept.end();
    assert_eq!(exported(&off, "remote.sampled").await.len(), 1);

    let on = install(Config::default());
    let mut dropped = on
        .tracer("sampling")
        .start_with_context("remote.unsampled", &remote(0x00));
    assert!(
        !dropped.is_recording(),
        "an unsampled remote parent is followed under AlwaysOn"
    );
    dropped.end();
    assert!(exported(&on, "remote.unsampled").await.is_empty());
}

#[wasm_bindgen_test]
async fn probability_sampling_keeps_exactly_the_roots_whose_randomness_reaches_the_threshold() {
    let half = install(Config {
        sampler: Sampler::probability(Threshold::from_parts_per_million(500_000)),
        ..Default::default()
    });
    let tracer = half.tracer("probability");
    let mut decisions = Vec::new();
    for _ in 0..200 {
        let mut span = tracer.start("probability.half");
        let context = span.span_context().clone();
        let low56 = u64::from_be_bytes(context.trace_id().to_bytes()[8..].try_into().expect("8"))
            & ((1 << 56) - 1);
        assert_eq!(context.is_sampled(), low56 >= 1 << 55, "R >= T decides");
        if context.is_sampled() {
            assert_eq!(context.trace_state().header(), "ot=th:8");
        }
        decisions.push(context.is_sampled());
        span.end();
    }
    let kept = decisions.iter().filter(|d| **d).count();
    assert!((50..150).contains(&kept), "about half of 200: {kept}");
    let spans = exported(&half, "probability.half").await;
    assert_eq!(spans.len(), kept, "only the sampled roots are exported");
    assert!(spans.iter().all(|s| s.trace_state == "ot=th:8"));

    let all = install(Config {
        sampler: Sampler::probability(Threshold::ALWAYS),
        ..Default::default()
    });
    for _ in 0..20 {
        let span = all.tracer("probability").start("probability.all");
        assert!(span.span_context().is_sampled(), "T = 0 keeps everything");
        assert_eq!(span.span_context().trace_state().header(), "ot=th:0");
    }
    let none = install(Config {
        sampler: Sampler::probability(Threshold::from_parts_per_million(0)),
        ..Default::default()
    });
    for _ in 0..20 {
        let span = none.tracer("probability").start("probability.none");
        assert!(!span.span_context().is_sampled(), "T = 2^56 keeps nothing");
    }
}

#[wasm_bindgen_test]
fn ids_are_never_all_zero_and_spans_get_their_own() {
    let telemetry = install(Config::default());
    let tracer = telemetry.tracer("ids");
    let root = tracer.start("ids.root");
    let root_context = root.span_context().clone();
    let cx = Context::new().with_span(root);
    let child = tracer.start_with_context("ids.child", &cx);
    assert!(root_context.is_valid() && child.span_context().is_valid());
    assert_ne!(root_context.span_id(), child.span_context().span_id());
    assert_ne!(root_context.trace_id(), TraceId::INVALID);
    let other = tracer.start("ids.other-root");
    assert_ne!(other.span_context().trace_id(), root_context.trace_id());
}

#[wasm_bindgen_test]
async fn the_provider_serves_as_the_global_one() {
    let telemetry = install(Config::default());
    opentelemetry::global::set_tracer_provider(telemetry.provider().clone());
    let tracer = opentelemetry::global::tracer("global");
    let mut span = tracer.start("global.span");
    assert!(span.is_recording());
    span.set_attribute(KeyValue::new("through", "global"));
    span.end();
    let span = the_span(&telemetry, "global.span").await;
    assert_eq!(attr(&span, "through").as_deref(), Some("global"));
}
