"""What a conformance run shows: a terminal summary and a self-contained HTML report."""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shim.harness.checks.conformance import CaseResult
from shim.harness.reports.htmlpage import badge, esc, page
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


def _rules_html(result: CaseResult) -> str:
    rows = []
    for check in result.checks:
        finding = check.findings[0] if check.findings else None
        more = f" (+{len(check.findings) - 1} more)" if len(check.findings) > 1 else ""
        rows.append(
            f"<tr><td><code>{esc(check.rule)}</code></td><td>{badge(check.status)}</td>"
            f"<td>{esc(check.title)}</td>"
            f"<td class='mono'>{esc(finding.where()) if finding else ''}</td>"
            f"<td>{esc(finding.detail + more) if finding else esc(check.note)}</td></tr>"
        )
    return (
        "<table><tr><th>rule</th><th>result</th><th>what</th><th>frame</th><th>detail</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def html_report(results: Sequence[CaseResult], endpoint: str, out_dir: Path) -> str:
    n = counts(results)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cards = "".join(
        f"<div class='card'><b>{n[key]}</b>{badge(key)} {label}</div>"
        for key, label in (("pass", "passed"), ("fail", "failed"), ("skip", "skipped"))
    )
    rows = []
    for r in results:
        rows.append(
            f"<tr><td><a href='#case-{esc(r.name)}'>{esc(r.name)}</a></td><td>{esc(r.group)}</td>"
            f"<td>{badge(r.status)}</td><td>{r.duration:.1f}s</td><td>{esc(r.summary())}</td></tr>"
        )
    details = []
    for r in results:
        link = ""
        if r.recording is not None:
            relative = os.path.relpath(r.recording, out_dir)
            link = f"<p class='muted'>recording: <a href='{esc(relative)}'>{esc(relative)}</a></p>"
        details.append(
            f"<details id='case-{esc(r.name)}'{' open' if r.status == 'fail' else ''}>"
            f"<summary>{badge(r.status)} {esc(r.name)} "
            f"<span class='muted'>{esc(r.description)}</span></summary>"
            f"{link}{_rules_html(r) if r.checks else '<p>' + esc(r.note) + '</p>'}</details>"
        )
    body = (
        "<h1>Legacy Translator Speech conformance</h1>"
        f"<p class='muted'>endpoint <code>{esc(endpoint)}</code> · {esc(when)}</p>"
        f"<div class='cards'>{cards}</div>"
        "<h2>Cases</h2><table><tr><th>case</th><th>group</th><th>result</th><th>time</th>"
        "<th>first failure / note</th></tr>" + "".join(rows) + "</table>"
        "<h2>Rules per case</h2>"
        "<p class='muted'>Rule ids from legacy-rules.md; CT = contracts/*.schema.json; PR1 = the"
        " profile's own expectation. SHOULD rules warn, MUST rules fail.</p>" + "".join(details)
    )
    return page(f"Conformance: {endpoint}", body)


def write_html(results: Sequence[CaseResult], endpoint: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_report(results, endpoint, path.parent), encoding="utf-8")
