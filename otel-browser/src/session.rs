//! Sessions, as the semantic conventions' session document defines them (`session.id`,
//! `session.previous_id`, the `session.start` and `session.end` events), with Grafana Faro's
//! lifetime: a session ends after 15 minutes without a span, or 4 hours after it began
//! ([`SessionConfig`]).
//!
//! The session lives in `localStorage`, so every tab of the origin shares it: a span started in
//! any tab keeps it alive, and a tab that finds it expired starts the next one for all. Where
//! storage is unavailable (disabled, private mode quotas) the session lives in the tab's memory.
//!
//! Installed explicitly, once for the page ([`Session::install`]): from then on the SDK sets `session.id` on every
//! recorded span as it starts (the span start hook, the SDK specification's `OnStart`); the span
//! that finds the session expired also carries `session.end` (the old id) and `session.start`
//! (the new id and `session.previous_id`) as events. The [`crate::propagation::BaggagePropagator`]
//! sends `session.id` as baggage, so the server sees the session of every call.
//!
//! ```no_run
//! # fn main() {
//! let session = otel_browser::session::Session::install(Default::default());
//! # }
//! ```

use std::{
    borrow::Cow,
    sync::{Mutex, OnceLock},
    time::{Duration, SystemTime},
};

use opentelemetry::{KeyValue, trace::Event};

use crate::{
    clock,
    span_data::{SpanData, SpanLimits, add_event, set_attribute},
    trace,
};

/// `session.id`: the attribute on every span, the baggage member, the events' attribute.
pub const SESSION_ID: &str = "session.id";
/// `session.previous_id`, on the `session.start` event of a session that follows another.
pub const SESSION_PREVIOUS_ID: &str = "session.previous_id";

/// How long a session lasts.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// A session with no span for this long is over (default 15 minutes, Faro's).
    pub idle_timeout: Duration,
    /// A session is over this long after it began, active or not (default 4 hours, Faro's).
    pub max_duration: Duration,
    /// The `localStorage` key (default `otel-browser.session`).
    pub storage_key: Cow<'static, str>,
    /// The clock the session is timed by (default [`clock::now`]; a test's own, to move time).
    pub clock: fn() -> SystemTime,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(15 * 60),
            max_duration: Duration::from_secs(4 * 60 * 60),
            storage_key: "otel-browser.session".into(),
            clock: clock::now,
        }
    }
}

/// A session as stored: its id, when it began and when a span last kept it alive (milliseconds
/// since the Unix epoch). Stored as `id.began.active`, the times in hex (16 digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) id: String,
    pub(crate) began: u64,
    pub(crate) active: u64,
}

/// What a span's start did to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// The session went on.
    Kept,
    /// A session began: the page's first, or one after a session that expired (`previous`, its
    /// id).
    Began { previous: Option<String> },
}

/// The session a span starting at `now` belongs to, from what was stored: the same one kept
/// alive, or a new one (and the id it follows, if any) when there was none or it expired.
pub(crate) fn advance(
    stored: Option<Stored>,
    now: u64,
    config: &SessionConfig,
    new_id: impl FnOnce() -> String,
) -> (Stored, Change) {
    let (idle, max) = (millis(config.idle_timeout), millis(config.max_duration));
    match stored {
        Some(mut session)
            if now.saturating_sub(session.active) < idle
                && now.saturating_sub(session.began) < max =>
        {
            session.active = session.active.max(now);
            (session, Change::Kept)
        }
        previous => {
            let session = Stored {
                id: new_id(),
                began: now,
                active: now,
            };
            let previous = previous.map(|p| p.id);
            (session, Change::Began { previous })
        }
    }
}

/// Milliseconds, in `u64` arithmetic (`Duration::as_millis` is a `u128`, whose division the page
/// would ship for this alone), capped rather than checked (a checked `u64` multiplication is a
/// 128-bit one on wasm32).
fn millis(duration: Duration) -> u64 {
    duration.as_secs().min(u64::MAX / 2000) * 1000 + u64::from(duration.subsec_millis())
}

/// The page's session, once installed: what the span start hook and [`Session`] handles use.
static SESSION: OnceLock<State> = OnceLock::new();

struct State {
    /// The session as this tab last saw it, and when it last read and wrote storage.
    stored: Mutex<Option<(Stored, u64)>>,
    config: SessionConfig,
}

/// How long a tab goes by its own copy of the session before it reads and writes storage again
/// (as Faro's session manager throttles its writes): a burst of spans costs one storage round
/// trip, not one each. Other tabs see its activity at most this late.
const SYNC_MS: u64 = 1000;

/// The id of the session as the last span start left it, when [`Session::install`] has run.
pub(crate) fn current_id() -> Option<String> {
    let state = SESSION.get()?.stored.lock().ok()?;
    Some(state.as_ref()?.0.id.clone())
}

/// The page's session (a handle: there is one per page).
#[derive(Debug, Clone)]
pub struct Session {
    _page: (),
}

impl Session {
    /// Starts (or joins, from `localStorage`) the session and sets `session.id` on every span
    /// recorded from now on, by any provider of the page. There is one session per page: a
    /// second install changes nothing and gives the first one's session.
    pub fn install(config: SessionConfig) -> Self {
        let state = State {
            stored: Mutex::new(None),
            config,
        };
        if SESSION.set(state).is_ok() {
            trace::set_on_start(Box::new(on_span_start));
        }
        Self::touched();
        Self { _page: () }
    }

    /// The session's id now (starting a new session if it expired).
    pub fn id(&self) -> String {
        Self::touched()
            .map(|(session, _)| session.id)
            .unwrap_or_default()
    }

    fn touched() -> Option<(Stored, Change)> {
        Some(touch(SESSION.get()?))
    }
}

/// Advances the session to the clock's now, and says whether it began now (with the id it
/// follows).
fn touch(State { stored, config }: &State) -> (Stored, Change) {
    let now = clock::unix_millis((config.clock)()) as u64;
    let mut state = stored.lock().unwrap_or_else(|e| e.into_inner());
    // Synced within the second and still alive: this tab's copy is enough.
    if let Some((memory, synced)) = state.as_ref()
        && now.saturating_sub(*synced) < SYNC_MS
        && let (kept, Change::Kept) = advance(Some(memory.clone()), now, config, String::new)
    {
        let synced = *synced;
        *state = Some((kept.clone(), synced));
        return (kept, Change::Kept);
    }
    // Another tab may have begun or kept alive the session since: storage comes first.
    let previous = storage::load(&config.storage_key).or_else(|| state.take().map(|(s, _)| s));
    let (session, began) = advance(previous, now, config, || {
        crate::text::hex(&crate::ids::new_trace_id().to_bytes())
    });
    storage::save(&config.storage_key, &session);
    *state = Some((session.clone(), now));
    (session, began)
}

fn on_span_start(data: &mut SpanData, limits: &SpanLimits) {
    let Some(state) = SESSION.get() else {
        return;
    };
    let (session, change) = touch(state);
    let id = KeyValue::new(SESSION_ID, session.id);
    if let Change::Began { previous } = change {
        let at = (state.config.clock)();
        let mut start = vec![id.clone()];
        if let Some(previous) = previous {
            let end = vec![KeyValue::new(SESSION_ID, previous.clone())];
            add_event(data, limits, Event::new("session.end", at, end, 0));
            start.push(KeyValue::new(SESSION_PREVIOUS_ID, previous));
        }
        add_event(data, limits, Event::new("session.start", at, start, 0));
    }
    set_attribute(data, limits, id);
}

#[cfg(target_arch = "wasm32")]
mod storage {
    use js_sys::Array;
    use wasm_bindgen::prelude::wasm_bindgen;

    // Storage may be missing or refuse (disabled, a private mode's quota): then nothing is
    // stored, and the session lives in the tab's memory. Plain functions in a snippet, not
    // web-sys's `Window` → `Option<Storage>` → `Result<Option<String>>` chain, which read and
    // write the stored form (`id.began.active`, hex) as `[id, began, active]`: `[]` when there
    // is none or it is malformed.
    // Readable in `otel-browser/js/session.js`; the literal is its minification (scripts/snippets.py).
    #[wasm_bindgen(
        inline_js = r#"export function load(e){try{const t=/^([^.]+)\.([0-9a-f]+)\.([0-9a-f]+)(\.|$)/i.exec(localStorage.getItem(e));if(t)return[t[1],parseInt(t[2],16),parseInt(t[3],16)]}catch{}return[]}const a=e=>e.toString(16).padStart(16,"0");export function save(e,t,r,c){try{localStorage.setItem(e,t+"."+a(r)+"."+a(c))}catch{}}"#
    )]
    extern "C" {
        #[wasm_bindgen(js_name = load)]
        fn load_parts(key: &str) -> Array;
        #[wasm_bindgen(js_name = save)]
        fn save_parts(key: &str, id: &str, began: f64, active: f64);
    }

    /// The stored session, if storage works and holds a well-formed one.
    pub(super) fn load(key: &str) -> Option<super::Stored> {
        let parts = load_parts(key);
        Some(super::Stored {
            id: parts.get(0).as_string()?,
            began: parts.get(1).as_f64()? as u64,
            active: parts.get(2).as_f64()? as u64,
        })
    }

    pub(super) fn save(key: &str, session: &super::Stored) {
        save_parts(
            key,
            &session.id,
            session.began as f64,
            session.active as f64,
        );
    }
}

/// Off the browser, storage is a map in memory of the sessions themselves (the crate's native
/// tests run on it; the stored text form is the snippet's alone).
#[cfg(not(target_arch = "wasm32"))]
mod storage {
    use std::{collections::HashMap, sync::Mutex};

    static STORAGE: Mutex<Option<HashMap<String, super::Stored>>> = Mutex::new(None);

    pub(super) fn load(key: &str) -> Option<super::Stored> {
        let storage = STORAGE.lock().ok()?;
        storage.as_ref()?.get(key).cloned()
    }

    pub(super) fn save(key: &str, session: &super::Stored) {
        if let Ok(mut storage) = STORAGE.lock() {
            storage
                .get_or_insert_with(HashMap::new)
                .insert(key.to_owned(), session.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;

    fn next(stored: Option<Stored>, now: u64) -> (Stored, Change) {
        let n = now.to_string();
        advance(stored, now, &SessionConfig::default(), || {
            ["s", &n].concat()
        })
    }

    #[test]
    fn the_first_span_begins_a_session_with_no_previous_id() {
        let (session, began) = next(None, 1_000);
        assert_eq!(session.id, "s1000");
        assert_eq!(began, Change::Began { previous: None });
    }

    #[test]
    fn activity_keeps_a_session_alive_until_15_idle_minutes() {
        let (first, _) = next(None, 0);
        let (kept, began) = next(Some(first.clone()), 14 * MINUTE);
        assert_eq!((kept.id.as_str(), began), ("s0", Change::Kept));
        assert_eq!(kept.active, 14 * MINUTE);
        let (after_idle, began) = next(Some(kept), 29 * MINUTE);
        assert_eq!(after_idle.id, ["s", &(29 * MINUTE).to_string()].concat());
        assert_eq!(
            began,
            Change::Began {
                previous: Some("s0".to_owned())
            }
        );
    }

    #[test]
    fn a_session_ends_after_4_hours_however_active() {
        let mut session = next(None, 0).0;
        for minute in (10..240).step_by(10) {
            let (kept, began) = next(Some(session), minute * MINUTE);
            assert_eq!(began, Change::Kept, "minute {minute}");
            session = kept;
        }
        let (rotated, began) = next(Some(session), 240 * MINUTE);
        assert_eq!(
            began,
            Change::Began {
                previous: Some("s0".to_owned())
            }
        );
        assert_eq!(rotated.began, 240 * MINUTE);
    }
}
