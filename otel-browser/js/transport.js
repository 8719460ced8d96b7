// The exporter's JavaScript (`src/transport.rs`): the export request with its retries, the
// page-lifecycle listeners and the clock. Minified into the Rust file by scripts/snippets.py.

// `performance.now`, bound once, for `clock::now` (a span's start and its end): wasm calls the
// browser's function directly. Through a shim that looked `performance` up at each call, creating
// and ending 1,000 spans took 2.0–2.5 ms rather than 1.3 (warm; BENCHMARKS.md, "Against
// OpenTelemetry JS").
export const now = performance.now.bind(performance);

// After a 429 or 503 with `Retry-After`, nothing is sent before this time (ms since the epoch):
// the collector asked for quiet, not for one batch to wait (Grafana Faro's rule).
let quietUntil = 0;
// The retries waiting, each ended at once (to send with `keepalive`) when the page is hidden.
const waits = new Set();
// The `keepalive` requests in flight: browsers cap their bodies at 64 KiB in all (Fetch,
// "keepalive"), and their number: Chromium 156 fails the 257th (measured: 256 bodies of 10 B in
// flight, then "Failed to fetch"; 64 of 1 KiB, 8 of 8 KiB); other browsers allow fewer, so 15 at
// most here, as Sentry keeps. Past either, a request goes without `keepalive`.
let keepaliveBytes = 0;
let keepalives = 0;
// The offline queue (`js/offline.js`), once it is installed: `spill(body, spans)` resolves to
// whether the batch is stored; `drain()` sends what is stored, after an export that worked.
let spill;
let drain;

// Sets the offline queue's store and drain; returns `post`, with which it sends what it stored.
export function spillTo(store, drainStore) {
  spill = store;
  drain = drainStore;
  return post;
}

// Resolves after `ms`, or to `true` when the page is hidden first.
const wait = (ms) =>
  new Promise((resolve) => {
    const done = (hidden) => {
      waits.delete(done);
      resolve(hidden);
    };
    waits.add(done);
    setTimeout(done, ms);
  });

// POSTs `body` (a view of the module's memory, copied at once: the view is not valid once this
// returns) to `url` until it is delivered or dropped. OTLP/HTTP, "Failures": 429, 502, 503, 504,
// a network error and the timeout are retried; any other answer is final. The waits: 1 s, then
// ×1.5 up to 5 s, each ±20 % at random; or until `Retry-After` (RFC 9110, 10.2.3: seconds or an
// HTTP-date, which `Date.parse` reads; asctime's has no zone, and is GMT). At most `maxAttempts`
// attempts, all within 60 s; a `keepalive` one (the page is going away) is the last. With the
// offline queue installed, a batch of `spans` spans (0: one that is in the store already) is
// stored rather than sent while the browser is offline, rather than dropped when its attempts
// run out, and rather than waited for or sent without `keepalive` when the page is hidden.
// Resolves to `outcome + 4 × failed attempts`: outcome 0 delivered, 1 refused, 2 out of attempts
// or time, 3 stored. Never rejects. `application/x-protobuf` is `otlp_wire::CONTENT_TYPE`.
export async function post(url, body, keepalive, timeoutMs, maxAttempts, spans) {
  body = body.slice();
  const deadline = Date.now() + 6e4;
  const store = async () => spill && spans && (await spill(body, spans));
  for (let attempt = 0; ; ) {
    if (!navigator.onLine && (await store())) return 3 + attempt * 4;
    const quiet = quietUntil - Date.now();
    if (quiet > 0 && !keepalive) keepalive = await wait(quiet);
    const held = keepalive && keepalives < 15 && keepaliveBytes + body.length <= 65536;
    if (keepalive && !held && (await store())) return 3 + attempt * 4;
    if (held) {
      keepalives++;
      keepaliveBytes += body.length;
    }
    let status = 0;
    let after;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/x-protobuf" },
        body: body,
        keepalive: held,
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      after = response.headers.get("retry-after");
    } catch {}
    if (held) {
      keepalives--;
      keepaliveBytes -= body.length;
    }
    if (status > 199 && status < 300) {
      // The collector is back: what was stored while it was not goes now.
      if (spans && drain) drain();
      return attempt * 4;
    }
    attempt++;
    if (status && status != 429 && (status < 502 || status > 504)) return 1 + attempt * 4;
    const now = Date.now();
    // Seconds (none, or an empty value, is 0: not later than now), else an HTTP-date.
    let at = after >= 0 ? now + after * 1e3 : Date.parse(/GMT/.test(after) ? after : after + " GMT");
    if (at > now) {
      if ((status == 429 || status == 503) && at > quietUntil) quietUntil = at;
    } else {
      at = now + Math.min(1e3 * 1.5 ** (attempt - 1), 5e3) * (0.8 + 0.4 * Math.random());
    }
    if (keepalive || attempt >= maxAttempts || at > deadline) {
      return ((await store()) ? 3 : 2) + attempt * 4;
    }
    if ((keepalive = await wait(at - now)) && (await store())) return 3 + attempt * 4;
  }
}

// Calls `onHide` on `pagehide` and when the document becomes hidden; nothing in a worker. The
// retries waiting are sent at once, with `keepalive`, before it. Returns what `unlisten` takes to
// remove both listeners.
export function listen(onHide) {
  if (typeof document == "undefined") return () => {};
  const doc = document;
  const hide = (event) => {
    waits.forEach((done) => done(true));
    onHide(event);
  };
  const onVisibilityChange = (event) => {
    if (doc.hidden) hide(event);
  };
  addEventListener("pagehide", hide);
  doc.addEventListener("visibilitychange", onVisibilityChange);
  return () => {
    removeEventListener("pagehide", hide);
    doc.removeEventListener("visibilitychange", onVisibilityChange);
  };
}

// Removes the listeners `listen` added.
export function unlisten(remove) {
  remove();
}
