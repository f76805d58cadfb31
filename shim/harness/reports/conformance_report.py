"""What a conformance run shows: a terminal summary and a self-contained HTML report."""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shim.harness.checks.conformance import CaseResult
from shim.harness.reports.htmlpage import render
from shim.harness.reports.tables import status_text


def counts(results: Sequence[CaseResult]) -> dict[str, int]:
    return {s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "skip")}


def summary_line(results: Sequence[CaseResult]) -> str:
    n = counts(results)
    return f"{n['pass']} cases passed, {n['fail']} failed, {n['skip']} skipped"


def terminal_summary(console: Console, results: Sequence[CaseResult], endpoint: str) -> None:
    table = Table(title=f"conformance: {endpoint}", title_justify="left")
    for column in ("case", "result", "rules", "time", "first failure / note"):
        table.add_column(column, no_wrap=column in ("case", "result", "time"))
    for result in results:
        applied = [c for c in result.checks if c.applicable]
        passed = sum(1 for c in applied if c.status == "pass")
        table.add_row(
            result.name,
            status_text(result.status),
            f"{passed}/{len(applied)}" if applied else "",
            f"{result.duration:.1f}s",
            escape(result.summary()),
        )
    console.print(table)
    style = "bold red" if counts(results)["fail"] else "green"
    console.print(f"[{style}]{summary_line(results)}[/]")


@dataclass(frozen=True)
class _Case:
    result: CaseResult
    recording: str | None  # relative to the report, so the link works where it is copied


def html_report(
    results: Sequence[CaseResult], endpoint: str, out_dir: Path, *, pair: str | None = None
) -> str:
    cases = [
        _Case(r, os.path.relpath(r.recording, out_dir) if r.recording is not None else None)
        for r in results
    ]
    return render(
        "conformance.html",
        endpoint=endpoint,
        pair=pair,
        when=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        counts=counts(results),
        cases=cases,
    )


def write_html(
    results: Sequence[CaseResult], endpoint: str, path: Path, *, pair: str | None = None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_report(results, endpoint, path.parent, pair=pair), encoding="utf-8")
