// otel-browser's minimal page (otel-browser/examples/minimal/src/lib.rs) written with OpenTelemetry
// JS: a click starts a span, a traced fetch runs under it, the spans go out as OTLP/HTTP protobuf
// to /v1/traces with the same batch settings as otel-browser's defaults.
import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { FetchInstrumentation } from '@opentelemetry/instrumentation-fetch';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { WebTracerProvider } from '@opentelemetry/sdk-trace-web';

export const provider = new WebTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'otel-js-minimal' }),
  spanProcessors: [
    new BatchSpanProcessor(new OTLPTraceExporter({ url: '/v1/traces' }), {
      maxQueueSize: 2048,
      maxExportBatchSize: 256,
      scheduledDelayMillis: 500,
      exportTimeoutMillis: 5000,
    }),
  ],
});
provider.register();
registerInstrumentations({ instrumentations: [new FetchInstrumentation()] });
export const tracer = trace.getTracer('otel-js-minimal');

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
