// otel-browser's full page (otel-browser/examples/full) written with OpenTelemetry JS: the minimal
// page (a click starts a span, a traced fetch runs under it, OTLP/HTTP protobuf to /v1/traces with
// otel-browser's default batch settings) plus zone context, the page-load trace, user interactions,
// web vitals and errors as events of a page-view span, and a session id on every span.
import './zone-flags.js';
import { trace } from '@opentelemetry/api';
import { ZoneContextManager } from '@opentelemetry/context-zone';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { DocumentLoadInstrumentation } from '@opentelemetry/instrumentation-document-load';
import { FetchInstrumentation } from '@opentelemetry/instrumentation-fetch';
import { UserInteractionInstrumentation } from '@opentelemetry/instrumentation-user-interaction';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { WebTracerProvider } from '@opentelemetry/sdk-trace-web';
import { onCLS, onFCP, onINP, onLCP, onTTFB } from 'web-vitals';

// The session: a random id in localStorage, shared by the origin's tabs, replaced after 15 minutes
// without a span or 4 hours after it began. Read and touched at most once a second.
const SESSION_KEY = 'otel.session';
const SESSION_IDLE_MS = 15 * 60 * 1000;
const SESSION_MAX_MS = 4 * 60 * 60 * 1000;
let session;

function sessionId(now = Date.now()) {
  if (!session || now - session.last >= 1000) {
    let stored;
    try {
      stored = JSON.parse(localStorage.getItem(SESSION_KEY));
    } catch {}
    session = stored && now - stored.last < SESSION_IDLE_MS && now - stored.start < SESSION_MAX_MS
      ? stored
      : { id: randomHex(16), start: now };
    session.last = now;
    try {
      localStorage.setItem(SESSION_KEY, JSON.stringify(session));
    } catch {}
  }
  return session.id;
}

function randomHex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

const sessionProcessor = {
  onStart(span) {
    span.setAttribute('session.id', sessionId());
  },
  onEnd() {},
  forceFlush() {
    return Promise.resolve();
  },
  shutdown() {
    return Promise.resolve();
  },
};

export const provider = new WebTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'otel-js-full' }),
  spanProcessors: [
    sessionProcessor,
    new BatchSpanProcessor(new OTLPTraceExporter({ url: '/v1/traces' }), {
      maxQueueSize: 2048,
      maxExportBatchSize: 256,
      scheduledDelayMillis: 500,
      exportTimeoutMillis: 5000,
    }),
  ],
});
provider.register({ contextManager: new ZoneContextManager() });
registerInstrumentations({
  instrumentations: [
    // traceparent also on cross-origin calls (the same-origin ones always carry it).
    new FetchInstrumentation({ propagateTraceHeaderCorsUrls: [/.*/] }),
    new DocumentLoadInstrumentation(),
    new UserInteractionInstrumentation(),
  ],
});
export const tracer = trace.getTracer('otel-js-full');

// The page view: open while the page is visible; web vitals and uncaught errors are its events.
// Ended and flushed when the page is hidden (after web-vitals' own window listeners have reported),
// and a new one started when it is shown again.
let pageView;

function startPageView() {
  pageView = tracer.startSpan('pageView', { attributes: { 'url.full': location.href } });
}

startPageView();
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') {
    pageView.end();
    provider.forceFlush().catch(() => {});
  } else {
    startPageView();
  }
});

function vital(metric) {
  pageView.addEvent('browser.web_vital', {
    'browser.web_vital.name': metric.name,
    'browser.web_vital.value': metric.value,
    'browser.web_vital.delta': metric.delta,
    'browser.web_vital.id': metric.id,
    'browser.web_vital.rating': metric.rating,
    'browser.web_vital.navigation_type': metric.navigationType,
  });
}

onLCP(vital);
onCLS(vital);
onINP(vital);
onFCP(vital);
onTTFB(vital);

// Uncaught errors and unhandled rejections: `exception` events (exception.type, .message,
// .stacktrace) on the page view.
window.addEventListener('error', (event) => pageView.recordException(event.error || event.message));
window.addEventListener('unhandledrejection', (event) => pageView.recordException(event.reason));

function show(ok) {
  const status = document.getElementById('status');
  status.textContent = ok ? 'ok' : 'failed';
  status.setAttribute('data-status', ok ? 'ok' : 'error');
}

document.getElementById('go').addEventListener('click', () => {
  tracer.startActiveSpan('click', (click) => {
    // The fetch starts inside the active span, so its CLIENT span is the click's child.
    fetch('/api/products')
      .then((response) => show(response.status < 400), () => show(false))
      .finally(() => click.end());
  });
});
