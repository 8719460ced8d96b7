// The browser's side of `src/web_vitals/`: one PerformanceObserver and the window's listeners,
// handing each entry to Rust as a flat array of numbers (no field reads or string keys on the Rust
// side). Minified into the Rust file by scripts/snippets.py.

// The entry types observed. An entry's kind is its type's place here, from 1: 1 LCP, 2 a layout
// shift, 3 a paint (FCP), 4 an event, 5 the first input. Then 6: the page is hidden, and 7: a
// trusted `keydown` or `click` (`kinds` in `src/web_vitals/browser.rs`). The kinds are written
// as numbers below: a constant for each would ship its declaration too.
const ENTRY_TYPES = ["largest-contentful-paint", "layout-shift", "paint", "event", "first-input"];
const EVENTS = ["pagehide", "visibilitychange", "keydown", "click"];
const perf = performance;
const doc = document;

// The page view: `[responseStart or 0, activationStart, hidden (1 or 0), navigation type, and
// an id per metric]`. The navigation entry as `lib/getNavigationEntry.ts` keeps it
// (`responseStart` above 0 and before now, else none); the type as `lib/initMetric.ts` names
// it; the ids as `lib/generateUniqueID.ts` makes them (`v5-<ms>-<13 digits>`), one per metric
// (five: as many as the entry types).
export function start() {
  let navigation = perf.getEntriesByType("navigation")[0];
  const responseStart = navigation && navigation.responseStart;
  navigation = responseStart > 0 && responseStart < perf.now() && navigation;
  const activationStart = (navigation && navigation.activationStart) || 0;
  const type = navigation
    ? doc.prerendering || activationStart > 0
      ? "prerender"
      : doc.wasDiscarded
        ? "restore"
        : navigation.type.replace(/_/g, "-")
    : "navigate";
  return [
    navigation && responseStart,
    activationStart,
    +(!doc.prerendering && doc.hidden),
    type,
    ...ENTRY_TYPES.map(
      () => "v5-" + Date.now() + "-" + (Math.floor(Math.random() * (9e12 - 1)) + 1e12),
    ),
  ];
}

// Calls `report` with `[kind, startTime, value or duration, interactionId, hadRecentInput]` for
// each entry (paints: only `first-contentful-paint`), `[6, timeStamp,
// performance.interactionCount]` when the page is hidden (`pagehide`, or `visibilitychange` to
// hidden), and `[7]` at a trusted `keydown` or `click`, each after the observer's pending
// records. One observer (`buffered`, events of 40 ms and more: `INP_DURATION_THRESHOLD`), capture
// listeners on the window. Returns what stops it all.
export function watch(report) {
  let observer;
  const onEntry = (entry) => {
    const kind = ENTRY_TYPES.indexOf(entry.entryType) + 1;
    if (kind != 3 || entry.name == "first-contentful-paint") {
      report([
        kind,
        entry.startTime,
        entry.value || entry.duration,
        entry.interactionId,
        +entry.hadRecentInput,
      ]);
    }
  };
  const onEvent = (event) => {
    if (observer) observer.takeRecords().forEach(onEntry);
    const type = event.type;
    // `visibilitychange` is the only one of EVENTS whose name starts with a "v".
    const visibility = type[0] == "v";
    if (type == "pagehide" || (visibility && doc.hidden)) {
      report([6, event.timeStamp, perf.interactionCount]);
    } else if (event.isTrusted && !visibility) {
      report([7]);
    }
  };
  try {
    observer = new PerformanceObserver((list) => list.getEntries().forEach(onEntry));
    ENTRY_TYPES.forEach((type) =>
      observer.observe({ type: type, buffered: true, durationThreshold: 40 }),
    );
  } catch (e) {}
  EVENTS.forEach((type) => addEventListener(type, onEvent, true));
  return () => {
    if (observer) observer.disconnect();
    EVENTS.forEach((type) => removeEventListener(type, onEvent, true));
  };
}
