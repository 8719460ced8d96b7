//! The checkout's trace as the page draws it: the click, the fetch, and the server's total and parts
//! from its `Server-Timing` header, on one time axis in microseconds from the click. Pure logic,
//! tested natively; `view.rs` draws the bars.
//!
//! The browser knows when the fetch left and when its answer came back; the server says how long
//! it worked and on what, not when it started on this clock. So the server's bar is placed in the
//! middle of the fetch (the network time split evenly both ways), and each part starts with it:
//! a part's bar is its duration, as `Server-Timing` gives it (the database's is all its statements
//! together).
//!
//! Integer microseconds throughout: parsing or formatting floats would bring the float machinery
//! into the page.

use std::time::SystemTime;

/// One bar of the waterfall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// What it is: `checkout`, `fetch`, `server`, or a `Server-Timing` metric name.
    pub name: String,
    /// What the page shows beside it.
    pub label: String,
    /// Start, in µs after the click.
    pub start_us: i64,
    /// Length, in µs.
    pub duration_us: i64,
    /// Drawn in red: the span it stands for has Error status.
    pub error: bool,
}

impl Bar {
    /// End, in µs after the click.
    pub fn end_us(&self) -> i64 {
        self.start_us + self.duration_us
    }
}

/// One call as the page saw it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `METHOD path`, e.g. `POST /api/checkout`.
    pub request: String,
    /// When the fetch started.
    pub started: SystemTime,
    /// When its answer was read.
    pub ended: SystemTime,
    /// The HTTP status; `None` when the server could not be reached.
    pub status: Option<u16>,
    /// The `Server-Timing` header, when the server sent one.
    pub server_timing: Option<String>,
}

/// One `Server-Timing` metric: its name, duration and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// The metric name (`total`, `product`, `payment`, `db`).
    pub name: String,
    /// `dur`, in µs (0 when absent).
    pub duration_us: i64,
    /// `desc`, unquoted (the name when absent).
    pub description: String,
}

/// Parses a `Server-Timing` value (W3C Server Timing §3: `name;dur=12.5;desc="…"` entries,
/// comma-separated). Entries without a name are skipped; unknown parameters are ignored.
pub fn parse_server_timing(header: &str) -> Vec<Metric> {
    split(header, b',')
        .filter_map(|entry| {
            let mut params = split(entry, b';').map(trim_ows);
            let name = params.next().filter(|n| !n.is_empty())?.to_owned();
            let mut metric = Metric {
                description: name.clone(),
                name,
                duration_us: 0,
            };
            for param in params {
                match split_once(param, b'=') {
                    Some(("dur", value)) => metric.duration_us = millis_to_micros(value)?,
                    Some(("desc", value)) => {
                        metric.description = value.trim_matches('"').to_owned()
                    }
                    _ => {}
                }
            }
            Some(metric)
        })
        .collect()
}

/// `text`'s parts between the ASCII byte `separator`s. Byte by byte, as [`trim_ows`]: `str::split`
/// with a `char` brings its searcher (0.6 KB of the page's wasm).
fn split(text: &str, separator: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        let (part, after) = split_once(text, separator).unwrap_or((text, ""));
        rest = (part.len() < text.len()).then_some(after);
        Some(part)
    })
}

/// `text` around its first ASCII byte `separator`, as `str::split_once` (byte by byte: [`split`]).
fn split_once(text: &str, separator: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|b| b == separator)?;
    Some((text.get(..at)?, text.get(at + 1..)?))
}

/// `text` without the OWS around it: spaces and tabs (RFC 9110 §5.6.3). Byte by byte: `str::trim`
/// would bring Unicode tables, and `trim_matches([' ', '\t'])` its char decoding (0.6 KB of the
/// page's wasm).
fn trim_ows(text: &str) -> &str {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|b| !ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !ows(b))
        .map_or(start, |last| last + 1);
    // Both ends are next to ASCII bytes, so on char boundaries.
    text.get(start..end).unwrap_or_default()
}

/// `"12.345"` (milliseconds) → 12,345 µs; digits past the microsecond are dropped.
fn millis_to_micros(value: &str) -> Option<i64> {
    let (whole, fraction) = split_once(value, b'.').unwrap_or((value, ""));
    let digits = |text: &str| {
        text.bytes().try_fold(0_i64, |n, b| {
            let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
            n.checked_mul(10)?.checked_add(i64::from(digit))
        })
    };
    let fraction = fraction.get(..3.min(fraction.len()))?;
    let scale = [1000, 100, 10, 1][fraction.len()];
    (!whole.is_empty()).then_some(())?;
    digits(whole)?
        .checked_mul(1000)?
        .checked_add(digits(fraction)? * scale)
}

/// The bars for a click from `clicked` to `done` whose one call was `exchange`.
pub fn bars(clicked: SystemTime, done: SystemTime, exchange: &Exchange) -> Vec<Bar> {
    let at = |time: SystemTime| micros_between(clicked, time);
    let failed = exchange.status.is_none_or(|status| status >= 400);
    let mut bars = vec![
        bar("checkout", "click → checkout", 0, at(done), failed),
        bar(
            "fetch",
            &exchange.request,
            at(exchange.started),
            micros_between(exchange.started, exchange.ended),
            failed,
        ),
    ];
    let metrics = exchange
        .server_timing
        .as_deref()
        .map(parse_server_timing)
        .unwrap_or_default();
    let Some(total) = metrics.iter().find(|m| m.name == "total") else {
        return bars;
    };
    let fetch = &bars[1];
    let server_start = fetch.start_us + (fetch.duration_us - total.duration_us).max(0) / 2;
    let status = exchange.status.unwrap_or(0);
    bars.push(bar(
        "server",
        "Server total",
        server_start,
        total.duration_us,
        status >= 500,
    ));
    for part in metrics.iter().filter(|m| m.name != "total") {
        // The payment span is the one with Error status on a decline (402) or a gateway error (502).
        let error = part.name == "payment" && matches!(status, 402 | 502);
        bars.push(bar(
            &part.name,
            &part.description,
            server_start,
            part.duration_us,
            error,
        ));
    }
    bars
}

fn bar(name: &str, label: &str, start_us: i64, duration_us: i64, error: bool) -> Bar {
    Bar {
        name: name.to_owned(),
        label: label.to_owned(),
        start_us,
        duration_us: duration_us.max(0),
        error,
    }
}

fn micros_between(from: SystemTime, to: SystemTime) -> i64 {
    match to.duration_since(from) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// `12_345` µs → `"12.3 ms"`.
pub fn format_ms(micros: i64) -> String {
    let tenths = micros.max(0) / 100;
    [
        otel_browser::text::decimal(tenths / 10).as_str(),
        ".",
        otel_browser::text::decimal(tenths % 10).as_str(),
        " ms",
    ]
    .concat()
}

/// `part` of `whole` as a CSS percentage with one decimal, e.g. `"12.5%"`.
pub fn percent(part: i64, whole: i64) -> String {
    let permille = part.clamp(0, whole.max(1)) * 1000 / whole.max(1);
    [
        otel_browser::text::decimal(permille / 10).as_str(),
        ".",
        otel_browser::text::decimal(permille % 10).as_str(),
        "%",
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const HEADER: &str = "total;dur=40.5;desc=\"Total\", product;dur=0.611;desc=\"Product lookup\", \
                          payment;dur=30;desc=\"Payment\", db;dur=2.0456;desc=\"Database\"";

    #[test]
    fn server_timing_is_read_to_the_microsecond() {
        let metrics = parse_server_timing(HEADER);
        let read: Vec<_> = metrics
            .iter()
            .map(|m| (m.name.as_str(), m.duration_us, m.description.as_str()))
            .collect();
        assert_eq!(
            read,
            [
                ("total", 40_500, "Total"),
                ("product", 611, "Product lookup"),
                ("payment", 30_000, "Payment"),
                ("db", 2_045, "Database"),
            ]
        );
        assert_eq!(parse_server_timing("cache, ;dur=1")[0].name, "cache");
        assert_eq!(
            parse_server_timing("x;dur=abc").len(),
            0,
            "a broken dur drops the entry"
        );
        assert!(parse_server_timing("x;dur=-1").is_empty());
        assert!(parse_server_timing("x;dur=.5").is_empty());
        assert_eq!(parse_server_timing("x;dur=7")[0].duration_us, 7_000);
        assert_eq!(parse_server_timing("x;dur=7.12345")[0].duration_us, 7_123);
        let spaced = parse_server_timing("\t db \t; \tdur=2 ;desc=\" a b \"\t, \t ,");
        assert_eq!(spaced.len(), 1, "an entry of OWS alone has no name");
        assert_eq!(
            (spaced[0].name.as_str(), spaced[0].duration_us),
            ("db", 2_000),
            "spaces and tabs around each part are OWS"
        );
        assert_eq!(
            spaced[0].description, " a b ",
            "inside the quotes they are kept"
        );
    }

    #[test]
    fn the_byte_splitters_split_as_str_does() {
        for text in ["", ",", "a", "a,b", "a,,b,", ",a", "é,ü;x=ÿ", "a=b=c"] {
            let ours: Vec<&str> = split(text, b',').collect();
            assert_eq!(ours, text.split(',').collect::<Vec<_>>(), "{text:?}");
            assert_eq!(split_once(text, b'='), text.split_once('='), "{text:?}");
        }
    }

    fn exchange(status: Option<u16>, header: Option<&str>) -> (SystemTime, SystemTime, Exchange) {
        let clicked = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let exchange = Exchange {
            request: "POST /api/checkout".into(),
            started: clicked + Duration::from_micros(1_000),
            ended: clicked + Duration::from_micros(51_000),
            status,
            server_timing: header.map(str::to_owned),
        };
        (clicked, clicked + Duration::from_micros(52_000), exchange)
    }

    #[test]
    fn the_server_sits_in_the_middle_of_the_fetch_and_its_parts_start_with_it() {
        let (clicked, done, exchange) = exchange(Some(201), Some(HEADER));
        let bars = bars(clicked, done, &exchange);
        let names: Vec<_> = bars.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names,
            ["checkout", "fetch", "server", "product", "payment", "db"]
        );
        assert_eq!((bars[0].start_us, bars[0].end_us()), (0, 52_000));
        assert_eq!((bars[1].start_us, bars[1].end_us()), (1_000, 51_000));
        // 50 ms of fetch, 40.5 of server: 4.75 ms of network on each side.
        assert_eq!((bars[2].start_us, bars[2].end_us()), (5_750, 46_250));
        for part in &bars[3..] {
            assert_eq!(part.start_us, bars[2].start_us);
            assert!(part.end_us() <= bars[2].end_us());
        }
        assert!(bars.iter().all(|b| !b.error));
    }

    #[test]
    fn errors_are_marked_on_the_spans_that_have_error_status() {
        let (clicked, done, declined) = exchange(Some(402), Some(HEADER));
        let bars = bars(clicked, done, &declined);
        let errors: Vec<_> = bars
            .iter()
            .filter(|b| b.error)
            .map(|b| b.name.as_str())
            .collect();
        assert_eq!(
            errors,
            ["checkout", "fetch", "payment"],
            "a 4xx leaves the server span unset"
        );

        let (clicked, done, unreachable) = exchange(None, None);
        let bars = super::bars(clicked, done, &unreachable);
        assert_eq!(bars.len(), 2, "no server bars without Server-Timing");
        assert!(bars.iter().all(|b| b.error));
    }

    #[test]
    fn times_and_widths_are_formatted_without_floats() {
        assert_eq!(format_ms(52_345), "52.3 ms");
        assert_eq!(format_ms(900), "0.9 ms");
        assert_eq!(percent(5_750, 52_000), "11.0%");
        assert_eq!(percent(60_000, 52_000), "100.0%");
        assert_eq!(percent(1, 0), "100.0%");
    }
}
