// The minimal page with the side-by-side benchmark's hooks, the same as the Rust page's
// (`bench` feature of otel-browser/examples/minimal).
import { installHooks } from './hooks.js';
import { provider, tracer } from './minimal.js';

installHooks(provider, tracer);
