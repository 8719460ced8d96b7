// The minimal page with the side-by-side benchmark's hooks, the same as the Rust page's
// (`bench` feature of otel-browser/examples/minimal).
import { provider, tracer } from './minimal.js';

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
