#!/usr/bin/env python3
"""Minifies otel-browser's JavaScript into the Rust files that ship it.

The readable sources are otel-browser/js/*.js. wasm-bindgen takes a snippet's JavaScript only as a
string literal (`inline_js = r#"…"#`), and writes it out as it is: a page built without the
bundling hook (otel-browser/bundle.py, which minifies release builds) would ship it unminified, and
the crate's docs and tests see the literal; it is therefore esbuild's minification of the source,
written here.
Usage: scripts/snippets.py           rewrites each literal from its source
       scripts/snippets.py --check   fails, naming them, when a literal is not its source's output
esbuild comes from the wasm toolchain (scripts/wasm-toolchain.sh puts it on PATH), or $ESBUILD.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDK = ROOT / "otel-browser"
# Each readable source and the Rust file whose one `inline_js` literal ships it.
SNIPPETS = {
    "js/transport.js": "src/transport.rs",
    "js/offline.js": "src/offline.rs",
    "js/errors.js": "src/errors.rs",
    "js/fetch.js": "src/fetch.rs",
    "js/session.js": "src/session.rs",
    "js/interaction.js": "src/interaction.rs",
    "js/web_vitals.js": "src/web_vitals/browser.rs",
}
LITERAL = re.compile(r'inline_js = r#"(.*?)"#', re.S)


def minified(source: Path) -> str:
    esbuild = os.environ.get("ESBUILD", "esbuild")
    # Transform mode (no --format): exported names stay, everything else is renamed.
    out = subprocess.run(
        [esbuild, str(source), "--minify", "--log-level=warning"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if '"#' in out:
        sys.exit(f"{source}: the minified text holds '\"#', which ends the raw string")
    return out


def main() -> None:
    if sys.argv[1:] not in ([], ["--check"]):
        sys.exit("usage: scripts/snippets.py [--check]")
    check = sys.argv[1:] == ["--check"]
    stale = []
    for source, rust in SNIPPETS.items():
        path = SDK / rust
        text = path.read_text()
        literals = LITERAL.findall(text)
        if len(literals) != 1:
            sys.exit(f"{path}: expected one inline_js literal, found {len(literals)}")
        want = minified(SDK / source)
        if literals[0] == want:
            continue
        stale.append(f"otel-browser/{rust} (from otel-browser/{source})")
        if not check:
            path.write_text(LITERAL.sub(lambda _: f'inline_js = r#"{want}"#', text, count=1))
    if check and stale:
        sys.exit("not the minified source: " + ", ".join(stale) + "; run scripts/snippets.py")
    for name in stale:
        print(f"rewrote {name}")


if __name__ == "__main__":
    main()
