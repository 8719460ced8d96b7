//! Ids and integers as text, written by hand: `core::fmt`'s integer formatting costs a page
//! 1.5 KB of wasm, and every page that shows a trace id or a count needs these two.

/// `bytes` in lowercase hex: `hex(&trace_id.to_bytes())` is the trace id as W3C Trace Context
/// and Jaeger write it (the text of `TraceId`'s `Display`, without `core::fmt`).
pub fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(2 * bytes.len());
    trace_context::push_hex(&mut text, bytes);
    text
}

/// `n` in decimal (the text of the integer's `Display`, without `core::fmt`).
pub fn decimal(n: i64) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut text = String::with_capacity(21);
    if n < 0 {
        text.push('-');
    }
    for &digit in digits.get(at..).unwrap_or_default() {
        text.push(char::from(digit));
    }
    text
}

/// `array[i]` as a string (empty when it is not one): how the crate reads its snippets' arrays
/// (`fetch`'s and `errors`'), once rather than inlined at every read.
#[cfg(all(target_arch = "wasm32", any(feature = "fetch", feature = "errors")))]
#[inline(never)]
pub(crate) fn text_at(array: &js_sys::Array, i: u32) -> String {
    array.get(i).as_string().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceId;

    #[test]
    fn decimal_is_the_integers_display() {
        for n in [0, 7, 10, 404, -42, 1_800_000_000_000, i64::MAX, i64::MIN] {
            assert_eq!(decimal(n), n.to_string());
        }
    }

    #[test]
    fn hex_is_the_ids_display() {
        let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex");
        assert_eq!(hex(&id.to_bytes()), id.to_string());
        assert_eq!(hex(&[0x00, 0x0f, 0xf0]), "000ff0");
    }
}
