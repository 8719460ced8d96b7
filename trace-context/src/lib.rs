//! W3C Trace Context Level 2 (<https://www.w3.org/TR/trace-context-2/>): its header text, read
//! strictly and written, in one place for the server's propagation, the browser's propagator
//! (`otel-browser`) and the OTLP writer (`otlp-wire`), so that all read and write the same headers by
//! the same rules:
//!
//! - [`traceparent`]: a version-00 value, the flags version 00 defines and no others
//!   (§3.2.2.5 "trace-flags"), in lowercase hex (§3.2.2.3, §3.2.2.4); [`tracestate`]: a
//!   `TraceState` as its list (§3.3.1). Both written by hand ([`push_hex`]): `format!` would link
//!   `core::fmt` into every page that sends a header.
//! - [`parse_traceparent`]: version `00` exactly, higher versions by the version-00 rules (what
//!   follows the flags after a `-` is ignored), `ff` refused; lowercase hex only; all-zero ids
//!   refused; the sampled and random flags kept, other bits cleared (§3.2.2.5 "trace-flags").
//! - [`parse_tracestate`]: a joined list of at most 32 members, keys by the current grammar
//!   (§3.3.2.2.1 "Key", `@` anywhere after the first character), a malformed member discarding the
//!   whole list, a duplicated key keeping its first member.
//! - [`sampling`]: consistent probability sampling's threshold and randomness (`ot=th`), for the
//!   page's sampler and the server's alike.

pub mod sampling;

use opentelemetry::trace::{SpanContext, SpanId, TraceId, TraceState};

/// The most members a `tracestate` list may have (§3.3.1.1 "Combined Header Value").
pub const MAX_TRACESTATE_MEMBERS: usize = 32;
/// The flag bits version 00 defines: sampled and random.
pub const KNOWN_FLAGS: u8 = 0x03;
/// The random flag (Level 2, §3.2.2.5.2 "Random Trace ID Flag").
pub const RANDOM: u8 = 0x02;

/// The version-00 `traceparent` value of a span: `00-{trace_id}-{span_id}-{flags}`, of `flags`
/// only the bits version 00 defines ([`KNOWN_FLAGS`]: sampled and random).
pub fn traceparent(trace_id: TraceId, span_id: SpanId, flags: u8) -> String {
    let mut value = String::with_capacity(55);
    value.push_str("00-");
    push_hex(&mut value, &trace_id.to_bytes());
    value.push('-');
    push_hex(&mut value, &span_id.to_bytes());
    value.push('-');
    push_hex(&mut value, &[flags & KNOWN_FLAGS]);
    value
}

/// The `traceparent` value of `span_context`, with its own flags (of them, the known ones).
pub fn traceparent_of(span_context: &SpanContext) -> String {
    traceparent(
        span_context.trace_id(),
        span_context.span_id(),
        span_context.trace_flags().to_u8(),
    )
}

/// `trace_state` as its `tracestate` value (`key=value,…`; empty for none): the text of
/// `TraceState::header`, which builds it with `format!` and cost a page 4.6 KB of wasm
/// (BENCHMARKS.md, "Page size").
pub fn tracestate(trace_state: &TraceState) -> String {
    let mut value = String::new();
    for (i, (key, member)) in trace_state.into_iter().enumerate() {
        if i > 0 {
            value.push(',');
        }
        value.push_str(key);
        value.push('=');
        value.push_str(member);
    }
    value
}

/// Appends `bytes` in lowercase hex, as Trace Context writes ids and flags (and Jaeger shows trace
/// ids).
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
}

/// Parses one `traceparent` value by the version-00 rules (and higher versions by the same rules).
/// Byte by byte, with no number parsing: the page reads its `traceresponse` with it, and
/// `from_str_radix` on a `u128` would cost it more than the rules do.
pub fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, u8)> {
    let bytes = trim_ows(value.as_bytes());
    let [version] = hex::<1>(bytes.get(0..2)?)?;
    if version == 0xff {
        return None;
    }
    // version-trace_id-parent_id-flags is 55 characters; version 00 allows nothing after it, a
    // higher version may append fields after another dash.
    let exact = version == 0;
    if bytes.len() < 55
        || (exact && bytes.len() != 55)
        || (!exact && bytes.len() > 55 && bytes[55] != b'-')
    {
        return None;
    }
    if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let trace_id = TraceId::from_bytes(hex(&bytes[3..35])?);
    let span_id = SpanId::from_bytes(hex(&bytes[36..52])?);
    let [flags] = hex::<1>(&bytes[53..55])?;
    (trace_id != TraceId::INVALID && span_id != SpanId::INVALID).then_some((
        trace_id,
        span_id,
        flags & KNOWN_FLAGS,
    ))
}

/// `text` without the optional whitespace (spaces and tabs) around it.
fn trim_ows(mut text: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = text {
        text = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = text {
        text = rest;
    }
    text
}

/// `2 × N` lowercase hex digits as `N` bytes; `None` for anything else (uppercase included: W3C
/// Trace Context's ids and flags are lowercase).
fn hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex_into(text, &mut out).then_some(out)
}

/// Decodes `text` into `out` (one copy of the loop for every width); whether it was `out.len()`
/// bytes of lowercase hex.
#[inline(never)]
fn hex_into(text: &[u8], out: &mut [u8]) -> bool {
    text.len() == 2 * out.len()
        && out
            .iter_mut()
            .zip(text.chunks_exact(2))
            .all(|(byte, pair)| match (nibble(pair[0]), nibble(pair[1])) {
                (Some(high), Some(low)) => {
                    *byte = high << 4 | low;
                    true
                }
                _ => false,
            })
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Parses a (joined) `tracestate` list into its members, in order; `None` means "discard it". A
/// duplicated key keeps its first member.
pub fn parse_tracestate(list: &str) -> Option<Vec<(&str, &str)>> {
    let mut members: Vec<(&str, &str)> = Vec::new();
    for member in list
        .split(',')
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
    {
        let (key, value) = member.split_once('=')?;
        if !valid_key(key) || !valid_value(value) {
            return None;
        }
        if !members.iter().any(|(k, _)| *k == key) {
            members.push((key, value));
        }
    }
    (members.len() <= MAX_TRACESTATE_MEMBERS).then_some(members)
}

/// `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`,
/// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"` (Level 2, §3.3.2.2.1 "Key").
fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    (1..=256).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|&b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@')
        })
}

/// Up to 256 printable ASCII characters except `,` and `=`, not ending in a space.
fn valid_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            "00-00000000000000000000000000000000-b7ad6b7169203331-01", // all-zero trace id
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", // all-zero parent id
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", // forbidden version
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", // uppercase hex
            "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",  // 31-hex trace id
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",  // 15-hex parent id
            "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  // version 0
            "000-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", // version 000
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",  // flags 1
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", // 00 with more
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g", // non-hex flags
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01.what", // no dash after flags
            "",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_written_traceparent_is_read_back_with_only_the_known_flags() {
        let trace_id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex");
        let span_id = SpanId::from_hex("b7ad6b7169203331").expect("hex");
        let value = traceparent(trace_id, span_id, 0xff);
        assert_eq!(
            value,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03"
        );
        assert_eq!(
            parse_traceparent(&value),
            Some((trace_id, span_id, KNOWN_FLAGS))
        );
        assert!(traceparent(trace_id, span_id, 0).ends_with("-00"));
        assert!(traceparent(trace_id, span_id, RANDOM).ends_with("-02"));
    }

    #[test]
    fn the_tracestate_written_is_the_api_crates() {
        for state in [
            TraceState::NONE,
            TraceState::from_key_value([("vendor", "v1")]).expect("valid"),
            TraceState::from_key_value([("a", "1"), ("congo", "t61rcWkgMzE"), ("ot", "th:8")])
                .expect("valid"),
        ] {
            assert_eq!(tracestate(&state), state.header());
        }
    }

    #[test]
    fn a_higher_version_is_read_by_the_version_00_rules() {
        let parsed = parse_traceparent(
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-holds",
        );
        assert_eq!(
            parsed.map(|(t, _, f)| (t.to_string(), f)),
            Some(("0af7651916cd43dd8448eb211c80319c".into(), 1))
        );
    }
}
