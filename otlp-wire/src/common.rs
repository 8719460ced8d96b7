//! The messages of `opentelemetry/proto/common/v1/common.proto` that a span carries:
//! `InstrumentationScope`, `KeyValue` and `AnyValue`.

use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};

use crate::writer::{I64, VARINT, Writer};

impl Writer {
    /// `InstrumentationScope`: name = 1, version = 2, attributes = 3.
    pub(crate) fn scope(&mut self, scope: &InstrumentationScope) {
        self.string(1, scope.name());
        self.string(2, scope.version().unwrap_or_default());
        for kv in scope.attributes() {
            self.key_value(3, kv.key.as_str(), &kv.value);
        }
    }

    /// `KeyValue` (key = 1, value = 2) as field `field` of the enclosing message.
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub(crate) fn key_value(&mut self, field: u32, key: &str, value: &Value) {
        self.message(field, |w| {
            w.string(1, key);
            w.message(2, |w| w.any_value(value));
        });
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub(crate) fn attributes(&mut self, field: u32, attributes: &[KeyValue]) {
        for kv in attributes {
            self.key_value(field, kv.key.as_str(), &kv.value);
        }
    }

    /// The fields of an `AnyValue`: string = 1, bool = 2, int = 3, double = 4, array = 5.
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub(crate) fn any_value(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.bytes_always(1, s.as_str().as_bytes()),
            Value::Bool(b) => self.scalar_bool(*b),
            Value::I64(i) => self.scalar_int(*i),
            Value::F64(f) => self.scalar_double(*f),
            Value::Array(array) => self.message(5, |w| match array {
                // ArrayValue.values = 1
                Array::Bool(values) => values
                    .iter()
                    .for_each(|v| w.message(1, |w| w.scalar_bool(*v))),
                Array::I64(values) => values
                    .iter()
                    .for_each(|v| w.message(1, |w| w.scalar_int(*v))),
                Array::F64(values) => {
                    values
                        .iter()
                        .for_each(|v| w.message(1, |w| w.scalar_double(*v)));
                }
                Array::String(values) => values
                    .iter()
                    .for_each(|v| w.message(1, |w| w.bytes_always(1, v.as_str().as_bytes()))),
                // A kind of array this version does not know: sent as an empty array.
                _ => {}
            }),
            // A kind of value this version does not know: sent as an empty `AnyValue` (no value).
            _ => {}
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub(crate) fn scalar_bool(&mut self, value: bool) {
        self.tag(2, VARINT);
        self.varint(u64::from(value));
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub(crate) fn scalar_int(&mut self, value: i64) {
        self.tag(3, VARINT);
        // int64 is sent as the two's-complement u64 (ten bytes when negative).
        self.varint(value as u64);
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub(crate) fn scalar_double(&mut self, value: f64) {
        self.tag(4, I64);
        self.buf.extend_from_slice(&value.to_bits().to_le_bytes());
    }
}
