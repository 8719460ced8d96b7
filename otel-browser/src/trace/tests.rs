//! The SDK's span rules, natively, on what the exporter encodes (decoded by test-support),
//! with the unit tests' clock and ids (`clock::fake`, `ids::fake`): span limits and the dropped
//! counts, last-value attributes, end once, the status rules, local and remote parents, every
//! sampling decision with its edges and the `random` flag, and the ids. (SDK specification,
//! trace/sdk.md; API specification, trace/api.md.) The browser tests (`tests/sdk.rs`) keep what
//! needs a browser: `performance.now()` and `crypto.getRandomValues`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::{
    Context, KeyValue,
    trace::{
        Span as _, SpanContext, SpanId, Status, TraceContextExt as _, TraceFlags, TraceId,
        TraceState, Tracer as _, TracerProvider as _,
    },
};
use test_support::trace::{Span as Exported, StatusCode, one as the_span};

use super::{TracerProvider, set_error};
use crate::{Config, SpanLimits, clock, ids, sampler::Sampler, sampler::Threshold};

/// `Span.flags` bits for "the parent's remoteness is known" and "the parent is remote".
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

fn provider(config: Config) -> TracerProvider {
    config.provider(None)
}

/// Every span the provider's exporter has queued, as the collector would decode it.
fn exported(provider: &TracerProvider) -> Vec<Exported> {
    let mut spans = Vec::new();
    while let Some(batch) = provider.exporter().next_batch(false) {
        spans.extend(Exported::decode(&batch.body).expect("OTLP"));
    }
    spans
}

fn nanos(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).expect("after the epoch");
    u64::try_from(since.as_nanos()).expect("fits")
}

/// A remote parent's context with these flags.
fn remote(flags: u8, trace_state: TraceState) -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(0x4bf92f3577b34da6a3ce929d0e0e4736),
        SpanId::from(0x00f067aa0ba902b7),
        TraceFlags::new(flags),
        true,
        trace_state,
    ))
}

#[test]
fn limits_drop_what_is_beyond_them_and_count_it_for_otlp() {
    let provider = provider(Config {
        span_limits: SpanLimits {
            max_attributes_per_span: 2,
            max_events_per_span: 1,
            max_links_per_span: 1,
            max_attributes_per_event: 1,
            max_attributes_per_link: 1,
        },
        ..Default::default()
    });
    let tracer = provider.tracer("limits");
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

    let spans = exported(&provider);
    let span = &the_span(&spans, "limits.span").wire;
    let keys: Vec<&str> = span.attributes.keys().collect();
    assert_eq!(keys, ["a", "b"], "the first two keys are kept");
    assert_eq!(
        span.attributes.int("a"),
        Some(10),
        "a kept key still takes a new value"
    );
    assert_eq!(span.dropped_attributes, 2, "c and d");
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.events[0].name, "first");
    assert_eq!(span.events[0].attributes.len(), 1);
    assert_eq!(span.events[0].dropped_attributes, 1);
    assert_eq!(span.dropped_events, 2);
    assert_eq!(span.links.len(), 1);
    assert_eq!(span.links[0].dropped_attributes, 1);
    assert_eq!(span.dropped_links, 1);
}

#[test]
fn the_builders_events_and_links_go_through_the_same_limits_and_invalid_links_are_not_kept() {
    let provider = provider(Config {
        span_limits: SpanLimits {
            max_events_per_span: 1,
            max_links_per_span: 1,
            ..Default::default()
        },
        ..Default::default()
    });
    let tracer = provider.tracer("builder");
    let valid = SpanContext::new(
        TraceId::from(7),
        SpanId::from(8),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    );
    let mut span = tracer
        .span_builder("builder.span")
        .with_events(vec![
            opentelemetry::trace::Event::with_name("one"),
            opentelemetry::trace::Event::with_name("two"),
        ])
        .with_links(vec![opentelemetry::trace::Link::with_context(
            valid.clone(),
        )])
        .start(&tracer);
    span.add_link(SpanContext::empty_context(), vec![]);
    span.add_link(valid, vec![]);
    span.end();
    let spans = exported(&provider);
    let span = &the_span(&spans, "builder.span").wire;
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.dropped_events, 1);
    assert_eq!(span.links.len(), 1);
    assert_eq!(
        span.dropped_links, 1,
        "the valid second link is over the limit; the invalid one is not a link at all"
    );
}

#[test]
fn an_attribute_set_twice_keeps_its_last_value_and_the_default_limits_are_128() {
    let provider = provider(Config::default());
    let tracer = provider.tracer("attributes");
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
    let spans = exported(&provider);
    let span = &the_span(&spans, "attributes.span").wire;
    assert_eq!(span.attributes.keys().filter(|k| *k == "k").count(), 1);
    assert_eq!(span.attributes.string("k"), Some("last"));
    assert_eq!(span.attributes.len(), 128);
    assert_eq!(span.dropped_attributes, 201 - 128);
    assert_eq!(SpanLimits::default().max_events_per_span, 128);
    assert_eq!(SpanLimits::default().max_links_per_span, 128);
}

#[test]
fn a_span_ends_once_and_nothing_changes_it_after() {
    let provider = provider(Config::default());
    let tracer = provider.tracer("end");
    let started = UNIX_EPOCH + Duration::from_micros(1_800_000_000_000_123);
    clock::fake::set(started);
    let mut span = tracer.start("end.span");
    assert!(span.is_recording());
    let first_end = started + Duration::from_micros(2_500);
    span.end_with_timestamp(first_end);
    assert!(!span.is_recording(), "an ended span records nothing");
    span.set_attribute(KeyValue::new("late", true));
    span.set_status(Status::error("late"));
    span.update_name("end.renamed");
    span.add_event("late", vec![]);
    clock::fake::set(first_end + Duration::from_secs(1));
    span.end();
    drop(span);
    let spans = exported(&provider);
    assert_eq!(spans.len(), 1, "ended once: {spans:?}");
    let span = the_span(&spans, "end.span");
    assert!(span.wire.attributes.is_empty() && span.wire.events.is_empty());
    assert_eq!(span.status, StatusCode::Unset);
    assert_eq!(span.start_ns, nanos(started), "the clock's");
    assert_eq!(span.end_ns, nanos(first_end), "the first end's time");
}

#[test]
fn a_dropped_span_ends_at_the_sdks_clock_and_so_do_its_events() {
    let provider = provider(Config::default());
    let tracer = provider.tracer("drop");
    let started = UNIX_EPOCH + Duration::from_micros(1_800_000_000_000_123);
    clock::fake::set(started);
    {
        let mut span = tracer.start("drop.span");
        clock::fake::set(started + Duration::from_micros(300));
        span.add_event("halfway", vec![]);
        clock::fake::set(started + Duration::from_micros(700));
    }
    let spans = exported(&provider);
    let span = the_span(&spans, "drop.span");
    assert_eq!(span.start_ns, nanos(started));
    assert_eq!(
        span.wire.events[0].time_ns,
        nanos(started + Duration::from_micros(300))
    );
    assert_eq!(
        span.end_ns,
        nanos(started + Duration::from_micros(700)),
        "dropped is ended, at the clock's now"
    );
}

#[test]
fn ok_is_final_unset_never_overrides_and_error_can_be_replaced() {
    let provider = provider(Config::default());
    let tracer = provider.tracer("status");
    let cases: [(&str, &[Status], (StatusCode, &str)); 4] = [
        (
            "status.ok-final",
            &[Status::Ok, Status::error("after ok")],
            (StatusCode::Ok, ""),
        ),
        (
            "status.unset-ignored",
            &[Status::error("boom"), Status::Unset],
            (StatusCode::Error, "boom"),
        ),
        (
            "status.error-replaced",
            &[Status::error("a"), Status::error("b")],
            (StatusCode::Error, "b"),
        ),
        (
            "status.error-then-ok",
            &[Status::error("a"), Status::Ok],
            (StatusCode::Ok, ""),
        ),
    ];
    for (name, statuses, _) in &cases {
        let mut span = tracer.start(*name);
        for status in *statuses {
            span.set_status(status.clone());
        }
        span.end();
    }
    let spans = exported(&provider);
    for (name, _, (code, message)) in cases {
        let span = the_span(&spans, name);
        assert_eq!(
            (span.status, span.status_message.as_str()),
            (code, message),
            "{name}"
        );
    }
}

#[test]
fn set_error_records_the_error_type_and_the_error_status_together() {
    let provider = provider(Config::default());
    let tracer = provider.tracer("errors");
    let cx = Context::new().with_span(tracer.start("errors.span"));
    set_error(&cx.span(), "402".into(), "HTTP 402".into());
    cx.span().end();
    let spans = exported(&provider);
    let span = the_span(&spans, "errors.span");
    assert_eq!(span.wire.attributes.string("error.type"), Some("402"));
    assert_eq!(
        (span.status, span.status_message.as_str()),
        (StatusCode::Error, "HTTP 402")
    );
}

#[test]
fn children_take_local_and_remote_parents_from_the_context() {
    let provider = provider(Config::default());
    let tracer = provider.tracer("parents");
    let root = tracer.start("parents.root");
    let root_context = root.span_context().clone();
    let cx = Context::new().with_span(root);
    tracer.start_with_context("parents.local-child", &cx).end();
    cx.span().end();
    let remote_cx = remote(
        0x03,
        TraceState::from_key_value([("vendor", "v1")]).expect("valid"),
    );
    let remote_parent = remote_cx.span().span_context().clone();
    tracer
        .start_with_context("parents.remote-child", &remote_cx)
        .end();

    let spans = exported(&provider);
    let (root, local, remote_child) = (
        the_span(&spans, "parents.root"),
        the_span(&spans, "parents.local-child"),
        the_span(&spans, "parents.remote-child"),
    );
    assert!(root.parent_id.is_empty());
    assert_eq!(root.trace_id, root_context.trace_id().to_string());
    assert_eq!(local.trace_id, root.trace_id);
    assert_eq!(local.parent_id, root.span_id);
    assert_eq!(
        local.wire.flags & (HAS_IS_REMOTE | IS_REMOTE),
        HAS_IS_REMOTE,
        "a local parent"
    );
    assert_eq!(remote_child.trace_id, remote_parent.trace_id().to_string());
    assert_eq!(remote_child.parent_id, remote_parent.span_id().to_string());
    assert_eq!(
        remote_child.wire.flags & IS_REMOTE,
        IS_REMOTE,
        "a remote parent"
    );
    assert_eq!(
        remote_child.wire.trace_state, "vendor=v1",
        "the parent's trace state is carried"
    );
    assert_eq!(
        remote_child.wire.flags & 0xff,
        0x03,
        "the parent's flags are carried"
    );
}

#[test]
fn a_context_without_a_valid_span_makes_a_root() {
    let provider = provider(Config::default());
    let tracer = provider.tracer("roots");
    let invalid = Context::new().with_remote_span_context(SpanContext::empty_context());
    ids::fake::queue([0x11, 0x22]);
    let span = tracer.start_with_context("roots.span", &invalid);
    assert_eq!(span.span_context().trace_id(), TraceId::from(0x11));
    assert_eq!(span.span_context().span_id(), SpanId::from(0x22));
    drop(span);
    assert!(
        the_span(&exported(&provider), "roots.span")
            .parent_id
            .is_empty()
    );
}

#[test]
fn roots_are_sampled_with_the_random_flag_and_unsampled_roots_are_not_recorded() {
    let on = provider(Config::default());
    let mut span = on.tracer("sampling").start("sampling.on");
    assert_eq!(
        span.span_context().trace_flags().to_u8(),
        0x03,
        "sampled and random"
    );
    assert!(span.is_recording());
    span.end();
    assert_eq!(
        the_span(&exported(&on), "sampling.on").wire.flags & 0xff,
        0x03
    );

    let off = provider(Config {
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
    assert!(exported(&off).is_empty());
}

#[test]
fn a_remote_parent_decides_whatever_the_root_sampler() {
    let off = provider(Config {
        sampler: Sampler::always_off(),
        ..Default::default()
    });
    let mut kept = off
        .tracer("sampling")
        .start_with_context("remote.sampled", &remote(0x01, TraceState::NONE));
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
    assert_eq!(exported(&off).len(), 1);

    let on = provider(Config::default());
    let mut dropped = on
        .tracer("sampling")
        .start_with_context("remote.unsampled", &remote(0x00, TraceState::NONE));
    assert!(
        !dropped.is_recording(),
        "an unsampled remote parent is followed under AlwaysOn"
    );
    dropped.end();
    assert!(exported(&on).is_empty());
}

#[test]
fn probability_sampling_keeps_a_root_exactly_when_its_randomness_reaches_the_threshold() {
    // 50 %: T = 2^55. The randomness R is the trace id's low 56 bits (the high bits are noise).
    let half = provider(Config {
        sampler: Sampler::probability(Threshold::from_parts_per_million(500_000)),
        ..Default::default()
    });
    let tracer = half.tracer("probability");
    let noise = 0xabcd_u128 << 64;
    let cases = [
        (0, false),
        ((1 << 55) - 1, false),
        (1 << 55, true),
        ((1 << 56) - 1, true),
    ];
    for (randomness, kept) in cases {
        ids::fake::queue([noise | randomness, 1]);
        let mut span = tracer.start("probability.half");
        let context = span.span_context().clone();
        assert_eq!(context.is_sampled(), kept, "R = {randomness:#x}");
        assert_eq!(span.is_recording(), kept);
        assert_eq!(
            context.trace_flags().to_u8() & 0x02,
            0x02,
            "random either way"
        );
        if kept {
            assert_eq!(context.trace_state().header(), "ot=th:8");
        }
        span.end();
    }
    let spans = exported(&half);
    assert_eq!(spans.len(), 2, "only the sampled roots are exported");
    assert!(spans.iter().all(|s| s.wire.trace_state == "ot=th:8"));

    let all = provider(Config {
        sampler: Sampler::probability(Threshold::ALWAYS),
        ..Default::default()
    });
    ids::fake::queue([noise, 1]);
    let span = all.tracer("probability").start("probability.all");
    assert!(span.span_context().is_sampled(), "T = 0 keeps even R = 0");
    assert_eq!(span.span_context().trace_state().header(), "ot=th:0");

    let none = provider(Config {
        sampler: Sampler::probability(Threshold::from_parts_per_million(0)),
        ..Default::default()
    });
    ids::fake::queue([noise | ((1 << 56) - 1), 1]);
    let span = none.tracer("probability").start("probability.none");
    assert!(
        !span.span_context().is_sampled(),
        "T = 2^56 keeps not even the largest R"
    );
}

#[test]
fn a_probability_sampled_parent_decides_for_its_children_and_passes_its_threshold_on() {
    let half = provider(Config {
        sampler: Sampler::probability(Threshold::from_parts_per_million(500_000)),
        ..Default::default()
    });
    let tracer = half.tracer("probability");
    ids::fake::queue([1 << 55, 1, 2]);
    let root = tracer.start("probability.root");
    let cx = Context::new().with_span(root);
    let child = tracer.start_with_context("probability.child", &cx);
    assert!(child.span_context().is_sampled());
    assert_eq!(child.span_context().trace_state().header(), "ot=th:8");
    assert_eq!(child.span_context().span_id(), SpanId::from(2));
}

#[test]
fn ids_are_never_all_zero_and_spans_get_their_own() {
    let provider = provider(Config::default());
    let tracer = provider.tracer("ids");
    // Each all-zero draw is drawn again (W3C Trace Context: an all-zero id is invalid).
    ids::fake::queue([0, 0x11, 0, 0x22, 0x33, 0x44, 0x55]);
    let root = tracer.start("ids.root");
    let root_context = root.span_context().clone();
    assert_eq!(root_context.trace_id(), TraceId::from(0x11));
    assert_eq!(root_context.span_id(), SpanId::from(0x22));
    let cx = Context::new().with_span(root);
    let child = tracer.start_with_context("ids.child", &cx);
    assert_eq!(child.span_context().trace_id(), root_context.trace_id());
    assert_eq!(child.span_context().span_id(), SpanId::from(0x33));
    let other = tracer.start("ids.other-root");
    assert_eq!(other.span_context().trace_id(), TraceId::from(0x44));
    assert_eq!(other.span_context().span_id(), SpanId::from(0x55));
}

#[test]
fn the_provider_serves_as_the_global_one() {
    let provider = provider(Config::default());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let tracer = opentelemetry::global::tracer("global");
    let mut span = tracer.start("global.span");
    assert!(span.is_recording());
    span.set_attribute(KeyValue::new("through", "global"));
    span.end();
    let spans = exported(&provider);
    let span = the_span(&spans, "global.span");
    assert_eq!(span.wire.attributes.string("through"), Some("global"));
}
