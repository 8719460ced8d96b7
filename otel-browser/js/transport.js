// The exporter's JavaScript (`src/transport.rs`): the export request and the page-lifecycle
// listeners. Minified into the Rust file by scripts/snippets.py.

// POSTs `body` (a view of the module's memory) to `url`. The body is copied out before anything
// else happens: the view is not valid once this returns. Resolves when the collector accepted
// the body; rejects on a network error, an error status or the timeout. An async function, so it
// never throws. `application/x-protobuf` is `otlp_wire::CONTENT_TYPE`.
export async function post(url, body, keepalive, timeoutMs) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-protobuf" },
    body: body.slice(),
    keepalive: keepalive,
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) throw 0;
}

// Calls `onHide` on `pagehide` and when the document becomes hidden; nothing in a worker.
// Returns what `unlisten` takes to remove both listeners.
export function listen(onHide) {
  if (typeof document == "undefined") return () => {};
  const doc = document;
  const onVisibilityChange = (event) => {
    if (doc.hidden) onHide(event);
  };
  addEventListener("pagehide", onHide);
  doc.addEventListener("visibilitychange", onVisibilityChange);
  return () => {
    removeEventListener("pagehide", onHide);
    doc.removeEventListener("visibilitychange", onVisibilityChange);
  };
}

// Removes the listeners `listen` added.
export function unlisten(remove) {
  remove();
}
