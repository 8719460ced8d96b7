#!/usr/bin/env python3
"""What tracing costs the server: throughput, latency and CPU per request, traced vs untraced.

Run through scripts/span-cost.sh (it builds the release server and installs wrk and rotel). For
each route and each round, the modes run one after another, their order rotated every round:

  traced     the server's own pipeline (the default) exporting OTLP/HTTP to a live collector
             (rotel, discarding what it receives)
  gzip       the same with OTEL_EXPORTER_OTLP_COMPRESSION=gzip
  stock      the stock pipeline over the same protocol: the SDK's BatchSpanProcessor and
             opentelemetry-otlp's HTTP exporter (EXPORT_PIPELINE=stock), to the same collector
  grpc       the stock pipeline over gRPC (OTEL_EXPORTER_OTLP_PROTOCOL=grpc), to its gRPC receiver
  untraced   OTEL_SDK_DISABLED=true: spans are made but nothing is exported
  down       the server's own pipeline exporting to a port where nothing listens

Each run starts a fresh server pinned to core 0 (taskset), its SQLite file on tmpfs (/dev/shm) and
no payment latency, warms it up for a second, then wrk (and rotel) on core 1 loads it for
--seconds with 16 connections. CPU per request is the server's utime+stime from /proc/PID/stat
over the requests wrk counted. Ratios are taken per round (the modes of one round ran back to
back) and the table gives their medians.

With --profile N it counts instructions instead (callgrind; repeatable where time is not): the
server under valgrind, traced (the server's pipeline), stock and untraced, serves 300 warm-up
requests, its counters are zeroed,
it serves N more on one keep-alive connection and is stopped with SIGTERM. It prints the
instructions per request, what tracing adds to a request and to each of its spans, untraced over
traced (the share of untraced throughput a CPU-bound server keeps), and, by component, the
inclusive cost of the export path's functions.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import http.client
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
MODES = ["traced", "gzip", "stock", "grpc", "untraced", "down"]
# The modes that export to the live collector, each against `untraced` in the ratio table.
EXPORTING = ["traced", "gzip", "stock", "grpc"]
CHECKOUT_BODY = json.dumps(
    {
        "items": [{"product_id": 1, "quantity": 1}],
        "card": {"number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123"},
        "email": "bench@example.com",
    }
)
ROUTES = {
    "GET /api/products": ("/api/products", None),
    "POST /api/checkout": ("/api/checkout", CHECKOUT_BODY),
}
# The spans each route's request exports (the SERVER span and those under it), for the cost a span.
SPANS = {"GET /api/products": 2, "POST /api/checkout": 8}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing answered {url} within {seconds} s")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line; here, after "pid (comm)", 12 and 13.
    return int(fields[11]) + int(fields[12])


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def to_ms(value):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not match:
        sys.exit(f"wrk printed a time this cannot read: {value!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url, body, seconds, script_dir):
    command = ["taskset", "-c", "1", "wrk", "-t1", "-c16", f"-d{seconds}s", "--latency"]
    if body is not None:
        script = os.path.join(script_dir, "post.lua")
        with open(script, "w") as f:
            f.write('wrk.method = "POST"\n')
            f.write('wrk.headers["Content-Type"] = "application/json"\n')
            f.write(f"wrk.body = {json.dumps(body)}\n")
        command += ["-s", script]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    requests, duration = re.search(r"(\d+) requests in (\S+),", out).groups()
    requests, seconds = int(requests), to_ms(duration) / 1000
    # The "Latency Distribution" lines, not the "+/- Stdev" column's percentages.
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)$", out, re.MULTILINE).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)$", out, re.MULTILINE).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        sys.exit(f"wrk saw failures: {out}")
    return requests, seconds, p50, p99


def server_env(mode, collector, port, db_dir):
    """`collector` is (its OTLP/HTTP port, its OTLP/gRPC port)."""
    env = dict(
        os.environ,
        SERVER_ADDR=f"127.0.0.1:{port}",
        DATABASE_URL=f"sqlite://{db_dir}/bench.db",
        PAYMENT_LATENCY_MS="0",
        SEED_STOCK="1000000000",
        RUST_LOG="warn",
        OTEL_SERVICE_NAME="checkout-server",
    )
    for name in ("OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_COMPRESSION",
                 "EXPORT_PIPELINE"):
        env.pop(name, None)
    http, grpc = collector
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{http}"
    if mode == "untraced":
        env["OTEL_SDK_DISABLED"] = "true"
    elif mode == "down":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
    elif mode == "gzip":
        env["OTEL_EXPORTER_OTLP_COMPRESSION"] = "gzip"
    elif mode == "stock":
        env["EXPORT_PIPELINE"] = "stock"
    elif mode == "grpc":
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc"
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{grpc}"
    return env


def run(binary, mode, collector, route, seconds, work):
    port = free_port()
    db_dir = tempfile.mkdtemp(prefix="span-cost-", dir="/dev/shm")
    server = subprocess.Popen(
        ["taskset", "-c", "0", binary],
        env=server_env(mode, collector, port, db_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/healthz")
        path, body = route
        wrk(base + path, body, 1, work)  # warm-up
        before = cpu_ticks(server.pid)
        requests, elapsed, p50, p99 = wrk(base + path, body, seconds, work)
        cpu_us = (cpu_ticks(server.pid) - before) / CLK_TCK * 1e6 / requests
        rss_mib = peak_rss_kib(server.pid) / 1024
        return {"rps": requests / elapsed, "p50": p50, "p99": p99, "cpu_us": cpu_us, "rss": rss_mib}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
        shutil.rmtree(db_dir, ignore_errors=True)


def drive(port, route, count):
    """`count` requests of `route`, one after another on one keep-alive connection."""
    path, body = route
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"} if body else {}
    for _ in range(count):
        connection.request("POST" if body else "GET", path, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        if answer.status not in (200, 201):
            sys.exit(f"{path} answered {answer.status}")
    connection.close()


# What the profile reports, by the functions' inclusive costs: (label, callgrind function pattern).
COMPONENTS = [
    ("the processor's on_end, in all (request thread)", r"BatchProcessor as .*SpanProcessor>::on_end$"),
    ("· encoding the span", r"^otlp_wire::encode_span$"),
    ("· adding its bytes to the batch", r"^otlp_wire::EncodedBatch<S>::push(_owned)?$"),
    ("the export thread, in all", r"^otlp_batch_exporter::batch::export_thread::export_thread$"),
    ("· the request around the spans (one copy)", r"^otlp_wire::EncodedBatch<S>::to_request$"),
    ("· the HTTP send", r"HttpTransport as .*Transport>::send$"),
    ("the SDK's BatchSpanProcessor's on_end (stock)", r"BatchSpanProcessor as .*SpanProcessor>::on_end$"),
    ("malloc", r"^malloc$"),
    ("free", r"^free$"),
]


def profile(binary, mode, collector, route, requests, work):
    """Instructions per request under callgrind, and its inclusive cost per request by component."""
    port = free_port()
    db_dir = tempfile.mkdtemp(prefix="span-cost-", dir="/dev/shm")
    out = os.path.join(work, f"callgrind.{mode}")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary],
        env=server_env(mode, collector, port, db_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", seconds=180)
        drive(port, route, 300)
        time.sleep(6)  # the warm-up's spans leave (the schedule delay is 5 s)
        subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True)
        drive(port, route, requests)
    finally:
        server.send_signal(signal.SIGTERM)  # the final flush is counted
        server.wait(timeout=120)
        shutil.rmtree(db_dir, ignore_errors=True)
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
        capture_output=True, text=True, check=True,
    ).stdout
    total = int(re.search(r"^([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", annotated, re.MULTILINE)
                .group(1).replace(",", ""))
    costs = {}
    for line in annotated.splitlines():
        match = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+\S+?:(.*?)(?: \[.*\])?$", line)
        if not match:
            continue
        cost, function = int(match.group(1).replace(",", "")), match.group(2).strip()
        for label, pattern in COMPONENTS:
            if re.search(pattern, function):
                costs[label] = costs.get(label, 0) + cost
    return total / requests, {label: cost / requests for label, cost in costs.items()}


PROFILED = ["traced", "stock", "untraced"]


def print_profile(name, requests, profiles):
    """`profiles`: (instructions per request, by component) for each mode of PROFILED."""
    print(f"\n{name}: instructions per request over {requests} requests (callgrind)\n")
    print("| component | " + " | ".join(PROFILED) + " |")
    print("|---|" + "---|" * len(PROFILED))
    print("| all | " + " | ".join(f"{total:,.0f}" for total, _ in profiles) + " |")
    untraced = profiles[PROFILED.index("untraced")][0]
    print("| **added by tracing** | " + " | ".join(
        "" if mode == "untraced" else f"**{total - untraced:,.0f}**"
        for mode, (total, _) in zip(PROFILED, profiles)) + " |")
    print(f"| **a span** (added ÷ {SPANS[name]}) | " + " | ".join(
        "" if mode == "untraced" else f"**{(total - untraced) / SPANS[name]:,.0f}**"
        for mode, (total, _) in zip(PROFILED, profiles)) + " |")
    print("| **untraced ÷ mode** | " + " | ".join(
        "" if mode == "untraced" else f"**{untraced / total:.3f}**"
        for mode, (total, _) in zip(PROFILED, profiles)) + " |")
    for label, _ in COMPONENTS:
        print(f"| {label} | " + " | ".join(f"{parts.get(label, 0):,.0f}" for _, parts in profiles) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="target/release/checkout-server")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--route", choices=list(ROUTES), action="append")
    parser.add_argument(
        "--profile", type=int, metavar="REQUESTS",
        help="instead of the A/B runs: count instructions under callgrind over REQUESTS requests, "
        "traced and untraced, after 300 of warm-up",
    )
    args = parser.parse_args()
    rotel = os.environ.get("ROTEL_AGENT") or sys.exit("ROTEL_AGENT: source scripts/rotel.sh first")
    collector = (free_port(), free_port())
    work = tempfile.mkdtemp(prefix="span-cost-")
    pid_file = os.path.join(work, "rotel.pid")
    rotel_process = subprocess.Popen(
        ["taskset", "-c", "1", rotel, "start", "--otlp-http-endpoint", f"127.0.0.1:{collector[0]}",
         "--otlp-grpc-endpoint", f"127.0.0.1:{collector[1]}", "--exporter", "blackhole",
         "--pid-file", pid_file],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                for port in collector:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit("rotel did not start")
        if args.profile:
            for name in args.route or list(ROUTES):
                profiles = [
                    profile(args.binary, mode, collector, ROUTES[name], args.profile, work)
                    for mode in PROFILED
                ]
                print_profile(name, args.profile, profiles)
            return
        rows = []
        for name in args.route or list(ROUTES):
            results = {mode: [] for mode in MODES}
            for round_ in range(args.rounds):
                order = MODES[round_ % len(MODES):] + MODES[: round_ % len(MODES)]
                for mode in order:
                    results[mode].append(run(args.binary, mode, collector, ROUTES[name], args.seconds, work))
                r = {m: results[m][-1] for m in MODES}
                print(
                    f"{name} round {round_ + 1}: "
                    + ", ".join(f"{m} {r[m]['rps']:.0f} req/s {r[m]['cpu_us']:.1f} µs" for m in MODES),
                    file=sys.stderr,
                )
            rows.append((name, results))
        print_table(rows)
    finally:
        rotel_process.terminate()
        rotel_process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def median(values):
    return statistics.median(values)


def spread(values):
    return f"{min(values):.2f}–{max(values):.2f}"


def print_table(rows):
    print()
    print("| path | mode | req/s | p50 ms | p99 ms | CPU µs/request | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for name, results in rows:
        for mode in MODES:
            runs = results[mode]
            print(
                f"| `{name}` | {mode} | {median([r['rps'] for r in runs]):,.0f} | "
                f"{median([r['p50'] for r in runs]):.2f} | {median([r['p99'] for r in runs]):.2f} | "
                f"{median([r['cpu_us'] for r in runs]):.1f} | {max(r['rss'] for r in runs):.1f} |"
            )
    print()
    print("| path | mode | mode/untraced req/s | CPU µs added per request (mode − untraced) |")
    print("|---|---|---|---|")
    for name, results in rows:
        for mode in EXPORTING + ["down"]:
            paired = list(zip(results[mode], results["untraced"]))
            ratio = [m["rps"] / u["rps"] for m, u in paired]
            added = [m["cpu_us"] - u["cpu_us"] for m, u in paired]
            print(
                f"| `{name}` | {mode} | **{median(ratio):.3f}** ({spread(ratio)}) | "
                f"**{median(added):+.1f}** ({min(added):+.1f} to {max(added):+.1f}) |"
            )


if __name__ == "__main__":
    main()
