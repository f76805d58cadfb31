"""What ``compare`` shows: a terminal table and a self-contained HTML report with an SVG
timeline of both sides' utterances."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shim.harness.compare.comparison import Comparison, Pair
from shim.harness.compare.sides import SideUtterance
from shim.harness.compare.textdiff import TextDiff
from shim.harness.reports.htmlpage import esc, page

# -- word diffs --------------------------------------------------------------------------------


def _render(
    text_diff: TextDiff, side: str, plain: Callable[[str], str], changed: Callable[[str], str]
) -> str:
    """One side's words, the ones the other side lacks marked with ``changed``."""
    out = []
    for op in text_diff.ops:
        word = op.a if side == "a" else op.b
        if word is None:
            continue
        out.append(plain(word) if op.kind == "equal" else changed(word))
    return " ".join(out)


def rich_words(text_diff: TextDiff, side: str) -> str:
    style = "strike red" if side == "a" else "bold green"
    return _render(text_diff, side, escape, lambda w: f"[{style}]{escape(w)}[/]")


def html_words(text_diff: TextDiff, side: str) -> str:
    tag = "del" if side == "a" else "ins"
    return _render(text_diff, side, esc, lambda w: f"<{tag}>{esc(w)}</{tag}>")


def _seconds(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _span(u: SideUtterance | None) -> str:
    return "–" if u is None else f"{u.start:.2f}–{u.end:.2f}"


def _delta_ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:+.0f}"


def _tts(pair: Pair) -> str:
    a = pair.a.tts_duration if pair.a else None
    b = pair.b.tts_duration if pair.b else None
    return f"{_seconds(a)} / {_seconds(b)}"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "…"


# -- terminal -----------------------------------------------------------------------------------


def terminal_report(console: Console, comparison: Comparison) -> None:
    c = comparison
    basis = "audio time (TimingInfo)" if c.audio_time else "arrival time"
    console.print(f"[bold]A[/] {escape(c.a.source)}\n[bold]B[/] {escape(c.b.source)}")
    table = Table(title=f"utterances aligned by {basis}", title_justify="left", show_lines=True)
    for column in ("#", "A s / B s", "recognition", "translation", "WER", "Δstart ms", "TTS s A/B"):
        table.add_column(column, no_wrap=column in ("#", "A s / B s", "WER", "Δstart ms"))
    for index, pair in enumerate(c.pairs):
        table.add_row(
            str(index),
            f"{_span(pair.a)}\n{_span(pair.b)}",
            f"A: {rich_words(pair.recognition, 'a')}\nB: {rich_words(pair.recognition, 'b')}",
            f"A: {rich_words(pair.translation, 'a')}\nB: {rich_words(pair.translation, 'b')}",
            f"{pair.recognition.wer:.0%}\n{pair.translation.wer:.0%}",
            _delta_ms(pair.start_delta),
            _tts(pair),
        )
    console.print(table)
    console.print(
        f"recognition WER [bold]{c.recognition_wer:.1%}[/], translation WER"
        f" [bold]{c.translation_wer:.1%}[/]; {len(c.a.utterances)} utterances in A,"
        f" {len(c.b.utterances)} in B; timing tolerance {c.tolerance * 1000:.0f} ms"
    )
    if c.identical:
        console.print("[green]no differences outside the ignored paths[/]")
        return
    differences = Table(title="differences (not ignored)", title_justify="left")
    for column in ("path", "A", "B"):
        differences.add_column(column)
    for difference in c.differences:
        differences.add_row(
            escape(difference.path), escape(_short(difference.a)), escape(_short(difference.b))
        )
    console.print(differences)
    console.print(f"[bold red]{len(c.differences)} difference(s)[/]")


# -- HTML ------------------------------------------------------------------------------------

_WIDTH, _LEFT, _RIGHT = 1200, 70, 20
_LANE_A, _LANE_B, _LANE_H = 30, 100, 36
_AXIS = 160
_STEPS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800)


def _tick_step(span: float) -> float:
    return next((step for step in _STEPS if span / step <= 12), _STEPS[-1])


def timeline_svg(comparison: Comparison) -> str:
    """Both sides' utterances as bars on one time axis, paired bars joined by a line (red
    when the pair differs)."""
    c = comparison
    everything = [u for side in (c.a, c.b) for u in side.utterances]
    step = _tick_step(max([u.end for u in everything] + [1.0]))
    span = math.ceil(max([u.end for u in everything] + [1.0]) / step) * step
    scale = (_WIDTH - _LEFT - _RIGHT) / span

    def x(seconds: float) -> float:
        return _LEFT + seconds * scale

    parts = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} 190"'
        f' width="100%" role="img" aria-label="timeline of the utterances of A and B">',
        f'<text x="8" y="{_LANE_A + 23}" class="lane side-a">A</text>',
        f'<text x="8" y="{_LANE_B + 23}" class="lane side-b">B</text>',
        f'<line x1="{_LEFT}" y1="{_AXIS}" x2="{_WIDTH - _RIGHT}" y2="{_AXIS}" class="axis"/>',
    ]
    tick = 0.0
    while tick <= span + 1e-9:
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{_AXIS}" x2="{x(tick):.1f}" y2="{_AXIS + 5}"'
            ' class="axis"/>'
            f'<text x="{x(tick):.1f}" y="{_AXIS + 18}" class="tick">{tick:g} s</text>'
        )
        tick += step
    for index, pair in enumerate(c.pairs):
        differs = bool(pair.differences)
        if pair.a and pair.b:
            parts.append(
                f'<line x1="{x((pair.a.start + pair.a.end) / 2):.1f}" y1="{_LANE_A + _LANE_H}"'
                f' x2="{x((pair.b.start + pair.b.end) / 2):.1f}" y2="{_LANE_B}"'
                f' class="pair{" differs" if differs else ""}"/>'
            )
        for side, utterance, top in (("a", pair.a, _LANE_A), ("b", pair.b, _LANE_B)):
            if utterance is None:
                continue
            width = max(x(utterance.end) - x(utterance.start), 3.0)
            parts.append(
                f'<g class="utt utt-{side}{" differs" if differs else ""}">'
                f"<title>{side.upper()} #{index} {_span(utterance)} s: {esc(utterance.recognition)}"
                f"</title>"
                f'<rect x="{x(utterance.start):.1f}" y="{top}" width="{width:.1f}"'
                f' height="{_LANE_H}" rx="4"/>'
                f'<text x="{x(utterance.start) + 5:.1f}" y="{top + 23}">{index}</text></g>'
            )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
#timeline { border: 1px solid var(--line); border-radius: 8px; background: #fbfcfd;
            margin: 8px 0; }
#timeline .lane { font-weight: 700; font-size: 16px; }
#timeline .axis { stroke: #59636e; }
#timeline .tick { font-size: 11px; fill: #59636e; text-anchor: middle; }
#timeline .utt-a rect { fill: #0969da; fill-opacity: .75; }
#timeline .utt-b rect { fill: #8250df; fill-opacity: .75; }
#timeline .utt.differs rect { stroke: #cf222e; stroke-width: 3; }
#timeline .utt text { fill: #fff; font-size: 13px; font-weight: 600; }
#timeline .pair { stroke: #818b98; stroke-dasharray: 4 3; }
#timeline .pair.differs { stroke: #cf222e; }
td.text { width: 19%; } .num { text-align: right; white-space: nowrap; }
"""


def _pair_rows(comparison: Comparison) -> str:
    rows = []
    for index, pair in enumerate(comparison.pairs):
        mark = " style='background:#fff8f8'" if pair.differences else ""
        rows.append(
            f"<tr{mark}><td>{index}</td><td class='num'>{_span(pair.a)}<br>{_span(pair.b)}</td>"
            f"<td class='text side-a'>{html_words(pair.recognition, 'a')}</td>"
            f"<td class='text side-b'>{html_words(pair.recognition, 'b')}</td>"
            f"<td class='text side-a'>{html_words(pair.translation, 'a')}</td>"
            f"<td class='text side-b'>{html_words(pair.translation, 'b')}</td>"
            f"<td class='num'>{pair.recognition.wer:.0%}<br>{pair.translation.wer:.0%}</td>"
            f"<td class='num'>{_delta_ms(pair.start_delta)}<br>{_delta_ms(pair.arrival_delta)}</td>"
            f"<td class='num'>{esc(_tts(pair))}</td></tr>"
        )
    return "".join(rows)


def html_report(comparison: Comparison) -> str:
    c = comparison
    basis = "audio time (TimingInfo offsets)" if c.audio_time else "arrival time of the finals"
    verdict = (
        "<span class='badge pass'>IDENTICAL</span>"
        if c.identical
        else f"<span class='badge fail'>{len(c.differences)} DIFFERENCE(S)</span>"
    )
    cards = "".join(
        f"<div class='card'><b>{value}</b>{esc(label)}</div>"
        for value, label in (
            (f"{c.recognition_wer:.1%}", "recognition WER (B vs A)"),
            (f"{c.translation_wer:.1%}", "translation WER (B vs A)"),
            (f"{len(c.a.utterances)} / {len(c.b.utterances)}", "utterances A / B"),
            (str(sum(1 for p in c.pairs if p.a and p.b)), "aligned pairs"),
            (f"{c.tolerance * 1000:.0f} ms", "timing tolerance"),
        )
    )
    differences = (
        "".join(
            f"<tr><td><code>{esc(d.path)}</code></td><td>{esc(_short(d.a))}</td>"
            f"<td>{esc(_short(d.b))}</td></tr>"
            for d in c.differences
        )
        or "<tr><td colspan='3'>none outside the ignored paths</td></tr>"
    )
    ignores = "".join(f"<li><code>{esc(path)}</code></li>" for path in c.ignores)
    body = (
        f"<h1>Session comparison {verdict}</h1>"
        f"<p><b class='side-a'>A</b> <code>{esc(c.a.source)}</code><br>"
        f"<b class='side-b'>B</b> <code>{esc(c.b.source)}</code></p>"
        f"<div class='cards'>{cards}</div>"
        f"<h2>Timeline</h2><p class='muted'>Utterances on the {esc(basis)}; pairs joined,"
        " red where they differ.</p>" + timeline_svg(c) + "<h2>Utterances</h2>"
        "<p class='muted'><del>struck</del> words are only in A, <ins>marked</ins> words only in"
        " B. WER: recognition, then translation. Δ: start, then arrival of the final (ms, B − A)."
        "</p><table><tr><th>#</th><th>A / B s</th><th class='side-a'>recognition A</th>"
        "<th class='side-b'>recognition B</th><th class='side-a'>translation A</th>"
        "<th class='side-b'>translation B</th><th>WER</th><th>Δ ms</th><th>TTS s A / B</th></tr>"
        + _pair_rows(c)
        + "</table><h2>Field differences</h2><table><tr><th>path</th><th>A</th><th>B</th></tr>"
        + differences
        + "</table><h2>Ignored paths</h2><ul>"
        + ignores
        + "</ul>"
    )
    return page("Session comparison", body, css=_CSS)


def write_html(comparison: Comparison, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_report(comparison), encoding="utf-8")
