"""``conformance`` and ``compare``: runs that end in reports (terminal, JUnit, HTML)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.console import Console

from shim.harness import synth, wavfile
from shim.harness.cli_client import EXIT_CONNECT, EXIT_LOCAL, EXIT_OK, EXIT_SESSION
from shim.harness.commands import credential_from, ssl_from
from shim.harness.request import redact_url


def _consoles() -> tuple[Console, Console]:
    return (
        Console(highlight=False, soft_wrap=True),
        Console(stderr=True, highlight=False, soft_wrap=True),
    )


def session_audio(audio: Path | None, text: str | None, locale: str) -> bytes:
    """``audio`` checked to be a readable WAV, or a sentence spoken by espeak-ng."""
    if audio is not None:
        data = audio.read_bytes()
        wavfile.pcm16_mono(data)  # WavError early, not in the middle of a run
        return data
    sentence = text or synth.default_sentence(locale) or synth.SENTENCES["en"]
    return synth.synthesize(sentence, locale)


# -- conformance -------------------------------------------------------------------------------


def conformance(args: argparse.Namespace) -> int:
    from shim.harness import conformance as suite
    from shim.harness.conformance_report import summary_line, terminal_summary, write_html
    from shim.harness.junit import write_junit

    console, errors = _consoles()
    try:
        suite.select(args.case)
        audio = session_audio(args.audio, args.text, args.from_)
        (args.out / "recordings").mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError, synth.SynthesisUnavailable) as exc:
        errors.print(f"error: {exc}")
        return EXIT_LOCAL
    settings = suite.Settings(
        url=args.url,
        credential=credential_from(args.key, args.token),
        audio=audio,
        from_=args.from_,
        to=args.to,
        speed=args.speed,
        ssl=ssl_from(args),
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
        return EXIT_CONNECT
    return EXIT_SESSION if any(r.status == "fail" for r in results) else EXIT_OK


# -- compare ---------------------------------------------------------------------------------------


def compare(args: argparse.Namespace) -> int:
    from shim.harness.compare_run import run_compare

    console, errors = _consoles()
    return asyncio.run(run_compare(args, console, errors))
