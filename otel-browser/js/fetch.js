// What `src/fetch.rs` asks of a request: what it is, a header set, the fetch, and the name of a
// failure. Minified into the Rust file by scripts/snippets.py.

// `[method, url, host, port, sameOrigin]`, or `[method, url]` when the URL cannot be parsed.
// The port is the URL's, else the scheme's default.
export function describe(request) {
  let url;
  try {
    url = new URL(request.url);
  } catch (e) {}
  return url
    ? [
        request.method,
        request.url,
        url.hostname,
        +url.port || (url.protocol == "https:" ? 443 : 80),
        url.origin == self.location.origin,
      ]
    : [request.method, request.url];
}

// Sets a header, unless the request's guard refuses it.
export function header(request, name, value) {
  try {
    request.headers.set(name, value);
  } catch (e) {}
}

// The request itself.
export function send(request) {
  return fetch(request);
}

// The `error.type` of what `fetch` rejected with: the error's name (`TypeError`, `AbortError`),
// else `_OTHER`.
export function errorName(error) {
  return error instanceof Error ? error.name : "_OTHER";
}
