//! A fake OTLP/HTTP collector on a free port, in the modes the tests and benches need. Healthy, it
//! decodes every export with the official opentelemetry-proto types; it stands in for a real
//! collector where the point is the exporter's behaviour (the end-to-end tests run a real one), and
//! for Jaeger's storage behind the real one.
//!
//! Its route and what it records are a [`Recorder`], which a server of another's can serve: the
//! browser tests' receiver (`src/bin/test-receiver.rs`) serves a healthy one and a hanging one on
//! one port, beside its fake API.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::Request,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse as _, Response},
    routing::post,
};
use tokio::{net::TcpListener, sync::oneshot};
use tower_http::decompression::RequestDecompressionLayer;

use crate::{
    received::Export,
    tls::{ServerTls, TlsListener},
    trace::Span,
};

/// How the collector behaves (and can be switched to while it runs: [`Collector::set_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Accepts and decodes every export (gzip-compressed or not).
    Healthy,
    /// Nothing listens: connections are refused.
    Down,
    /// Accepts connections and never answers.
    Hanging,
    /// Answers every export with 503.
    Failing,
    /// Answers the first `times` exports with 503 and `Retry-After: {retry_after_secs}`, then
    /// accepts and decodes like [`Mode::Healthy`].
    Throttled {
        /// How many exports are turned away.
        times: usize,
        /// The `Retry-After` seconds sent with each.
        retry_after_secs: u64,
    },
    /// Answers every export with 400 (a client error, which must not be retried).
    Rejecting,
    /// Answers the first `times` exports with 400, then accepts and decodes like
    /// [`Mode::Healthy`]: an export sent again after its refusal would be accepted.
    Refusing {
        /// How many exports are refused.
        times: usize,
    },
}

/// An export as it arrived, and its spans.
type Accepted = (Export, Vec<Span>);

/// A collector's route, `POST /v1/traces`, answered in its mode, and what it has received; no
/// listener of its own.
#[derive(Clone)]
pub struct Recorder {
    mode: Arc<Mutex<Mode>>,
    /// The exports it accepted, as they arrived, each with its spans, decoded once on arrival.
    exports: Arc<Mutex<Vec<Accepted>>>,
    answers: Arc<Mutex<Vec<(Instant, u16)>>>,
    /// The `Content-Encoding` of each export, in order (`None`: none).
    encodings: Arc<Mutex<Vec<Option<String>>>>,
}

impl Recorder {
    /// One that answers in `mode` (a `Down` one answers as if healthy: only a listener can be down).
    pub fn new(mode: Mode) -> Self {
        Self {
            mode: Arc::new(Mutex::new(mode)),
            exports: Arc::default(),
            answers: Arc::default(),
            encodings: Arc::default(),
        }
    }

    /// Its route, `POST /v1/traces`, gzip-compressed or not (real collectors compress what they
    /// forward).
    pub fn router(&self) -> Router {
        let this = self.clone();
        Router::new()
            .route(
                "/v1/traces",
                post(move |headers: HeaderMap, body: Bytes| {
                    let this = this.clone();
                    async move {
                        let mode = *this.mode.lock().expect("lock");
                        if mode == Mode::Hanging {
                            std::future::pending::<()>().await;
                        }
                        this.answer(mode, &headers, body)
                    }
                }),
            )
            .layer(RequestDecompressionLayer::new())
            .layer(axum::middleware::map_request({
                let encodings = self.encodings.clone();
                move |request: Request| {
                    let encoding = request.headers().get(header::CONTENT_ENCODING);
                    let encoding = encoding.and_then(|e| e.to_str().ok()).map(str::to_owned);
                    encodings.lock().expect("lock").push(encoding);
                    std::future::ready(request)
                }
            }))
    }

    /// The answer to one export in `mode`, recorded.
    fn answer(&self, mode: Mode, headers: &HeaderMap, body: Bytes) -> Response {
        let answered = self.answers.lock().expect("lock").len();
        let response = match mode {
            Mode::Failing => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            Mode::Rejecting => StatusCode::BAD_REQUEST.into_response(),
            Mode::Refusing { times } if answered < times => StatusCode::BAD_REQUEST.into_response(),
            Mode::Throttled {
                times,
                retry_after_secs,
            } if answered < times => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, retry_after_secs.to_string())],
            )
                .into_response(),
            _ => match Span::decode(&body) {
                Err(_) => StatusCode::BAD_REQUEST.into_response(),
                Ok(spans) => {
                    let content_type = headers.get(header::CONTENT_TYPE);
                    let content_type = content_type.and_then(|t| t.to_str().ok()).unwrap_or("");
                    let export = Export {
                        content_type: content_type.to_owned(),
                        body: body.to_vec(),
                    };
                    self.exports.lock().expect("lock").push((export, spans));
                    StatusCode::OK.into_response()
                }
            },
        };
        self.answers
            .lock()
            .expect("lock")
            .push((Instant::now(), response.status().as_u16()));
        response
    }

    /// Every export accepted so far, as it arrived.
    pub fn exports(&self) -> Vec<Export> {
        let exports = self.exports.lock().expect("lock");
        exports.iter().map(|(export, _)| export.clone()).collect()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        let exports = self.exports.lock().expect("lock");
        exports
            .iter()
            .flat_map(|(_, spans)| spans.clone())
            .collect()
    }

    /// When each export was answered, and with which status, in order.
    pub fn answers(&self) -> Vec<(Instant, u16)> {
        self.answers.lock().expect("lock").clone()
    }

    /// The `Content-Encoding` each export came with, in order (`None`: none).
    pub fn encodings(&self) -> Vec<Option<String>> {
        self.encodings.lock().expect("lock").clone()
    }
}

/// Serves `router` on `listener` until `stopped` (idle keep-alive connections are closed too).
fn serve_until<L>(listener: L, router: Router, stopped: oneshot::Receiver<()>)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
}

/// A running fake collector, the spans it has received, and when it answered what.
#[derive(Clone)]
pub struct Collector {
    /// Where it listens (its traces path is `/v1/traces`).
    pub addr: SocketAddr,
    recorder: Recorder,
    /// Served over TLS, when set.
    tls: Option<Arc<ServerTls>>,
    /// Stops the server task (gracefully: idle keep-alive connections are closed too).
    stop: Arc<Mutex<Option<oneshot::Sender<()>>>>,
}

impl Collector {
    /// Starts one in `mode` on a free port.
    pub async fn start(mode: Mode) -> Self {
        Self::start_with(mode, None).await
    }

    /// Starts one in `mode` on a free port, serving HTTPS as `tls` says.
    pub async fn start_tls(mode: Mode, tls: ServerTls) -> Self {
        Self::start_with(mode, Some(Arc::new(tls))).await
    }

    async fn start_with(mode: Mode, tls: Option<Arc<ServerTls>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let collector = Self {
            addr: listener.local_addr().expect("addr"),
            recorder: Recorder::new(mode),
            tls,
            stop: Arc::default(),
        };
        if mode != Mode::Down {
            collector.serve(listener);
        }
        collector
    }

    /// Switches to `mode` from now on: an outage (`Down`) closes the port, leaving it opens it again
    /// on the same address.
    pub async fn set_mode(&self, mode: Mode) {
        let was = std::mem::replace(&mut *self.recorder.mode.lock().expect("lock"), mode);
        match (was == Mode::Down, mode == Mode::Down) {
            (false, true) => {
                if let Some(stop) = self.stop.lock().expect("lock").take() {
                    let _ = stop.send(());
                }
                crate::wait_for("the port to close", Duration::from_secs(10), || async {
                    tokio::net::TcpStream::connect(self.addr)
                        .await
                        .is_err()
                        .then_some(())
                })
                .await;
            }
            (true, false) => {
                let listener =
                    crate::wait_for("the port to reopen", Duration::from_secs(10), || {
                        let addr = self.addr;
                        async move { TcpListener::bind(addr).await.ok() }
                    })
                    .await;
                self.serve(listener);
            }
            _ => {}
        }
    }

    /// Serves `listener` in the current mode until stopped.
    fn serve(&self, listener: TcpListener) {
        let router = self.recorder.router();
        let (stop, stopped) = oneshot::channel::<()>();
        *self.stop.lock().expect("lock") = Some(stop);
        match &self.tls {
            None => serve_until(listener, router, stopped),
            Some(tls) => serve_until(TlsListener::new(listener, tls), router, stopped),
        }
    }

    /// When each export was answered, and with which status, in order.
    pub fn answers(&self) -> Vec<(Instant, u16)> {
        self.recorder.answers()
    }

    /// The `Content-Encoding` each export came with, in order (`None`: none).
    pub fn encodings(&self) -> Vec<Option<String>> {
        self.recorder.encodings()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.recorder.spans()
    }
}
