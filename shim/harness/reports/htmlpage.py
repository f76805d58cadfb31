"""The frame of every HTML report: one self-contained file that opens offline.

Reports are attached to CI runs and mailed around, so they carry their CSS inline, use
inline SVG for charts, load no script, font or image, and forbid it with a Content Security
Policy, so a report that would need the network shows the gap instead of fetching.
"""

from __future__ import annotations

import html

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

BASE_CSS = """
:root { --pass:#1a7f37; --fail:#cf222e; --warn:#9a6700; --muted:#59636e; --line:#d1d9e0;
        --a:#0969da; --b:#8250df; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, "Segoe UI", "DejaVu Sans", Arial, sans-serif; color:#1f2328;
       margin: 24px auto; max-width: 1320px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.muted { color: var(--muted); }
code, .mono { font-family: "DejaVu Sans Mono", monospace; font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600;
         font-size: 12px; color: #fff; }
.pass { background: var(--pass); } .fail { background: var(--fail); }
.warn { background: var(--warn); }
.skip, .na { background: #818b98; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px;
        min-width: 130px; }
.card b { display: block; font-size: 20px; }
details { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; padding: 4px 10px; }
summary { cursor: pointer; font-weight: 600; }
del { background: #ffebe9; color: #82071e; text-decoration: line-through; }
ins { background: #dafbe1; color: #116329; text-decoration: none; }
.side-a { color: var(--a); } .side-b { color: var(--b); }
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def badge(status: str) -> str:
    css = {"n/a": "na"}.get(status, status)
    return f'<span class="badge {esc(css)}">{esc(status.upper())}</span>'


def page(title: str, body: str, *, css: str = "") -> str:
    """A complete HTML document with ``body`` (already escaped HTML)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{BASE_CSS}{css}</style>\n"
        f"</head><body>\n{body}\n</body></html>\n"
    )
