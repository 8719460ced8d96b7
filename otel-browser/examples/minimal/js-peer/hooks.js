// The side-by-side benchmark's hooks, the same as the Rust pages' (`bench` feature of
// otel-browser/examples/minimal and otel-browser/examples/full): set once the page's tracer is
// installed (bench.js, full-bench.js).
export function installHooks(provider, tracer) {
  window.__tracerReady = performance.now();

  window.__bench = {
    spans(n) {
      const started = performance.now();
      for (let i = 0; i < n; i++) {
        const span = tracer.startSpan('bench', {
          attributes: {
            'bench.index': i,
            'bench.label': 'value',
            'bench.flag': true,
            'http.request.method': 'GET',
            'url.full': 'https://example.com/api/products',
          },
        });
        span.end();
      }
      return performance.now() - started;
    },
    flush() {
      return provider.forceFlush();
    },
  };
}
