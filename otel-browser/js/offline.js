// The offline queue's JavaScript (`src/offline.rs`): batches the exporter could not deliver, kept
// in IndexedDB as the OTLP bodies they are, and sent at the next load of any page of the origin
// that installs it, and when the browser is back `online`. Minified into the Rust file by
// scripts/snippets.py.

// Settles with a request's result, or rejects with its error.
const settled = (request) =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

// Opens the store and gives the exporter's transport its `spill` and `drain` (through `spillTo`,
// which returns the transport's `post`); then sends what earlier pages stored. It sends again on
// `online`, and after an export of the page's that worked. `dropped(reason, spans)`
// counts what the bounds evict: reason 4 over `maxBytes` (the oldest first), 5 older than
// `maxAgeMs`, 2 refused by the collector. Without IndexedDB (private mode, blocked, quota) there
// is no offline queue, and the exporter counts its losses as before. Never rejects.
export async function install(url, spillTo, maxBytes, maxAgeMs, dropped) {
  let db;
  try {
    const open = indexedDB.open("otel-browser", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("batches", { autoIncrement: true });
    db = await settled(open);
  } catch {
    return;
  }
  const batches = (mode) => db.transaction("batches", mode).objectStore("batches");

  // Keeps the store within its bounds, in `store`'s transaction: the expired go, then the
  // oldest while the rest is over `maxBytes`. Keys grow with each batch: the oldest first.
  const bound = async (store) => {
    const kept = [];
    let bytes = 0;
    for (let cursor = await settled(store.openCursor()); cursor; cursor = await settled((cursor.continue(), cursor.request))) {
      const { at, body, spans } = cursor.value;
      if (at < Date.now() - maxAgeMs) {
        dropped(5, spans);
        cursor.delete();
      } else {
        kept.push([cursor.primaryKey, body.length, spans]);
        bytes += body.length;
      }
    }
    for (const [key, size, spans] of kept) {
      if (bytes <= maxBytes) break;
      bytes -= size;
      dropped(4, spans);
      store.delete(key);
    }
  };

  // Stores one batch of `spans` spans; resolves to whether it is stored.
  const spill = async (body, spans) => {
    try {
      const store = batches("readwrite");
      store.add({ at: Date.now(), body, spans });
      await bound(store);
      await new Promise((resolve, reject) => {
        store.transaction.oncomplete = resolve;
        store.transaction.onerror = store.transaction.onabort = reject;
      });
      return true;
    } catch {
      return false;
    }
  };

  let draining = false;
  const post = spillTo(spill, () => draining || drain());

  // Sends the stored batches, oldest first, one at a time, each deleted only after the collector
  // answered it 2xx (or refused it: a 4xx is final). Under a Web Lock: two tabs never send the
  // same batch. Stops at the first batch that still fails (the next `online` or load goes on).
  const drain = async () => {
    draining = true;
    try {
      await navigator.locks.request("otel-browser-offline", async () => {
        for (;;) {
          const store = batches("readwrite");
          await bound(store);
          const cursor = await settled(store.openCursor());
          if (!cursor) return;
          const key = cursor.primaryKey;
          const { body, spans } = cursor.value;
          // One attempt, never stored again (its `spans` is 0): it is in the store already.
          const outcome = (await post(url, body, false, 5e3, 1, 0)) % 4;
          if (outcome > 1) return;
          if (outcome) dropped(2, spans);
          await settled(batches("readwrite").delete(key));
        }
      });
    } catch {}
    draining = false;
  };

  addEventListener("online", drain);
  await drain();
}
