#!/usr/bin/env bash
# What tracing costs the server (BENCHMARKS.md, "Span cost"): builds the release server, installs
# wrk and rotel when missing, then runs scripts/span-cost.py, which prints the A/B table.
# Usage: scripts/span-cost.sh [--rounds 5] [--seconds 5] [--route 'GET /api/products']
#        scripts/span-cost.sh --profile 3000 [--route …]   (instructions per request, callgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
# --profile counts instructions with valgrind's callgrind instead of running wrk.
source scripts/apt.sh
if [[ " $* " == *" --profile "* ]]; then apt_install wrk valgrind; else apt_install wrk; fi
source scripts/rotel.sh
cargo build --release --locked -p checkout-server
exec python3 scripts/span-cost.py "$@"
