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
from shim.harness.session.languages import PairUnavailable, choose_pair
from shim.harness.session.request import MASK
from shim.redaction import redact_url


def conformance(args: argparse.Namespace) -> int:
    console, errors = common.console(), common.errors()
    credential = common.default_credential(args.key, args.token)
    ssl = common.ssl_from(args)
    try:
        suite.select(args.case)
        if args.audio is not None:
            common.session_audio(args.audio, None, "")  # a bad file fails before the network
        (args.out / "recordings").mkdir(parents=True, exist_ok=True)
        pair = asyncio.run(
            choose_pair(
                args.url,
                credential,
                from_=args.from_,
                to=args.to,
                features=suite.PROFILE_FEATURES,
                ssl=ssl,
                timeout=args.timeout,
            )
        )
        audio = common.session_audio(args.audio, args.text, pair.from_)
    except PairUnavailable as exc:
        errors.print(f"error: cannot choose a language pair: {exc}; pass --from and --to")
        return common.EXIT_LOCAL if exc.reachable else common.EXIT_CONNECT
    except (OSError, ValueError, synth.SynthesisUnavailable) as exc:
        errors.print(f"error: {exc}")
        return common.EXIT_LOCAL
    console.print(f"[dim]language pair: {pair.describe()}[/]")
    settings = suite.Settings(
        url=args.url,
        credential=credential,
        audio=audio,
        from_=pair.from_,
        to=pair.to,
        speed=args.speed,
        ssl=ssl,
        timeout=args.timeout,
        result_timeout=args.result_timeout,
        keep_client_audio=not args.no_client_audio,
    )
    endpoint = redact_url(args.url, mask=MASK)
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
    write_html(results, endpoint, out / "report.html", pair=f"{pair.from_} → {pair.to}")
    console.print(f"[dim]{out / 'junit.xml'}, {out / 'report.html'}: {summary_line(results)}[/]")
    ran = [r for r in results if r.status != "skip"]
    if ran and not any(r.reached for r in ran):
        return common.EXIT_CONNECT
    return common.EXIT_SESSION if any(r.status == "fail" for r in results) else common.EXIT_OK
