//! Where the processor's batches go: the [`Transport`] it sends through, and the two ways a send
//! can fail, which decide whether a batch is kept or dropped.

use std::time::Duration;

use bytes::Bytes;

/// Where encoded batches go: [`HttpTransport`](crate::HttpTransport) for a collector over
/// OTLP/HTTP; a test's own to see the bodies, or to play a collector that fails.
pub trait Transport: Send + 'static {
    /// The body to send for one `ExportTraceServiceRequest` (compressed, if the transport
    /// compresses); made once per batch, on the export thread, and kept while the batch waits.
    fn prepare(&self, request: Vec<u8>) -> Bytes {
        Bytes::from(request)
    }

    /// Sends one body [`prepare`](Self::prepare) made, retrying as the protocol says, within
    /// `timeout` (`None`: no limit but the transport's own).
    fn send(&self, body: Bytes, timeout: Option<Duration>) -> Result<(), ExportError>;
}

/// Why a batch was not exported.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExportError {
    /// The collector refused it (a client error): sending it again cannot help; it is dropped.
    #[error("{0}")]
    Rejected(String),
    /// It did not get through (no connection, no answer in time, the collector unavailable after
    /// its retries): it is kept and sent again.
    #[error("{0}")]
    Unavailable(String),
}
