#!/usr/bin/env python3
"""trunk's post_build hook for a page on otel-browser (its Trunk.toml's `[[hooks]]`): bundles the
JavaScript glue wasm-bindgen wrote with the snippets it imports (one per instrumentation) into
that one file, with esbuild, and drops the snippets and their preload links from the page.

Why: each snippet is one more request before the module can start, and gzip compresses one file
better than eight. The full page went from 10 requests after its HTML to 3, its tracer ready from
82 to 61 ms (OpenTelemetry JS's: 64 ms), and it ships 876 B less (BENCHMARKS.md, "Against
OpenTelemetry JS").

It runs in trunk's staging folder (TRUNK_STAGING_DIR), after trunk has written the page: the glue
is the file the page's `otel-browser:module` meta names (`data-js`, loader.js reads it); its name
keeps trunk's hash, and its `modulepreload` link gets the bundle's integrity (SRI, sha384).
esbuild is $ESBUILD, or `esbuild` on PATH (scripts/wasm-toolchain.sh puts the pinned one there);
a release build (TRUNK_PROFILE=release) is minified again, a debug build is left readable.
"""
import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def main() -> None:
    stage = os.environ.get("TRUNK_STAGING_DIR")
    if not stage:
        sys.exit("bundle.py: run it as trunk's post_build hook (TRUNK_STAGING_DIR is not set)")
    stage = Path(stage)
    page = stage / "index.html"
    html = page.read_text()
    named = re.search(r"""data-js=["']?([^"' >]+)""", html)
    if not named:
        sys.exit(f"bundle.py: {page} has no otel-browser:module meta with data-js (Trunk.toml's pattern_script)")
    glue = stage / named.group(1).rsplit("/", 1)[-1]
    esbuild = os.environ.get("ESBUILD") or shutil.which("esbuild")
    if not esbuild:
        sys.exit("bundle.py: esbuild not found: `npm install esbuild`, or set ESBUILD to its path")
    minify = ["--minify"] if os.environ.get("TRUNK_PROFILE") == "release" else []
    # The glue imports each snippet under several names, which esbuild warns of: errors only.
    subprocess.run(
        [esbuild, str(glue), "--bundle", "--format=esm", *minify, "--log-level=error",
         "--allow-overwrite", f"--outfile={glue}"],
        check=True,
    )
    shutil.rmtree(stage / "snippets", ignore_errors=True)
    # The snippets' preload links go; the glue's gets the bundle's hash.
    html = re.sub(r"<link\b[^>]*/snippets/[^>]*>", "", html)
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(glue.read_bytes()).digest()).decode()

    def rehash(link: re.Match) -> str:
        tag = link.group(0)
        if glue.name not in tag:
            return tag
        return re.sub(r"sha384-[A-Za-z0-9+/=]+", integrity, tag)

    html = re.sub(r"<link\b[^>]*>", rehash, html)
    page.write_text(html)


if __name__ == "__main__":
    main()
