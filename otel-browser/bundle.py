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
loader is the page's script named `loader-<hash>.js`; it imports the glue as `otel-browser-glue`,
which this resolves to the other script in the folder. The bundle is named by its own content
(`loader-<sha256, 16 hex>.js`: trunk's hash was of loader.js alone, and the edge caches every
hashed file for a year, so a new build under the old name would be a stale script that fails its
integrity check), and the script tag gets its name and its integrity (SRI, sha384). esbuild is
$ESBUILD, or `esbuild` on PATH (`source scripts/wasm-toolchain.sh` puts the pinned one there); a
release build (TRUNK_PROFILE=release) is minified again, a debug build is left readable.
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
    # The loader's tag: `<script … src=…/loader-<hash>.js …>`, attributes quoted (debug) or not
    # (release, minified).
    tag = re.compile(r"""<script\b[^>]*\ssrc=["']?([^"' >]*/)?(loader-[0-9a-f]+\.js)["' >][^>]*>""")
    script = tag.search(html)
    if not script:
        fail(f"{page} has no loader script (<script data-trunk src=…/otel-browser/loader.js>)")
    loader = stage / script.group(2)
    glues = [p for p in stage.glob("*.js") if p != loader]
    if len(glues) != 1:
        fail(f"expected one glue script beside {loader.name} in {stage}, found {[p.name for p in glues]}")
    glue = glues[0]
    esbuild = os.environ.get("ESBUILD") or shutil.which("esbuild")
    if not esbuild:
        fail("esbuild not found: `source scripts/wasm-toolchain.sh` puts it on PATH, or set ESBUILD to its path")
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
    bundle = loader.read_bytes()
    named = stage / f"loader-{hashlib.sha256(bundle).hexdigest()[:16]}.js"
    loader.rename(named)
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(bundle).digest()).decode()

    def renamed(found: re.Match) -> str:
        text = found.group(0).replace(loader.name, named.name)
        return re.sub(r"sha384-[A-Za-z0-9+/=]+", integrity, text)

    html = tag.sub(renamed, html, count=1)
    # The glue's and the snippets' preload links go: the bundle is the script itself.
    html = re.sub(r"<link\b[^>]*\bmodulepreload\b[^>]*>", "", html)
    page.write_text(html)


if __name__ == "__main__":
    main()
