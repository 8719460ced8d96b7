#!/usr/bin/env bash
# Source this (in a subshell) before any wasm-side command: it makes sure the wasm toolchain and
# tools exist, installing what is missing, and exports the environment they need.
#
# - With rustup's wasm32-unknown-unknown target installed (a normal machine), it uses rustup.
# - Without it (machines where rustup cannot download the target), it falls back to Debian's
#   rustc-web/cargo-web with rust-web-src and -Zbuild-std, in a separate target directory. These
#   settings never go into .cargo/config.toml: rustup users must not get them.
#
# Tools are installed once under $CHECKOUT_TOOLS (default ~/.cache/checkout-trace/tools) and reused.
# The browser for the tests is installed by scripts/test.sh, not here.
#
# It leaves the caller's shell options alone: the installs run in a subshell with `set -euo
# pipefail`, and sourcing returns 1 when they fail. Only the environment below is exported. A
# CHROMEDRIVER the caller set is kept. Source it as a command of its own (`source …; [ $? -eq 0 ]`),
# not in an `if` or after `||`: bash ignores `set -e` in everything run there, the installs too.

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${CHECKOUT_TOOLS:-$HOME/.cache/checkout-trace/tools}
trunk_version=0.22.1
binaryen_version=132.0.0
# esbuild minifies otel-browser's JavaScript snippets (scripts/snippets.py); the version the
# OpenTelemetry JS peer pages' lock file pins (otel-browser/examples/minimal/js-peer).
esbuild_version=0.28.2
source "$repo_root/scripts/apt.sh"

log() { printf '  [wasm-toolchain] %s\n' "$*" >&2; }

# Whether rustup has the wasm32 target (a normal machine) or the Debian fallback is used.
has_rustup_target() { rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; }

# The toolchain's environment: rustup's target, or Debian's cargo first on PATH with build-std.
wasm_toolchain_env() {
  if has_rustup_target; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo_root/target}
  else
    export PATH=/usr/bin:$PATH
    export RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort
    export CARGO_TARGET_DIR=$repo_root/target-wasm
  fi
}

# Installs what is missing: the Debian toolchain (when rustup has no wasm32 target), trunk,
# wasm-bindgen-cli and wasm-opt.
wasm_toolchain_install() (
  set -euo pipefail
  mkdir -p "$tools"

  # npm brings wasm-opt below.
  command -v npm >/dev/null 2>&1 || apt_install npm

  if has_rustup_target; then
    log "using rustup's wasm32-unknown-unknown target"
  else
    log "no rustup wasm32 target: using Debian rustc-web with -Zbuild-std"
    apt_install rustc-web cargo-web rust-web-src lld-22
  fi
  # The tools below build in the same environment as the page.
  wasm_toolchain_env

  # wasm-bindgen-cli must be exactly the wasm-bindgen of Cargo.lock. It is built from its source with
  # one line of its test runner's HTTP server patched: tiny_http 0.12.0 (the newest) hands a new
  # connection to a waiting thread by a count it reads before that thread wakes, so two connections
  # that arrive together (a test page's module, wasm and snippets) can both go to one thread; the
  # second then waits until a kept-alive connection closes, five minutes in Chromium. A test page
  # stuck at "Loading scripts..." until chromedriver's 300 s timeout was that. The patch hands a
  # connection to a waiting thread only while there are more of them than queued connections
  # (scripts/patches/tiny_http-0.12.0-task-pool.patch).
  bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' "$repo_root/Cargo.lock")
  bindgen_build="$bindgen_version with tiny_http's pool patched"

  # A crate's source, from cargo's download cache or from crates.io (checked against SHA-256):
  # crate_source NAME VERSION SHA256 DIR extracts it into DIR/NAME-VERSION.
  crate_source() {
    local file="$4/$1-$2.crate" cached
    cached=$(ls "$HOME"/.cargo/registry/cache/*/"$1-$2.crate" 2>/dev/null | head -n 1 || true)
    if [ -n "$cached" ]; then cp "$cached" "$file"; else
      curl -sSfL -o "$file" "https://static.crates.io/crates/$1/$1-$2.crate"
    fi
    if ! echo "$3  $file" | sha256sum --check --quiet; then
      log "$1 $2: the download does not match its checksum"
      return 1
    fi
    tar -xzf "$file" -C "$4"
  }

  # The tools are build tools, not the product: they are compiled for a short build (measured on
  # 2 cores, BENCHMARKS.md "The first run"). trunk is a debug build without debug info: it waits on
  # cargo and wasm-opt, not on its own code. wasm-bindgen-cli is optimised, at level 1 without LTO
  # (240 CPU-seconds, 124 s alone): a debug build takes half that, but then every browser-test run
  # takes 85 s longer (it reads each test binary four times slower), more than the first run gains.
  # trunk compiles in the background while wasm-bindgen-cli does: trunk's build ends in a few long
  # serial crates, which leave a core free.
  # (Two roots: `cargo install` locks its root while it builds.)
  tool_build=(env CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false
    CARGO_PROFILE_RELEASE_DEBUG=0)
  trunk_pid=""
  # trunk 0.22.1 declares a newer rust-version than the toolchains here; it builds fine with 1.96.
  # Its default features add only the check for a newer trunk, which TRUNK_SKIP_VERSION_CHECK turns
  # off anyway; rustls is the TLS it needs (one of its TLS features must be on).
  if ! "$tools/trunk/bin/trunk" --version 2>/dev/null | grep -q " $trunk_version\$"; then
    log "installing trunk $trunk_version (about 6 minutes, once)"
    PATH=/usr/bin:$PATH "${tool_build[@]}" cargo install trunk --version "$trunk_version" --locked \
      --ignore-rust-version --debug --no-default-features --features rustls --root "$tools/trunk" --quiet &
    trunk_pid=$!
  fi

  if [ "$(cat "$tools/wasm-bindgen.build" 2>/dev/null)" != "$bindgen_build" ]; then
    log "building wasm-bindgen-cli $bindgen_version (about 4 minutes, once)"
    src=$(mktemp -d)
    # The CLI's checksum from the registry's index; tiny_http's from the CLI's own lock file.
    sum=$(curl -sSfL https://index.crates.io/wa/sm/wasm-bindgen-cli \
      | grep "\"vers\": *\"$bindgen_version\"" | grep -o '"cksum": *"[0-9a-f]*"' | grep -o '[0-9a-f]\{64\}')
    crate_source wasm-bindgen-cli "$bindgen_version" "$sum" "$src"
    cli="$src/wasm-bindgen-cli-$bindgen_version"
    sum=$(grep -A 3 '^name = "tiny_http"$' "$cli/Cargo.lock" | grep -o '[0-9a-f]\{64\}')
    crate_source tiny_http 0.12.0 "$sum" "$src"
    patch --quiet -p1 -d "$src/tiny_http-0.12.0" <"$repo_root/scripts/patches/tiny_http-0.12.0-task-pool.patch"
    printf '\n[patch.crates-io]\ntiny_http = { path = "../tiny_http-0.12.0" }\n' >> "$cli/Cargo.toml"
    (
      cd "$cli"
      if ! cargo update --quiet -p tiny_http 2>/dev/null; then
        # The registry mirror can lag behind the CLI's lock file (it has wanted a webpki-roots the
        # mirror did not have yet): step that one crate back.
        log "stepping webpki-roots back to 1.0.10"
        cargo update --quiet -p webpki-roots --precise 1.0.10
        cargo update --quiet -p tiny_http
      fi
      "${tool_build[@]}" cargo install --path . --locked --root "$tools" --quiet
    )
    rm -rf "$src"
    echo "$bindgen_build" > "$tools/wasm-bindgen.build"
  fi

  if [ -n "$trunk_pid" ]; then
    wait "$trunk_pid" || { log "trunk did not install"; exit 1; }
  fi

  # Debian's wasm-opt (108) miscompiles current wasm-bindgen output; binaryen 132 from npm works.
  if ! "$tools/npm/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version ${binaryen_version%%.*}"; then
    log "installing wasm-opt (binaryen $binaryen_version) from npm"
    npm install --silent --no-audit --no-fund --prefix "$tools/npm" "binaryen@$binaryen_version" >/dev/null
  fi
  if [ "$("$tools/npm/node_modules/.bin/esbuild" --version 2>/dev/null)" != "$esbuild_version" ]; then
    log "installing esbuild $esbuild_version from npm"
    npm install --silent --no-audit --no-fund --prefix "$tools/npm" "esbuild@$esbuild_version" >/dev/null
  fi
)

# Called on its own, not in an `if` or after `||`: bash ignores `set -e` inside anything called
# there, and the installs would go on past a failure.
wasm_toolchain_install
[ $? -eq 0 ] || return 1
wasm_toolchain_env
export PATH=$tools/npm/node_modules/.bin:$tools/bin:$tools/trunk/bin:$PATH
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export TRUNK_OFFLINE=true TRUNK_SKIP_VERSION_CHECK=true
