// Read by zone.js when it loads, so imported before it (full.js). By default zone.js rethrows an
// unhandled rejection's bare reason, without the promise, and then cannot construct the
// PromiseRejectionEvent it would dispatch: `unhandledrejection` listeners never run
// (angular/angular#51357, #55590). With wrapping on, they get the event, with the reason.
window.__zone_symbol__DISABLE_WRAPPING_UNCAUGHT_PROMISE_REJECTION = false;
