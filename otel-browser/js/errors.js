// The window's side of `src/errors.rs`: uncaught errors and unhandled rejections, and the stack
// at a panic. Minified into the Rust file by scripts/snippets.py.

const EVENTS = ["error", "unhandledrejection"];

// Calls `onError([type, message, stack])` for each uncaught error and unhandled rejection. What
// was thrown need not be an Error: a string is its own message, anything else its JSON (or its
// text). Returns what removes both listeners.
export function listen(onError) {
  const handler = (event) => {
    const thrown = event.type == "error" ? event.error : event.reason;
    const isError = thrown instanceof Error;
    onError([
      isError ? thrown.name : "Error",
      isError
        ? thrown.message
        : typeof thrown == "string"
          ? thrown
          : event.message || JSON.stringify(thrown) || String(thrown),
      (isError && thrown.stack) || "",
    ]);
  };
  EVENTS.forEach((type) => addEventListener(type, handler));
  return () => EVENTS.forEach((type) => removeEventListener(type, handler));
}

// Logs a panic to the console with the JavaScript stack at the hook (the wasm frames that
// panicked, below the hook's own), as `console_error_panic_hook` does, and returns that stack.
export function panicked(message) {
  const stack = new Error().stack || "";
  console.error("panicked: " + message + "\n\n" + stack);
  return stack;
}
