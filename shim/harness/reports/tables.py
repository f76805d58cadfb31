"""Terminal tables (rich) for rule results, so validate and conformance look alike."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from shim.harness.checks.rule_base import RuleResult

STATUS_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "n/a": "dim", "skip": "dim"}


def status_text(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'default')}]{status.upper()}[/]"


def rules_table(results: Sequence[RuleResult], title: str | None = None) -> Table:
    """Rule id, result, the frame that broke it and why (n/a rows say why not applicable)."""
    table = Table(title=title, title_justify="left", expand=False, show_lines=False)
    table.add_column("rule", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("frame", no_wrap=True)
    table.add_column("detail")
    for result in results:
        if result.findings:
            first = result.findings[0]
            more = f" (+{len(result.findings) - 1} more)" if len(result.findings) > 1 else ""
            frame, detail = first.where(), first.detail + more
        else:
            frame, detail = "", result.note or result.title
        table.add_row(
            result.rule,
            status_text(result.status),
            escape(frame),
            escape(detail),
        )
    return table
