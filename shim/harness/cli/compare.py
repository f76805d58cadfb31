"""``compare A B``: get both sides (recordings, or live sessions on the same audio), then
compare and report.

A live side facing a recording replays that recording's client frames, so both sides hear
exactly the same bytes with the same query; two live sides stream the same WAV with the
same profile. Live sessions are recorded (in memory, or into ``--record-dir``) and then
read exactly like recording files, so every comparison has one code path.

Pacing: without TimingInfo the results are paired by order and text, and the server's
behaviour may depend on how fast audio arrives, so a live side keeps the real pacing (the
recorded one, or the profile's) unless ``--speed`` says otherwise; with TimingInfo the
results carry their place in the audio and the live side runs as fast as possible. Live
sides send the credentials ``client`` sends unless given their own.
"""

from __future__ import annotations

import argparse
import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from shim.harness.cli import common
from shim.harness.cli.common import EXIT_CONNECT, EXIT_LOCAL, EXIT_OK, EXIT_SESSION
from shim.harness.compare.comparison import DEFAULT_IGNORES, compare
from shim.harness.compare.jsonpaths import PathError, compile_path
from shim.harness.compare.sides import read_side
from shim.harness.recordings.recorder import Recorder
from shim.harness.recordings.recording import (
    Recording,
    RecordingError,
    RecordingWriter,
    read_recording,
)
from shim.harness.recordings.replay import ReplayError, plan_replay, replay_and_record
from shim.harness.reports.compare_report import terminal_report, write_html
from shim.harness.session import synth
from shim.harness.session.client import SessionOutcome, run_session
from shim.harness.session.request import (
    MASK,
    Credential,
    build_headers,
    build_url,
)
from shim.harness.session.wavfile import WavError
from shim.redaction import redact_url

LIVE_SCHEMES = ("ws", "wss", "http", "https")


class SideError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SideSpec:
    label: str
    text: str
    credential: Credential

    @property
    def live(self) -> bool:
        scheme = urllib.parse.urlsplit(self.text).scheme.lower()
        return scheme in LIVE_SCHEMES and not Path(self.text).is_file()

    @property
    def source(self) -> str:
        return redact_url(self.text, mask=MASK) if self.live else self.text


def _spec(args: argparse.Namespace, label: str) -> SideSpec:
    suffix = label.lower()
    own = common.credential_from(getattr(args, f"key_{suffix}"), getattr(args, f"token_{suffix}"))
    return SideSpec(
        label, getattr(args, suffix), own or common.default_credential(args.key, args.token)
    )


def _replay_speed(args: argparse.Namespace, recording: Recording) -> float:
    """``--speed``, else the recorded pacing unless the recording has TimingInfo."""
    if args.speed is not None:
        return float(args.speed)
    return 0.0 if read_side("", "", recording).audio_time else 1.0


def _stream_speed(args: argparse.Namespace) -> float:
    """``--speed``, else the profile's pacing unless TimingInfo is requested."""
    if args.speed is not None:
        return float(args.speed)
    features = {name.strip().lower() for name in args.features.split(",")}
    return 0.0 if "timinginfo" in features else 1.0


def _pacing(speed: float, natural: str) -> str:
    if speed == 0:
        return "as fast as possible"
    return f"at {natural}" if speed == 1 else f"at {natural}, pauses divided by {speed:g}"


RecordedSession = Callable[[Recorder], Awaitable[tuple[SessionOutcome, Recording]]]


async def _live_side(
    args: argparse.Namespace,
    spec: SideSpec,
    url: str,
    headers: list[tuple[str, str]],
    context: dict[str, object],
    session: RecordedSession,
) -> Recording:
    """Run a live side's ``session`` into a recorder (``--record-dir``: into a file too);
    a side that never reached the server is a SideError."""
    writer = None
    if args.record_dir is not None:
        writer = RecordingWriter(args.record_dir / f"{spec.label}.jsonl")
    recorder = Recorder(writer, url=url, headers=headers, context={"command": "compare", **context})
    outcome, recording = await session(recorder)
    if outcome.refused is not None or (outcome.close_code is None and outcome.problems):
        raise SideError(f"side {spec.label} ({spec.source}): {outcome.problems[0]}", EXIT_CONNECT)
    return recording


async def _replayed(
    args: argparse.Namespace,
    spec: SideSpec,
    other: Recording,
    other_source: str,
    console: Console,
) -> Recording:
    """The live side's session: the other side's client frames, replayed."""
    try:
        plan = plan_replay(other, spec.text, spec.credential)
    except ReplayError as exc:
        raise SideError(f"{other_source}: {exc}", EXIT_LOCAL) from exc
    speed = _replay_speed(args, other)
    pacing = _pacing(speed, "the recorded pacing")
    console.print(f"[dim]side {spec.label}: replaying {other_source} {pacing}[/]")

    async def replay(recorder: Recorder) -> tuple[SessionOutcome, Recording]:
        return await replay_and_record(plan, recorder, speed=speed, **_limits(args))

    context = {"replayed": other_source, "speed": speed}
    return await _live_side(args, spec, plan.url, plan.headers, context, replay)


async def _streamed(
    args: argparse.Namespace, spec: SideSpec, audio: bytes, console: Console
) -> Recording:
    """The live side's session: ``--audio`` streamed with ``--profile``."""
    url = build_url(spec.text, from_=args.from_, to=args.to, features=args.features)
    headers = build_headers(credential=spec.credential)
    speed = _stream_speed(args)
    console.print(
        f"[dim]side {spec.label}: {args.profile} client {_pacing(speed, 'its own pacing')}[/]"
    )

    async def stream(recorder: Recorder) -> tuple[SessionOutcome, Recording]:
        outcome = await run_session(
            url,
            headers,
            audio,
            args.profile,
            speed=speed,
            observer=recorder,
            on_handshake=recorder.on_handshake,
            **_limits(args),
        )
        return outcome, recorder.finish_session(outcome)

    context = {
        "profile": args.profile,
        "speed": speed,
        "audio": common.audio_context(audio, str(args.audio or "espeak-ng")),
    }
    return await _live_side(args, spec, url, headers, context, stream)


def _limits(args: argparse.Namespace) -> dict[str, Any]:
    """What a live session is given of the command line: TLS and its time limits."""
    return {
        "ssl": common.ssl_from(args),
        "timeout": args.timeout,
        "result_timeout": args.result_timeout,
    }


def _read(spec: SideSpec) -> Recording:
    try:
        return read_recording(Path(spec.text))
    except (OSError, RecordingError) as exc:
        raise SideError(f"side {spec.label}: {exc}", EXIT_LOCAL) from exc


async def _sides(
    args: argparse.Namespace, console: Console
) -> tuple[SideSpec, Recording, SideSpec, Recording]:
    a, b = _spec(args, "A"), _spec(args, "B")
    if args.speed is not None and args.speed < 0:
        raise SideError("--speed must be >= 0", EXIT_LOCAL)
    if not a.live and not b.live:
        return a, _read(a), b, _read(b)
    if a.live and b.live:
        try:
            audio = common.session_audio(args.audio, args.text, args.from_)
        except (OSError, WavError, synth.SynthesisUnavailable) as exc:
            raise SideError(str(exc), EXIT_LOCAL) from exc
        streamed_a = await _streamed(args, a, audio, console)
        return a, streamed_a, b, await _streamed(args, b, audio, console)
    if a.live:
        recorded_b = _read(b)
        return a, await _replayed(args, a, recorded_b, b.source, console), b, recorded_b
    recorded_a = _read(a)
    return a, recorded_a, b, await _replayed(args, b, recorded_a, a.source, console)


def _ignores(args: argparse.Namespace) -> list[str]:
    chosen: list[str] = list(DEFAULT_IGNORES if args.ignore is None else args.ignore)
    ignores = chosen + [str(path) for path in args.also_ignore]
    for path in ignores:
        compile_path(path)
    return ignores


async def run_compare(args: argparse.Namespace, console: Console, errors: Console) -> int:
    if args.show_defaults:
        console.print("\n".join(DEFAULT_IGNORES))
        return EXIT_OK
    try:
        ignores = _ignores(args)
        spec_a, recording_a, spec_b, recording_b = await _sides(args, console)
    except PathError as exc:
        errors.print(f"error: --ignore {exc}")
        return EXIT_LOCAL
    except SideError as exc:
        errors.print(f"error: {exc}")
        return exc.code
    comparison = compare(
        read_side("A", spec_a.source, recording_a),
        read_side("B", spec_b.source, recording_b),
        ignores=ignores,
        tolerance_ms=args.tolerance_ms,
    )
    terminal_report(console, comparison)
    html = args.html or Path("compare-report.html")
    try:
        write_html(comparison, html)
    except OSError as exc:
        errors.print(f"error: {exc}")
        return EXIT_LOCAL
    console.print(f"[dim]HTML report: {html}[/]")
    return EXIT_OK if comparison.identical else EXIT_SESSION


def compare_command(args: argparse.Namespace) -> int:
    return asyncio.run(run_compare(args, common.console(), common.errors()))
