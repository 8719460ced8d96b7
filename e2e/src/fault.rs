//! The page's OTLP path with faults in it: a proxy between the edge and the collector's public
//! receiver that passes each export through, or answers it as the drill says (the collector gone,
//! throttling, failing), and records every attempt with the spans it carried. The browser delivery
//! drill (`e2e/tests/delivery.rs`) counts on it what the page sent, what arrived, what was lost and
//! what came twice.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Instant,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};

use crate::{page, trace::Span};

/// How the proxy answers the page's exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Each export goes to the collector, and its answer back.
    Pass,
    /// The collector is unreachable: 502, as the edge answers then.
    Gone,
    /// Each export is answered `status`, with `Retry-After: retry_after` seconds when given.
    Answer {
        status: u16,
        retry_after: Option<u32>,
    },
}

/// One export attempt as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: Instant,
    /// What the page got.
    pub status: u16,
    pub spans: Vec<Span>,
}

/// The running proxy.
#[derive(Clone)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<Shared>,
}

struct Shared {
    collector: String,
    client: reqwest::Client,
    fault: Mutex<Fault>,
    attempts: Mutex<Vec<Attempt>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FaultProxy {
    /// Listens on a free port, passing exports to `collector` (host:port) until told otherwise.
    pub async fn start(collector: SocketAddr) -> Self {
        let state = Arc::new(Shared {
            collector: format!("http://{collector}/v1/traces"),
            client: reqwest::Client::new(),
            fault: Mutex::new(Fault::Pass),
            attempts: Mutex::default(),
        });
        let router = Router::new()
            .route("/v1/traces", post(export))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { addr, state }
    }

    /// Answers from now on as `fault` says.
    pub fn set(&self, fault: Fault) {
        *lock(&self.state.fault) = fault;
    }

    /// Every attempt so far, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        lock(&self.state.attempts).clone()
    }

    /// What the attempts so far carried of `service`'s spans: [`Delivery`].
    pub fn delivery(&self, service: &str) -> Delivery {
        self.delivery_of(|span| span.service == service)
    }

    /// What the attempts so far carried of the spans `counted` picks: [`Delivery`].
    pub fn delivery_of(&self, counted: impl Fn(&Span) -> bool) -> Delivery {
        Delivery::of(&self.attempts(), counted)
    }
}

async fn export(State(state): State<Arc<Shared>>, request: Request) -> Response {
    let fault = *lock(&state.fault);
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let spans = Span::decode(&body).unwrap_or_default();
    let response = match fault {
        Fault::Pass => {
            let request = Request::from_parts(parts, axum::body::Body::from(body));
            page::forward(&state.client, state.collector.clone(), request).await
        }
        Fault::Gone => (StatusCode::BAD_GATEWAY, "upstream unreachable").into_response(),
        Fault::Answer {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(status).expect("a status");
            match retry_after {
                Some(seconds) => {
                    (status, [(header::RETRY_AFTER, seconds.to_string())]).into_response()
                }
                None => status.into_response(),
            }
        }
    };
    lock(&state.attempts).push(Attempt {
        at: Instant::now(),
        status: response.status().as_u16(),
        spans,
    });
    response
}

/// One service's spans as its export attempts carried them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Distinct spans in any attempt.
    pub sent: usize,
    /// Distinct spans in an attempt the collector accepted (2xx).
    pub arrived: usize,
    /// Spans sent and never accepted.
    pub lost: usize,
    /// Accepted copies beyond the first.
    pub duplicated: usize,
}

impl Delivery {
    fn of(attempts: &[Attempt], counted: impl Fn(&Span) -> bool) -> Self {
        let mut sent = BTreeSet::new();
        let mut accepted: BTreeMap<&str, usize> = BTreeMap::new();
        for attempt in attempts {
            for span in attempt.spans.iter().filter(|s| counted(s)) {
                sent.insert(span.span_id.as_str());
                if (200..300).contains(&attempt.status) {
                    *accepted.entry(&span.span_id).or_default() += 1;
                }
            }
        }
        Self {
            sent: sent.len(),
            arrived: accepted.len(),
            lost: sent.iter().filter(|id| !accepted.contains_key(*id)).count(),
            duplicated: accepted.values().map(|n| n - 1).sum(),
        }
    }
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "spans sent {}, arrived {}, lost {}, duplicated {}",
            self.sent, self.arrived, self.lost, self.duplicated
        )
    }
}
