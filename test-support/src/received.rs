//! What the browser tests' receiver (`src/bin/test-receiver.rs`) has recorded, as it answers
//! `GET /received`: the OTLP exports it accepted and the requests its fake API got. One type,
//! written by the receiver and read by the tests, so the two cannot drift.
//!
//! `GET /received?service=NAME` answers with only the exports that carry spans of service `NAME`:
//! each browser test names its telemetry's service after itself, and reads only its own spans.

use serde::{Deserialize, Serialize};

use crate::trace::Span;

/// Everything the receiver recorded (or, filtered by service, that service's exports).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Received {
    /// The exports, in the order they arrived.
    pub exports: Vec<Export>,
    /// The fake API's requests, in the order they arrived (never filtered: a test tells its own
    /// by the path it gave them).
    pub requests: Vec<Request>,
}

/// An OTLP/HTTP export, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// Its `Content-Type` (empty without one).
    pub content_type: String,
    /// Its body, decompressed (base64 in the JSON).
    #[serde(with = "base64_body")]
    pub body: Vec<u8>,
}

impl Export {
    /// Its spans. Panics unless the body is an OTLP protobuf export (the receiver and the fake
    /// collector record no other).
    pub fn spans(&self) -> Vec<Span> {
        Span::decode(&self.body).expect("an OTLP protobuf export")
    }
}

/// A request to the receiver's fake API (`/api/products`, `/strict/products`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Its path and query, as sent.
    pub path: String,
    /// Its `traceparent` header (empty without one).
    pub traceparent: String,
    /// Its `baggage` header (empty without one).
    pub baggage: String,
}

/// A body as base64 text, as JSON carries bytes.
mod base64_body {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    use serde::{Deserialize as _, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(body: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(body))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_goes_through_json_as_base64_and_comes_back_the_same() {
        let received = Received {
            exports: vec![Export {
                content_type: "application/x-protobuf".into(),
                body: vec![0, 1, 2, 250],
            }],
            requests: Vec::new(),
        };
        let json = serde_json::to_value(&received).expect("serialized");
        assert_eq!(json["exports"][0]["body"], "AAEC+g==");
        let back: Received = serde_json::from_value(json).expect("read back");
        assert_eq!(back.exports, received.exports);
    }
}
