// The full page with the side-by-side benchmark's hooks, the same as the Rust page's
// (`bench` feature of otel-browser/examples/full).
import { installHooks } from './hooks.js';
import { provider, tracer } from './full.js';

installHooks(provider, tracer);
