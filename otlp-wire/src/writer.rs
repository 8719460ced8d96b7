//! The protobuf wire format, and nothing of OTLP: varints, tags, length-delimited messages and
//! fixed-width fields, as the protobuf encoding guide describes them. The OTLP messages are
//! written on top of it, in `common.rs` and `trace.rs`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Protobuf wire types (protobuf encoding guide, "Message Structure").
pub(crate) const VARINT: u32 = 0;
pub(crate) const I64: u32 = 1;
pub(crate) const LEN: u32 = 2;
pub(crate) const I32: u32 = 5;

/// The protobuf writer. Natively its small methods are inlined (the server encodes every span);
/// on wasm32 the ones every field calls (`tag`, `uint`, `bytes`, `fixed*`, `time`, `open`,
/// `close`) are kept out of line, so a page carries one copy of each rather than one per field
/// (BENCHMARKS.md, "Page size").
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub(crate) fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn tag(&mut self, field: u32, wire_type: u32) {
        self.varint(u64::from(field << 3 | wire_type));
    }

    /// A nested message: its fields are written by `body`, after one byte kept for its length
    /// (most nested messages, attributes and values, are under 128 bytes).
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub(crate) fn message(&mut self, field: u32, body: impl FnOnce(&mut Self)) {
        self.message_sized(field, 1, body);
    }

    /// A nested message whose length is expected to take `expected` varint bytes: that many are
    /// kept in front of its body and filled in after. When the length needs another number of
    /// bytes (protobuf wants the shortest varint), the body is moved once to make it fit.
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub(crate) fn message_sized(
        &mut self,
        field: u32,
        expected: usize,
        body: impl FnOnce(&mut Self),
    ) {
        let at = self.open(field, expected);
        body(self);
        self.close(at, expected);
    }

    /// The tag of a nested message and `expected` bytes kept for its length; returns where they
    /// start. (Not generic, so the page has one copy, not one per message closure.)
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn open(&mut self, field: u32, expected: usize) -> usize {
        self.tag(field, LEN);
        let at = self.buf.len();
        self.buf.resize(at + expected, 0);
        at
    }

    /// Writes the length of the message body that follows the `expected` bytes at `at`.
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn close(&mut self, at: usize, expected: usize) {
        let end = self.buf.len();
        let len = end - at - expected;
        let mut needed = 1;
        while len >> (7 * needed) != 0 {
            needed += 1;
        }
        if needed != expected {
            #[cfg(target_arch = "wasm32")]
            return self.reframe(at, expected, len);
            #[cfg(not(target_arch = "wasm32"))]
            self.move_body(at, expected, needed);
        }
        // Through `get_mut`, not indexing: nothing here can panic (see `reframe`).
        let mut value = len as u64;
        if let Some(slot) = self.buf.get_mut(at..at + needed) {
            for byte in slot.iter_mut() {
                *byte = (value as u8) | 0x80;
                value >>= 7;
            }
            if let Some(last) = slot.last_mut() {
                *last &= 0x7f;
            }
        }
    }

    /// Moves the body that follows the `expected` bytes at `at` to follow `needed` bytes there.
    #[cfg(not(target_arch = "wasm32"))]
    fn move_body(&mut self, at: usize, expected: usize, needed: usize) {
        let end = self.buf.len();
        self.buf.resize(end.max(end + needed - expected), 0);
        self.buf.copy_within(at + expected..end, at + needed);
        self.buf.truncate(end + needed - expected);
    }

    /// What `close` does on wasm32 when the length takes another number of bytes than expected:
    /// the body is split off, the length written after the tag, and the body appended back (an
    /// allocation, for a rare message). Moving the body in place (`move_body`, natively: the
    /// server encodes every span) links `copy_within`'s and indexing's range checks, and with them
    /// the slice-index panics and their formatting: 225 B gzipped of the minimal page
    /// (BENCHMARKS.md, "Page size").
    #[cfg(any(target_arch = "wasm32", test))]
    pub(crate) fn reframe(&mut self, at: usize, expected: usize, len: usize) {
        let mut body = self.buf.split_off((at + expected).min(self.buf.len()));
        self.buf.truncate(at);
        self.varint(len as u64);
        self.buf.append(&mut body);
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub(crate) fn bytes_always(&mut self, field: u32, bytes: &[u8]) {
        self.tag(field, LEN);
        self.varint(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn bytes(&mut self, field: u32, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.bytes_always(field, bytes);
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub(crate) fn string(&mut self, field: u32, text: &str) {
        self.bytes(field, text.as_bytes());
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn uint(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.tag(field, VARINT);
            self.varint(value);
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn fixed64(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.tag(field, I64);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn fixed32(&mut self, field: u32, value: u32) {
        if value != 0 {
            self.tag(field, I32);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(crate) fn time(&mut self, field: u32, time: SystemTime) {
        // In u64, saturating (the year 2554 and after): `as_nanos` is a u128. The seconds are
        // compared, not multiplied with `saturating_mul` (a 128-bit product on wasm32): 36 B
        // gzipped less on the minimal page (BENCHMARKS.md, "Page size").
        const MAX_SECS: u64 = u64::MAX / 1_000_000_000;
        let nanos = time.duration_since(UNIX_EPOCH).map_or(0, |d| {
            if d.as_secs() > MAX_SECS {
                u64::MAX
            } else {
                (d.as_secs() * 1_000_000_000).saturating_add(u64::from(d.subsec_nanos()))
            }
        });
        self.fixed64(field, nanos);
    }
}
