#!/usr/bin/env python3
"""A local HTTP receiver for the browser (wasm-bindgen-test) tests.

The tests run in a page served by wasm-bindgen-test-runner on another port, so every answer carries
CORS headers. It records what the page sends and tells the tests:

  POST /v1/traces      an OTLP export: recorded (content type and body, base64), answered 200
  POST /hang/v1/traces a collector that accepts and does not answer for 20 s
  POST /api/checkout   a stand-in for a declined checkout: 402 with the server's JSON error
  GET  /api/products   a stand-in for the server: records the trace headers, answers [] with a
                       `traceresponse` continuing the caller's trace
  GET  /strict/products the same behind a CORS policy that allows no trace headers: a request
                       that sends `traceparent` fails its preflight (what the fetch
                       instrumentation's allow-list must avoid)
  GET  /received       everything recorded so far, as JSON
Prints its port on stdout, then serves until killed.
"""
import base64
import json
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECORD = {"exports": [], "requests": []}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet: the test output is what matters
        pass

    def cors(self):
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        if not self.path.startswith("/strict/"):
            self.send_header("Access-Control-Allow-Headers", "content-type, traceparent, tracestate, baggage")
        self.send_header("Access-Control-Expose-Headers", "traceresponse")

    def answer(self, status, body=b"", content_type="application/json", extra=()):
        self.send_response(status)
        self.cors()
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_OPTIONS(self):
        self.answer(204)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path == "/v1/traces":
            RECORD["exports"].append(
                {"content_type": self.headers.get("Content-Type"), "body": base64.b64encode(body).decode()}
            )
            self.answer(200, b"{}")
        elif self.path == "/hang/v1/traces":
            time.sleep(20)
            self.answer(200, b"{}")
        elif self.path == "/api/checkout":
            error = {"error": {"code": "card_declined", "message": "Your card was declined."}}
            self.answer(402, json.dumps(error).encode())
        else:
            self.answer(404, b"{}")

    def do_GET(self):
        if self.path in ("/api/products", "/strict/products"):
            traceparent = self.headers.get("traceparent") or ""
            RECORD["requests"].append(
                {"path": self.path, "traceparent": traceparent, "baggage": self.headers.get("baggage") or ""}
            )
            parts = traceparent.split("-")
            extra = []
            if len(parts) == 4:
                extra.append(("traceresponse", f"00-{parts[1]}-{secrets.token_hex(8)}-01"))
            self.answer(200, b"[]", extra=extra)
        elif self.path == "/received":
            self.answer(200, json.dumps(RECORD).encode())
        else:
            self.answer(404, b"{}")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)
