"""``validate``: recordings judged by the contracts and the legacy protocol rules."""

from __future__ import annotations

import argparse

from shim.harness.checks.rules import check_recording, failed
from shim.harness.cli import common
from shim.harness.recordings.recording import RecordingError, read_lines, read_recording
from shim.harness.reports.tables import rules_table
from shim.harness.session.request import MASK
from shim.redaction import redact_url


def validate(args: argparse.Namespace) -> int:
    console, errors = common.console(), common.errors()
    worst = common.EXIT_OK
    for path in args.recordings:
        try:
            lines = read_lines(path)
            recording = read_recording(path)
        except (OSError, RecordingError) as exc:
            errors.print(f"error: {exc}")
            worst = max(worst, common.EXIT_LOCAL)
            continue
        results = check_recording(recording, lines)
        shown = (
            [r for r in results if r.status in ("fail", "warn")] if args.failures_only else results
        )
        console.print(rules_table(shown, title=f"{path}  {redact_url(recording.url, mask=MASK)}"))
        counts = {
            s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "warn", "n/a")
        }
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        if failed(results):
            console.print(f"[bold red]✗ {path}: {summary}[/]")
            worst = max(worst, common.EXIT_SESSION)
        else:
            console.print(f"[green]✓ {path}: {summary}[/]")
    return worst
