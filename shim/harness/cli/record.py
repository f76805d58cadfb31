"""``record``: a ``client`` session written to a session recording as it happens."""

from __future__ import annotations

import argparse
import asyncio

from shim.harness.cli import common
from shim.harness.cli.client import run_client
from shim.harness.recordings.recorder import Recorder
from shim.harness.recordings.recording import RecordingWriter


def record(args: argparse.Namespace) -> int:
    console = common.console()
    made: list[Recorder] = []

    def make_recorder(url: str, headers: list[tuple[str, str]], audio: bytes) -> Recorder:
        source = args.file or f"espeak-ng: {args.text or 'demo sentence'}"
        recorder = Recorder(
            RecordingWriter(args.output),
            url=url,
            headers=headers,
            keep_client_audio=not args.no_client_audio,
            keep_server_audio=args.keep_audio,
            context={
                "command": "record",
                "profile": args.profile,
                "speed": args.speed,
                "audio": common.audio_context(audio, str(source)),
            },
        )
        made.append(recorder)
        return recorder

    try:
        code = asyncio.run(run_client(args, console, make_recorder=make_recorder))
    except OSError as exc:  # the recording file cannot be written
        common.errors().print(f"error: {exc}")
        return common.EXIT_LOCAL
    if made:
        frames = len(made[0].frames)
        console.print(f"[dim]recording: {args.output} ({frames} frames)[/]")
    return code
