// Loads the page's module as trunk's loader does, but compiles before instantiating and marks
// both ends for the page-load trace (otel-browser/src/page_load/, which says why).
// `otel-browser-glue` is the page's wasm-bindgen glue: otel-browser/bundle.py (trunk's post_build
// hook) bundles it, with its snippets, into this file, so the page loads one script. Only
// `initSync` is imported (the module is compiled here already): the bundle leaves out the glue's
// own loading code, 490 B on the full page.
import { initSync } from 'otel-browser-glue';

const { wasm } = document.querySelector('meta[name="otel-browser:module"]').dataset;
const response = await fetch(wasm);
performance.mark('wasm.compile');
// compileStreaming takes only application/wasm; wasm-bindgen falls back to the bytes likewise.
const module = await (response.headers.get('content-type') === 'application/wasm'
  ? WebAssembly.compileStreaming(response)
  : response.arrayBuffer().then((bytes) => WebAssembly.compile(bytes)));
performance.mark('wasm.compiled');
// Instantiates it and runs its start function (`#[wasm_bindgen(start)]`).
const exports = initSync({ module });
// As trunk's loader does.
dispatchEvent(new CustomEvent('TrunkApplicationStarted', { detail: { wasm: exports } }));
