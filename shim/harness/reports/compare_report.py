"""What ``compare`` shows: a terminal table and a self-contained HTML report with an SVG
timeline of both sides' utterances."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import escape as escape_html
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shim.harness.compare.comparison import Comparison, FieldDifference, Pair
from shim.harness.compare.sides import SideUtterance
from shim.harness.compare.textdiff import TextDiff
from shim.harness.reports.htmlpage import Markup, render

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


def html_words(text_diff: TextDiff, side: str) -> Markup:
    """One side's words as HTML: escaped, the changed ones in ``<del>`` (A) or ``<ins>`` (B)."""
    tag = "del" if side == "a" else "ins"
    changed = Markup(f"<{tag}>{{}}</{tag}>")
    return Markup(_render(text_diff, side, escape_html, changed.format))


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


def _basis(comparison: Comparison) -> str:
    """What the utterances were paired by."""
    if comparison.audio_time:
        return "audio time (TimingInfo)"
    return "order and text (a side has no TimingInfo)"


def _timeline_basis(comparison: Comparison) -> str:
    """Where the timeline places the utterances."""
    if comparison.audio_time:
        return "audio time (TimingInfo offsets)"
    return "arrival time of the finals (after the first audio frame)"


# -- terminal -----------------------------------------------------------------------------------


def terminal_report(console: Console, comparison: Comparison) -> None:
    c = comparison
    basis = _basis(c)
    console.print(f"[bold]A[/] {escape(c.a.source)}\n[bold]B[/] {escape(c.b.source)}")
    table = Table(title=f"utterances paired by {basis}", title_justify="left", show_lines=True)
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

_WIDTH, _LEFT, _RIGHT, _HEIGHT = 1200, 70, 20, 190
_LANE_A, _LANE_B, _LANE_H = 30, 100, 36
_AXIS = 160
_STEPS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800)


def _tick_step(span: float) -> float:
    return next((step for step in _STEPS if span / step <= 12), _STEPS[-1])


@dataclass(frozen=True)
class _Bar:
    side: str
    index: int
    x: str
    width: str
    label_x: str
    top: int
    differs: bool
    span: str
    text: str


@dataclass(frozen=True)
class _Link:
    x_a: str
    x_b: str
    differs: bool


@dataclass(frozen=True)
class Timeline:
    """The geometry of the SVG timeline (``templates/timeline.svg``): both sides' utterances
    as bars on one time axis, paired bars joined by a line (red when the pair differs)."""

    ticks: list[tuple[str, str]]
    links: list[_Link]
    bars: list[_Bar]
    width: int = _WIDTH
    height: int = _HEIGHT
    left: int = _LEFT
    right: int = _RIGHT
    axis: int = _AXIS
    lane_a: int = _LANE_A
    lane_b: int = _LANE_B
    lane_height: int = _LANE_H


def timeline(comparison: Comparison) -> Timeline:
    c = comparison
    ends = [u.end for side in (c.a, c.b) for u in side.utterances] + [1.0]
    step = _tick_step(max(ends))
    span = math.ceil(max(ends) / step) * step
    scale = (_WIDTH - _LEFT - _RIGHT) / span

    def x(seconds: float) -> float:
        return _LEFT + seconds * scale

    ticks = []
    tick = 0.0
    while tick <= span + 1e-9:
        ticks.append((f"{x(tick):.1f}", f"{tick:g}"))
        tick += step
    links, bars = [], []
    for index, pair in enumerate(c.pairs):
        differs = bool(pair.differences)
        if pair.a and pair.b:
            middle_a, middle_b = (pair.a.start + pair.a.end) / 2, (pair.b.start + pair.b.end) / 2
            links.append(_Link(f"{x(middle_a):.1f}", f"{x(middle_b):.1f}", differs))
        for side, utterance, top in (("a", pair.a, _LANE_A), ("b", pair.b, _LANE_B)):
            if utterance is None:
                continue
            left = x(utterance.start)
            width = max(x(utterance.end) - left, 3.0)
            bars.append(
                _Bar(
                    side,
                    index,
                    f"{left:.1f}",
                    f"{width:.1f}",
                    f"{left + 5:.1f}",
                    top,
                    differs,
                    _span(utterance),
                    utterance.recognition,
                )
            )
    return Timeline(ticks, links, bars)


@dataclass(frozen=True)
class _Row:
    pair: Pair
    span_a: str
    span_b: str
    recognition_a: Markup
    recognition_b: Markup
    translation_a: Markup
    translation_b: Markup
    start_delta: str
    arrival_delta: str
    tts: str


def _row(pair: Pair) -> _Row:
    return _Row(
        pair,
        _span(pair.a),
        _span(pair.b),
        html_words(pair.recognition, "a"),
        html_words(pair.recognition, "b"),
        html_words(pair.translation, "a"),
        html_words(pair.translation, "b"),
        _delta_ms(pair.start_delta),
        _delta_ms(pair.arrival_delta),
        _tts(pair),
    )


def html_report(comparison: Comparison) -> str:
    c = comparison
    cards = [
        (f"{c.recognition_wer:.1%}", "recognition WER (B vs A)"),
        (f"{c.translation_wer:.1%}", "translation WER (B vs A)"),
        (f"{len(c.a.utterances)} / {len(c.b.utterances)}", "utterances A / B"),
        (str(sum(1 for p in c.pairs if p.a and p.b)), "aligned pairs"),
        (f"{c.tolerance * 1000:.0f} ms", "timing tolerance"),
    ]
    return render(
        "compare.html",
        c=c,
        basis=_basis(c),
        timeline_basis=_timeline_basis(c),
        cards=cards,
        t=timeline(c),
        rows=[_row(pair) for pair in c.pairs],
        differences=[FieldDifference(d.path, _short(d.a), _short(d.b)) for d in c.differences],
    )


def write_html(comparison: Comparison, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_report(comparison), encoding="utf-8")
