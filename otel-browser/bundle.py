#!/usr/bin/env python3
"""trunk's post_build hook for a page on otel-browser (its Trunk.toml's `[[hooks]]`): bundles the
page's module loader (otel-browser/loader.js), the JavaScript glue wasm-bindgen wrote and the
snippets the glue imports (one per instrumentation) into one file, with esbuild, and drops the
others and their preload links from the page.

Why: each file is one more request before the module can start, and gzip compresses one file
better than several. With the snippets in the glue, the full page went from 10 requests after its
HTML to 3, its tracer ready from 82 to 61 ms (OpenTelemetry JS's: 64 ms), and it shipped 1,098 B
less; the loader in the same file is one request fewer again and 183 B less on the minimal page
(BENCHMARKS.md, "Against OpenTelemetry JS").

It runs in trunk's staging folder (TRUNK_STAGING_DIR), after trunk has written the page. The
loader is the page's one script with a `src`; it imports the glue as `otel-browser-glue`, which
this resolves to the other script in the folder. The bundle keeps the loader's name (trunk's hash)
and the script tag gets its integrity (SRI, sha384). esbuild is $ESBUILD, or `esbuild` on PATH
(scripts/wasm-toolchain.sh puts the pinned one there); a release build (TRUNK_PROFILE=release) is
minified again, a debug build is left readable.
"""
import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def fail(message: str) -> None:
    sys.exit(f"bundle.py: {message}")


def main() -> None:
    stage = os.environ.get("TRUNK_STAGING_DIR")
    if not stage:
        fail("run it as trunk's post_build hook (TRUNK_STAGING_DIR is not set)")
    stage = Path(stage)
    page = stage / "index.html"
    html = page.read_text()
    script = re.search(r"""<script\b[^>]*\bsrc=["']?([^"' >]+)""", html)
    if not script:
        fail(f"{page} has no script with a src (the loader: <script data-trunk src=…/loader.js>)")
    loader = stage / script.group(1).rsplit("/", 1)[-1]
    glues = [p for p in stage.glob("*.js") if p != loader]
    if len(glues) != 1:
        fail(f"expected one glue script beside {loader.name} in {stage}, found {[p.name for p in glues]}")
    glue = glues[0]
    esbuild = os.environ.get("ESBUILD") or shutil.which("esbuild")
    if not esbuild:
        fail("esbuild not found: `npm install esbuild`, or set ESBUILD to its path")
    minify = ["--minify"] if os.environ.get("TRUNK_PROFILE") == "release" else []
    # The glue imports each snippet under several names, which esbuild warns of: errors only.
    subprocess.run(
        [esbuild, loader.name, "--bundle", "--format=esm", *minify, "--log-level=error",
         f"--alias:otel-browser-glue=./{glue.name}", "--allow-overwrite", f"--outfile={loader.name}"],
        check=True,
        cwd=stage,
    )
    glue.unlink()
    shutil.rmtree(stage / "snippets", ignore_errors=True)
    # The glue's and the snippets' preload links go (the bundle is the script itself); the script
    # tag gets the bundle's hash.
    html = re.sub(r"<link\b[^>]*\bmodulepreload\b[^>]*>", "", html)
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(loader.read_bytes()).digest()).decode()

    def rehash(tag: re.Match) -> str:
        return re.sub(r"sha384-[A-Za-z0-9+/=]+", integrity, tag.group(0))

    html = re.sub(r"<script\b[^>]*\bsrc=[^>]*>", rehash, html, count=1)
    page.write_text(html)


if __name__ == "__main__":
    main()
