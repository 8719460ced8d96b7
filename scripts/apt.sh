#!/usr/bin/env bash
# Source this: `apt_install PACKAGE…` installs Debian packages, the one way every script of the
# project does (scripts/test.sh, wasm-toolchain.sh, rotel.sh). Nothing happens when all are there;
# when any is missing, all of them are installed in one apt run (so packages released together,
# such as chromium and its driver, come at matching versions), as root or through sudo. Returns
# non-zero, saying so, when apt fails.
apt_install() {
  local missing=() pkg sudo=""
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  printf '  [apt] installing %s\n' "$*" >&2
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if ! { $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null; }; then
    printf '  [apt] could not install %s\n' "$*" >&2
    return 1
  fi
}
