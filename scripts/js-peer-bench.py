#!/usr/bin/env python3
"""The side-by-side benchmark's driver: two pairs of pages, otel-browser's and the same page built
with OpenTelemetry JS, in one headless Chromium, each pair alternating, in one run: the minimal
pages, and the full pages (fetch, page load, web vitals, errors, sessions, user interactions)
(scripts/js-peer-bench.sh builds them and calls this).

It serves the builds under DIR (rust/, js/, rust-full/ and js-full/: the pages as shipped;
rust-bench/, js-bench/, rust-full-bench/ and js-full-bench/: the same with the benchmark's hooks),
answers GET /api/products with [] and records the bytes POSTed to /v1/traces, and drives Chromium
through chromedriver (the W3C WebDriver protocol, with Chrome's DevTools commands for the cache and
the main thread's task time). Per round and page, with the HTTP cache off (every load downloads
and compiles again), after what the page traced while it loaded has been flushed and counted out:

  ready        ms from navigation start until the tracer can start a span (window.__tracerReady)
  create+end   ms of main thread to create and end N spans of 5 attributes (performance.now())
  main thread  ms of main-thread task time for those N spans from creation until all N had
               arrived: creating, ending, encoding, handing to fetch, reading the answers
               (DevTools Performance.getMetrics TaskDuration)
  bytes/span   request bytes POSTed to /v1/traces for them, divided by N (both OTLP protobuf)

Prints the sizes (gzip -9) and the medians as a markdown table: the minimal pair's rows, then the
full pair's.
Usage: js-peer-bench.py DIR [--rounds R] [--spans N]
"""
import argparse
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

EXPORTED = {"bytes": 0, "spans": 0}
LOCK = threading.Lock()


def fields(message):
    """The (number, value) fields of a protobuf message; length-delimited values as bytes."""
    i, out = 0, []
    while i < len(message):
        key, i = varint(message, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = varint(message, i)
        elif wire_type == 1:
            value, i = message[i:i + 8], i + 8
        elif wire_type == 5:
            value, i = message[i:i + 4], i + 4
        elif wire_type == 2:
            length, i = varint(message, i)
            value, i = message[i:i + length], i + length
        else:
            raise ValueError(f"wire type {wire_type}")
        out.append((number, value))
    return out


def varint(data, i):
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def span_count(request):
    """Spans in an ExportTraceServiceRequest: resource_spans (1) > scope_spans (2) > spans (2)."""
    return sum(1 for n, resource_spans in fields(request) if n == 1
               for m, scope_spans in fields(resource_spans) if m == 2
               for k, _ in fields(scope_spans) if k == 2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".js": "text/javascript"}

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/api/products"):
            self.answer(200, b"[]", "application/json")
        else:
            super().do_GET()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/v1/traces":
            spans = span_count(body)
            with LOCK:
                EXPORTED["bytes"] += len(body)
                EXPORTED["spans"] += spans
            self.answer(200, b"", "application/x-protobuf")
        else:
            self.answer(404, b"", "text/plain")

    def answer(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class WebDriver:
    """The few WebDriver commands this needs, over plain HTTP."""

    def __init__(self, port, chromium):
        self.base = f"http://127.0.0.1:{port}"
        self.profile = tempfile.mkdtemp(prefix="js-peer-bench-")
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-extensions", f"--user-data-dir={self.profile}"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": args}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())["value"]

    def session_call(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def cdp(self, cmd, params=None):
        return self.session_call("POST", "/goog/cdp/execute", {"cmd": cmd, "params": params or {}})

    def go(self, url):
        self.session_call("POST", "/url", {"url": url})

    def script(self, source, *args):
        return self.session_call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def script_async(self, source, *args):
        return self.session_call("POST", "/execute/async", {"script": source, "args": list(args)})

    def task_ms(self):
        metrics = self.cdp("Performance.getMetrics")["metrics"]
        return 1000 * next(m["value"] for m in metrics if m["name"] == "TaskDuration")

    def close(self):
        try:
            self.session_call("DELETE", "")
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def gzipped(files):
    """Bytes after `gzip -9`, each file on its own, as scripts/page-size.sh counts them."""
    return sum(len(subprocess.run(["gzip", "-9c", f], check=True, capture_output=True).stdout)
               for f in files)


def shipped(directory):
    """The script and wasm files a page downloads (not its HTML): for a Rust page the module and its
    one script (the module loader, the glue and the snippets, bundled by otel-browser/bundle.py)."""
    root = pathlib.Path(directory)
    return sorted(str(p) for p in root.rglob("*") if p.suffix in (".js", ".wasm"))


# The pairs: (Rust side, JS side), each a build directory name.
PAIRS = (("rust", "js"), ("rust-full", "js-full"))

# The pages' hooks, the same on every page (`window.__bench`: js-peer/hooks.js, and the Rust pages'
# `bench` feature).
SPANS = "return window.__bench.spans(arguments[0]);"
FLUSH = ("const done = arguments[arguments.length - 1];"
         "window.__bench.flush().then(() => done(true), (e) => done(String(e)));")


def measure(driver, origin, side, spans):
    driver.go(f"{origin}/{side}-bench/index.html")
    ready = None
    for _ in range(200):
        ready = driver.script("return window.__tracerReady === undefined ? null : window.__tracerReady;")
        if ready is not None and driver.script("return !!window.__bench;"):
            break
        time.sleep(0.02)
    if ready is None:
        raise SystemExit(f"{side}: the page never said its tracer was ready")
    # Let the load's own work (the click listener, timers) settle before measuring, and send what
    # it traced (the full pages' page-load spans) so that it is not counted as the benchmark's.
    driver.script_async("const done = arguments[0]; setTimeout(() => done(true), 200);")
    flushed = driver.script_async(FLUSH)
    if flushed is not True:
        raise SystemExit(f"{side}: flush after load failed: {flushed}")
    time.sleep(0.1)
    with LOCK:
        EXPORTED["bytes"] = EXPORTED["spans"] = 0
    before = driver.task_ms()
    create = driver.script(SPANS, spans)
    flushed = driver.script_async(FLUSH)
    if flushed is not True:
        raise SystemExit(f"{side}: flush failed: {flushed}")
    # Exports started before the flush (a full batch goes at once) may still be under way, or
    # retried: wait until every span has arrived (idle time is not task time).
    for _ in range(200):
        with LOCK:
            if EXPORTED["spans"] >= spans:
                break
        time.sleep(0.05)
    else:
        raise SystemExit(f"{side}: {EXPORTED['spans']} of {spans} spans arrived")
    main_thread = driver.task_ms() - before
    with LOCK:
        sent = EXPORTED["bytes"]
    return {"ready": ready, "create": create, "main": main_thread, "bytes": sent / spans}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--spans", type=int, default=1000)
    parser.add_argument("--throttle", type=float, default=4,
                        help="then the same rounds at this CPU slowdown (DevTools' "
                             "Emulation.setCPUThrottlingRate; 4 is a mid-range phone); 1 skips them")
    args = parser.parse_args()
    root = pathlib.Path(args.dir)

    os.chdir(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"

    port = free_port()
    chromedriver = subprocess.Popen(
        [os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"), f"--port={port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rates = [1] + ([args.throttle] if args.throttle != 1 else [])
    results = {rate: {side: [] for pair in PAIRS for side in pair} for rate in rates}
    driver = None
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        driver = WebDriver(port, os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium"))
        driver.cdp("Network.enable")
        driver.cdp("Network.setCacheDisabled", {"cacheDisabled": True})
        driver.cdp("Performance.enable")
        for rate in rates:
            driver.cdp("Emulation.setCPUThrottlingRate", {"rate": rate})
            for round_ in range(args.rounds):
                for pair in PAIRS:
                    for side in pair if round_ % 2 == 0 else pair[::-1]:
                        results[rate][side].append(measure(driver, origin, side, args.spans))
                print(f"  CPU ×{rate:g}: round {round_ + 1}/{args.rounds}", file=sys.stderr)
    finally:
        if driver:
            driver.close()
        chromedriver.terminate()
        server.shutdown()

    sizes = {side: gzipped(shipped(root / side)) for side in results[1]}
    for rate in rates:
        print_table(results[rate], sizes, args, rate)


def quartiles(values):
    """The median and the interquartile range: (q1, median, q3)."""
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def print_table(results, sizes, args, rate):
    spread = {side: {k: quartiles([r[k] for r in results[side]]) for k in results[side][0]}
              for side in results}
    rows = []
    for rust, js in PAIRS:
        page = "" if rust == "rust" else "full page: "
        rows.append((f"{page}shipped, gzip -9 (B)", (sizes[rust],) * 3, (sizes[js],) * 3, "{:,.0f}"))
        for key, label, fmt in (
            ("ready", "navigation start → tracer ready (ms)", "{:.1f}"),
            ("create", f"create + end {args.spans} spans, 5 attributes (ms)", "{:.2f}"),
            ("main", f"main thread for {args.spans} spans, created to exported (ms)", "{:.2f}"),
            ("bytes", "bytes on the wire per span (OTLP protobuf)", "{:.1f}"),
        ):
            rows.append((page + label, spread[rust][key], spread[js][key], fmt))
    throttled = "" if rate == 1 else f", CPU throttled ×{rate:g} (DevTools)"
    print(f"\n{args.rounds} rounds, alternating, HTTP cache off{throttled}; medians (interquartile range)\n")
    print("| | otel-browser (Rust) | OpenTelemetry JS | Rust / JS |")
    print("|---|---|---|---|")

    def cell(q, fmt):
        low, median, high = q
        return fmt.format(median) if low == high else f"{fmt.format(median)} ({fmt.format(low)}–{fmt.format(high)})"

    for label, rust, js, fmt in rows:
        print(f"| {label} | {cell(rust, fmt)} | {cell(js, fmt)} | {rust[1] / js[1]:.2f} |")

if __name__ == "__main__":
    main()
