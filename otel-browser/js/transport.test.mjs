// The transport's retry schedule (`transport.js`), natively in Node on a fake clock: the backoff and
// its jitter bounds, `Retry-After` in seconds and as each HTTP-date form, the quiet after a 429,
// the final 4xx, the keepalive budget and the offline queue's hand-off. `node --test` runs it
// (scripts/test.sh, phase wasm-lint). No mock library: the fakes are the globals the module calls.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

// The clock: `Date.now()` and `setTimeout` read and move it; nothing waits for real.
let now = 0;
let timers = [];
Date.now = () => now;
globalThis.setTimeout = (run, ms) => timers.push({ at: now + ms, run });
globalThis.navigator = { onLine: true };
globalThis.AbortSignal = { timeout: () => undefined };

// Each fetch, and the answers to give: a status (with its `Retry-After`), or none for a network
// failure; a `Promise` that never settles for a request that hangs.
let fetches = [];
let answers = [];
globalThis.fetch = async (url, init) => {
  fetches.push({ at: now, keepalive: init.keepalive, bytes: init.body.length });
  const answer = answers.length ? answers.shift() : { status: 0 };
  if (answer.hang) return new Promise(() => {});
  if (!answer.status) throw new TypeError("Failed to fetch");
  return { status: answer.status, headers: { get: () => answer.retryAfter ?? null } };
};

const source = await readFile(new URL("./transport.js", import.meta.url), "utf8");
let transport;
let instance = 0;

// A fresh module (its quiet, keepalive budget and offline queue unset) on a reset clock.
async function reset(at = 0) {
  transport = await import(
    "data:text/javascript," + encodeURIComponent(`${source}\n// ${instance++}`)
  );
  now = at;
  timers = [];
  fetches = [];
  answers = [];
  Math.random = () => 0.5;
}

// Runs `post` to its end: the microtasks, then the next timer, in turn.
async function settle(promise) {
  let result;
  let done = false;
  promise.then((r) => ((result = r), (done = true)));
  for (;;) {
    for (let i = 0; i < 50; i++) await null;
    if (done) return result;
    timers.sort((a, b) => a.at - b.at);
    const next = timers.shift();
    assert.ok(next, "post waits for nothing, yet has not ended");
    now = next.at;
    next.run();
  }
}

const body = new Uint8Array(100);
const post = (maxAttempts = 10, keepalive = false, spans = 1) =>
  transport.post("/v1/traces", body, keepalive, 5000, maxAttempts, spans);
const gaps = () => fetches.slice(1).map((f, i) => f.at - fetches[i].at);

test("network failures: 10 attempts, 1 s apart then ×1.5 up to 5 s, each −20 % to +20 %", async () => {
  for (const [random, factor] of [
    [0, 0.8],
    [0.5, 1],
    [0.999999, 1.2],
  ]) {
    await reset();
    Math.random = () => random;
    const outcome = await settle(post());
    assert.equal(outcome, 2 + 4 * 10, "out of attempts, 10 failed");
    const backoff = [1000, 1500, 2250, 3375, 5000, 5000, 5000, 5000, 5000];
    gaps().forEach((gap, i) => assert.ok(Math.abs(gap - backoff[i] * factor) < 1, `${gap} ${i}`));
  }
});

test("the attempts stop at 60 s, whatever is left of them", async () => {
  await reset();
  Math.random = () => 0.999999;
  const outcome = await settle(post(100));
  assert.ok(fetches.at(-1).at <= 60000, "none after 60 s");
  assert.equal(outcome % 4, 2);
  assert.equal(fetches.length, 13, "0, 1.2, 3, 5.7, 9.75 s, then every 6 s");
});

test("429, 502, 503, 504 are retried; any other 4xx or 5xx is final", async () => {
  for (const status of [429, 502, 503, 504]) {
    await reset();
    answers = [{ status }, { status: 200 }];
    assert.equal(await settle(post()), 4, `${status}: delivered after one failed attempt`);
  }
  for (const status of [400, 401, 403, 404, 413, 500, 501]) {
    await reset();
    answers = [{ status }];
    assert.equal(await settle(post()), 1 + 4, `${status}: refused at once`);
    assert.equal(fetches.length, 1);
  }
});

test("Retry-After in seconds and as an HTTP-date in each of its three forms", async () => {
  const at = Date.UTC(1994, 10, 6, 8, 49, 30);
  for (const retryAfter of [
    "7",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
  ]) {
    await reset(at);
    answers = [{ status: 503, retryAfter }, { status: 200 }];
    assert.equal(await settle(post()), 4, retryAfter);
    assert.deepEqual(gaps(), [7000], `${retryAfter}: sent again 7 s later, no jitter`);
  }
  // One in the past, or unreadable: the backoff.
  for (const retryAfter of ["Sun, 06 Nov 1994 08:49:00 GMT", "soon", ""]) {
    await reset(at);
    answers = [{ status: 503, retryAfter }, { status: 200 }];
    await settle(post());
    assert.deepEqual(gaps(), [1000], retryAfter);
  }
});

test("after a 429 with Retry-After, no batch is sent to the endpoint until then", async () => {
  await reset(1_000_000);
  answers = [{ status: 429, retryAfter: "5" }, { status: 200 }, { status: 200 }];
  const first = post();
  for (let i = 0; i < 50; i++) await null;
  now += 1000;
  const second = post();
  await Promise.all([settle(first), settle(second)]);
  assert.deepEqual(
    fetches.map((f) => f.at - 1_000_000),
    [0, 5000, 5000],
    "the second batch waited for the first's Retry-After too"
  );
});

test("keepalive: at most 15 requests and 64 KiB in flight; past either, a plain request", async () => {
  await reset();
  answers = Array.from({ length: 20 }, () => ({ hang: true }));
  for (let i = 0; i < 16; i++) post(1, true);
  for (let i = 0; i < 50; i++) await null;
  assert.deepEqual(
    fetches.map((f) => f.keepalive),
    [...Array(15).fill(true), false],
    "the 16th goes without keepalive"
  );
  await reset();
  answers = Array.from({ length: 3 }, () => ({ hang: true }));
  const big = new Uint8Array(30 * 1024);
  for (let i = 0; i < 3; i++) transport.post("/v1/traces", big, true, 5000, 1, 1);
  for (let i = 0; i < 50; i++) await null;
  assert.deepEqual(
    fetches.map((f) => f.keepalive),
    [true, true, false],
    "the third 30 KiB body is over 64 KiB"
  );
});

test("with the offline queue: stored when out of attempts, and not even tried while offline", async () => {
  const stored = [];
  const store = async (bytes, spans) => (stored.push([bytes.length, spans]), true);
  await reset();
  assert.equal(transport.spillTo(store, () => {}), transport.post);
  assert.equal(await settle(post(2, false, 3)), 3 + 4 * 2, "stored after 2 failed attempts");
  assert.deepEqual(stored, [[100, 3]]);
  fetches = [];
  navigator.onLine = false;
  assert.equal(await settle(post(10, false, 4)), 3, "stored, not tried");
  assert.equal(fetches.length, 0);
  navigator.onLine = true;
  // A batch sent from the store (its spans 0) is never stored again.
  fetches = [];
  assert.equal(await settle(post(1, false, 0)), 2 + 4);
  assert.equal(stored.length, 2);
});
