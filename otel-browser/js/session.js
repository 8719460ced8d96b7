// The session's record in `localStorage` for `src/session.rs`: `<id>.<began>.<active>`, the times
// in hexadecimal milliseconds. Minified into the Rust file by scripts/snippets.py.

// `[id, began, active]`, or `[]` when there is no readable record (or no storage).
export function load(key) {
  try {
    const match = /^([^.]+)\.([0-9a-f]+)\.([0-9a-f]+)(\.|$)/i.exec(localStorage.getItem(key));
    if (match) return [match[1], parseInt(match[2], 16), parseInt(match[3], 16)];
  } catch (e) {}
  return [];
}

const hex16 = (time) => time.toString(16).padStart(16, "0");

// Stores the record; storage that refuses (private mode, quota) is ignored.
export function save(key, id, began, active) {
  try {
    localStorage.setItem(key, id + "." + hex16(began) + "." + hex16(active));
  } catch (e) {}
}
