#!/usr/bin/env bash
# Source this: makes sure rotel, a Rust OTLP collector from PyPI (pinned), is installed under
# $CHECKOUT_TOOLS (default ~/.cache/checkout-trace/tools), and exports ROTEL_AGENT, its binary.
# The collector of the server's process tests and of the drills: installed in seconds, it lets them
# run in test.sh's first minutes, before the Go-built collector (scripts/go-tools.sh) exists on a
# fresh machine; the end-to-end tests and scripts/dev.sh run that one, with Jaeger.
rotel_version=0.0.1a15
rotel_venv=${CHECKOUT_TOOLS:-$HOME/.cache/checkout-trace/tools}/rotel-$rotel_version
if [ ! -x "$rotel_venv/bin/python" ] || ! "$rotel_venv/bin/python" -c "import rotel" 2>/dev/null; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
    apt_install python3-venv
  fi
  python3 -m venv "$rotel_venv"
  "$rotel_venv/bin/pip" install --quiet --disable-pip-version-check "rotel==$rotel_version"
fi
ROTEL_AGENT=$("$rotel_venv/bin/python" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
export ROTEL_AGENT
