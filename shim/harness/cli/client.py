"""``translator-speech-shim client``: a legacy Translator Speech v1.0 client for any endpoint.

Exit status: 0 when the session ended as the profile's client expects, 1 when it did not
(unexpected close code, missing finals or TTS), 2 for local problems (unreadable file, no
espeak-ng), 3 when the server could not be reached or refused the handshake.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from shim.harness.cli.common import (
    DEFAULT_URL,
    EXIT_CONNECT,
    EXIT_LOCAL,
    EXIT_OK,
    EXIT_SESSION,
    KEY_VARIABLE,
    default_credential,
    ssl_from,
)
from shim.harness.cli.display import SessionDisplay
from shim.harness.recordings.recorder import Recorder
from shim.harness.session import synth
from shim.harness.session.client import SessionOutcome, TextResult, TtsMessage, run_session
from shim.harness.session.profiles import PROFILES
from shim.harness.session.request import MASK, build_headers, build_url
from shim.harness.session.wavfile import WavError
from shim.redaction import redact_url


def add_client_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register the ``client`` command; its handler is ``args.run(args)``."""
    parser = subparsers.add_parser(
        "client",
        help="stream a WAV file to a legacy /speech/translate endpoint like a real client",
        description="Stream a WAV file (or a sentence synthesized with espeak-ng) to a legacy"
        " Translator Speech v1.0 endpoint the way a real client does, printing results as"
        " they arrive and saving each final's TTS audio.",
    )
    add_client_arguments(parser)
    parser.set_defaults(run=run_client_command)
    return parser


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``client``, shared by ``record`` (same session, plus a recording)."""
    parser.add_argument("file", nargs="?", metavar="FILE.wav", help="audio; default: synthesize")
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"ws, wss, http or https (default {DEFAULT_URL})"
    )
    parser.add_argument(
        "--from", dest="from_", metavar="LOCALE", default="en-US", help="speech language (en-US)"
    )
    parser.add_argument("--to", metavar="LANGUAGE", default="es", help="text language (es)")
    parser.add_argument("--features", default="partial,texttospeech", help="comma list")
    parser.add_argument("--voice", help="TTS voice id, e.g. es-ES-Laura")
    parser.add_argument("--format", help="audio/wav (default) or audio/mp3")
    parser.add_argument("--profanity-action", help="NoAction, Marked or Deleted")
    parser.add_argument("--profanity-marker", help="Asterisk or Tag")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--key",
        default=os.environ.get(KEY_VARIABLE),
        help="subscription key (env TRANSLATOR_KEY; default 'local-demo', which a server"
        " in open mode accepts)",
    )
    secret.add_argument("--token", help="access token (from /sts/v1.0/issueToken)")
    parser.add_argument(
        "--credential",
        choices=["header", "query"],
        default="header",
        help="where the key/token goes",
    )
    parser.add_argument(
        "--query",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra query parameter (repeatable)",
    )
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra request header (repeatable)",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="realtime",
        help="client behaviour (realtime)",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="divide the pacing by N; 0 = no pauses"
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="write each final's TTS as DIR/<id>.wav|.mp3"
    )
    parser.add_argument("--text", help="sentence to synthesize when no FILE is given")
    parser.add_argument("--cafile", help="trust this CA bundle for wss://")
    parser.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="handshake and close timeout, s"
    )
    parser.add_argument("--result-timeout", type=float, default=30.0, help="wait for results, s")


def run_client_command(args: argparse.Namespace) -> int:
    return asyncio.run(run_client(args))


RecorderFactory = Callable[[str, list[tuple[str, str]], bytes], Recorder]
"""Makes the recorder of a session from its URL, headers and audio (``record``)."""


async def run_client(
    args: argparse.Namespace,
    console: Console | None = None,
    *,
    make_recorder: RecorderFactory | None = None,
) -> int:
    console = console or Console(highlight=False, soft_wrap=True)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        audio = load_audio(args, errors)
        extra_query = _pairs(args.query, "--query")
        extra_headers = _pairs(args.header, "--header")
    except (OSError, ValueError, synth.SynthesisUnavailable) as exc:
        errors.print(f"error: {exc}")
        return EXIT_LOCAL
    credential = default_credential(args.key, args.token)
    url = build_url(
        args.url,
        from_=args.from_,
        to=args.to,
        features=args.features,
        voice=args.voice,
        format=args.format,
        profanity_action=args.profanity_action,
        profanity_marker=args.profanity_marker,
        extra_query=extra_query,
        credential=credential,
        credential_form=args.credential,
    )
    headers = build_headers(
        credential=credential, credential_form=args.credential, extra_headers=extra_headers
    )
    ssl = ssl_from(args)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    recorder = make_recorder(url, headers, audio) if make_recorder is not None else None
    console.print(f"[dim]{args.profile} → {redact_url(url, mask=MASK)}[/]")
    with SessionDisplay(console) as display:

        def on_tts(message: TtsMessage) -> None:
            display.tts(message, _save_tts(args.out, message))

        def on_result(result: TextResult) -> None:
            display.result(result)

        try:
            outcome = await run_session(
                url,
                headers,
                audio,
                args.profile,
                speed=args.speed,
                on_result=on_result,
                on_tts=on_tts,
                on_progress=display.progress,
                observer=recorder,
                on_handshake=recorder.on_handshake if recorder is not None else None,
                ssl=ssl,
                timeout=args.timeout,
                result_timeout=args.result_timeout,
            )
        except WavError as exc:
            errors.print(f"error: {args.file or 'synthesized audio'}: {exc}")
            _abandon(recorder, str(exc))
            return EXIT_LOCAL
        except (OSError, ValueError) as exc:  # bad --speed, unwritable --out …
            errors.print(f"error: {exc}")
            _abandon(recorder, str(exc))
            return EXIT_LOCAL
    if recorder is not None:
        recorder.finish_session(outcome)
    return _report(outcome, display, errors)


def _abandon(recorder: Recorder | None, why: str) -> None:
    if recorder is not None:
        recorder.finish(code=None, error=why)


def _report(outcome: SessionOutcome, display: SessionDisplay, errors: Console) -> int:
    if outcome.refused is not None:
        refused = outcome.refused
        errors.print(
            f"error: handshake refused: HTTP {refused.status} {refused.reason}: {refused.message}"
        )
        return EXIT_CONNECT
    if outcome.close_code is None and outcome.problems:
        errors.print(f"error: {outcome.problems[0]}")
        return EXIT_CONNECT
    display.summary(outcome)
    return EXIT_OK if outcome.ended_as_expected else EXIT_SESSION


def load_audio(args: argparse.Namespace, errors: Console) -> bytes:
    """FILE, or ``--text`` (default: the demo sentence of ``--from``) spoken by espeak-ng."""
    if args.file:
        return Path(args.file).read_bytes()
    text = args.text or synth.default_sentence(args.from_)
    if text is None:
        errors.print(f"note: no demo sentence in {args.from_}; speaking English (use --text)")
        return synth.synthesize(synth.SENTENCES["en"], "en-US")
    return synth.synthesize(text, args.from_)


def _pairs(items: Sequence[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{option} takes NAME=VALUE, got {item!r}")
        pairs.append((name, value))
    return pairs


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _save_tts(folder: Path | None, message: TtsMessage) -> str | None:
    """Write the segment as ``<final id>.wav|.mp3``; a TTS without a final gets ``tts-N``."""
    if folder is None:
        return None
    stem = _UNSAFE.sub("_", message.final_id) if message.final_id else f"tts-{message.at:.3f}"
    path = folder / f"{stem}{message.extension}"
    path.write_bytes(message.data)
    return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the client command on its own: ``python -m shim.harness.cli.client …``."""
    parser = argparse.ArgumentParser(prog="translator-speech-shim")
    add_client_parser(parser.add_subparsers(dest="command", required=True))
    args: Any = parser.parse_args(["client", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
