#!/usr/bin/env bash
# Runs every test of the project, installing what is missing and reusing what is there.
# Prints how long each phase took. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

timings=()
current=""
started=0
# Starts a named phase, closing the one before.
phase() {
  finish
  current=$1
  started=$SECONDS
  printf '\n==> %s\n' "$current"
}
finish() {
  if [ -n "$current" ]; then
    timings+=("$(printf '%-32s %5ss' "$current" "$((SECONDS - started))")")
    current=""
  fi
}
trap 'finish; printf "\nPhase timings:\n"; printf "  %s\n" "${timings[@]}"' EXIT

phase "format"
cargo fmt --all -- --check

phase "lint (host crates)"
cargo clippy --workspace --all-targets --locked -- -D warnings

phase "server tests"
cargo test --workspace --locked

