"""``conformance``: every client profile and error case against an endpoint, then reports
(terminal, JUnit XML, HTML) and one recording per case."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from shim.harness.checks import conformance as suite
from shim.harness.cli import common
from shim.harness.reports.conformance_report import summary_line, terminal_summary, write_html
from shim.harness.reports.junit import write_junit
from shim.harness.session import synth
from shim.harness.session.request import redact_url


def conformance(args: argparse.Namespace) -> int:
    console, errors = common.console(), common.errors()
    try:
        suite.select(args.case)
        audio = common.session_audio(args.audio, args.text, args.from_)
        (args.out / "recordings").mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError, synth.SynthesisUnavailable) as exc:
        errors.print(f"error: {exc}")
        return common.EXIT_LOCAL
    settings = suite.Settings(
        url=args.url,
        credential=common.default_credential(args.key, args.token),
        audio=audio,
        from_=args.from_,
        to=args.to,
        speed=args.speed,
        ssl=common.ssl_from(args),
        timeout=args.timeout,
        result_timeout=args.result_timeout,
        keep_client_audio=not args.no_client_audio,
    )
    endpoint = redact_url(args.url)
    out: Path = args.out
    console.print(f"[dim]conformance → {endpoint}; reports in {out}/[/]")

    def progress(result: suite.CaseResult) -> None:
        mark = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "skip": "[dim]–[/]"}[result.status]
        console.print(f"  {mark} {result.name} [dim]{result.duration:.1f}s[/]")

    results = asyncio.run(
        suite.run_conformance(
            settings, out / "recordings", only=args.case, skip=args.skip, on_case=progress
        )
    )
    terminal_summary(console, results, endpoint)
    write_junit(results, out / "junit.xml", suite="legacy-conformance", endpoint=endpoint)
    write_html(results, endpoint, out / "report.html")
    console.print(f"[dim]{out / 'junit.xml'}, {out / 'report.html'}: {summary_line(results)}[/]")
    ran = [r for r in results if r.status != "skip"]
    if ran and not any(r.reached for r in ran):
        return common.EXIT_CONNECT
    return common.EXIT_SESSION if any(r.status == "fail" for r in results) else common.EXIT_OK
