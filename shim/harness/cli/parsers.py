"""The migration commands' argument parsers: ``record``, ``replay``, ``replay-set``,
``validate``, ``conformance``, ``compare``.

Only argument parsing lives here; each command's work is in its own module of
:mod:`shim.harness.cli`, imported when the command runs. Exit codes follow ``client``
(:mod:`shim.harness.cli.common`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from shim.harness.cli import common
from shim.harness.cli.client import add_client_arguments
from shim.harness.session.profiles import PROFILES

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


# Each handler imports its command when it runs, so ``serve`` does not load the reporting code.


def _record(args: argparse.Namespace) -> int:
    from shim.harness.cli.record import record

    return record(args)


def _replay(args: argparse.Namespace) -> int:
    from shim.harness.cli.replay import replay

    return replay(args)


def _replay_set(args: argparse.Namespace) -> int:
    from shim.harness.cli.replay_set import replay_set_command

    return replay_set_command(args)


def _validate(args: argparse.Namespace) -> int:
    from shim.harness.cli.validate import validate

    return validate(args)


def _conformance(args: argparse.Namespace) -> int:
    from shim.harness.cli.conformance import conformance

    return conformance(args)


def _compare(args: argparse.Namespace) -> int:
    from shim.harness.cli.compare import compare_command

    return compare_command(args)


DEFAULT_KEY = f" (default: ${common.KEY_VARIABLE}, else {common.DEMO_KEY!r}, as `client`)"


def _add_credentials(
    parser: argparse.ArgumentParser, *, suffix: str = "", what: str = "", default: str = ""
) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(f"--key{suffix}", help=f"subscription key{what}{default}")
    group.add_argument(f"--token{suffix}", help=f"access token{what}")


def _add_tls(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cafile", help="trust this CA bundle for wss://")
    parser.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")


def _add_timeouts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="handshake and close timeout, s"
    )
    parser.add_argument("--result-timeout", type=float, default=30.0, help="wait for results, s")


def _add_pacing(
    parser: argparse.ArgumentParser, default: float | None = 1.0, default_text: str = ""
) -> None:
    pacing = parser.add_mutually_exclusive_group()
    pacing.add_argument(
        "--speed",
        type=float,
        default=default,
        help=f"divide pauses by N (default {default_text or f'{default:g}'})",
    )
    pacing.add_argument(
        "--as-fast-as-possible",
        dest="speed",
        action="store_const",
        const=0.0,
        help="no pauses between frames",
    )


def _add_record(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "record",
        help="run the client and write a session recording (JSON Lines)",
        description="Run a legacy client session (same options as `client`) and write every"
        " frame in both directions to a session recording. Keys and tokens are redacted.",
    )
    add_client_arguments(parser)
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="RECORDING", help="file to write"
    )
    parser.add_argument(
        "--keep-audio", action="store_true", help="also store the server's TTS bytes (base64)"
    )
    parser.add_argument(
        "--no-client-audio",
        action="store_true",
        help="store only size and SHA-256 of the client's audio (the recording cannot be replayed)",
    )
    parser.set_defaults(run=_record)


def _add_replay(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "replay",
        help="re-send the client side of a recording to an endpoint, frame by frame",
        description="Re-send the client frames of RECORDING exactly (opcode, FIN, bytes) with"
        " the recorded pacing divided by --speed, and print what comes back.",
    )
    parser.add_argument("recording", type=Path, metavar="RECORDING")
    parser.add_argument("--url", required=True, help="endpoint: ws, wss, http or https")
    _add_credentials(parser, default=DEFAULT_KEY)
    _add_pacing(parser)
    parser.add_argument("--record", type=Path, metavar="OUT", help="write a new recording")
    parser.add_argument("--keep-audio", action="store_true", help="with --record: keep TTS bytes")
    _add_tls(parser)
    _add_timeouts(parser)
    parser.set_defaults(run=_replay)


def _add_replay_set(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "replay-set",
        help="replay every recording of a directory (a server's captures) against an endpoint"
        " and report the set",
        description="Replay each DIR/*.jsonl (a `serve --capture-dir` directory, or any"
        " recordings) against --url, compare each replay with its recording (as `compare`"
        " does) and write one report over the set: HTML, and JSON and JUnit on request. Exit 1"
        " when a session breaks a threshold (a negative limit switches that check off).",
    )
    parser.add_argument("directory", type=Path, metavar="DIR")
    parser.add_argument("--url", required=True, help="the candidate: ws, wss, http or https")
    _add_credentials(parser, default=DEFAULT_KEY)
    _add_pacing(parser)
    parser.add_argument("--concurrency", type=int, default=4, help="replays at once (4)")
    parser.add_argument(
        "--html", type=Path, metavar="FILE", help="HTML report (replay-set-report.html)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the JSON report")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML")
    parser.add_argument(
        "--record-dir", type=Path, metavar="DIR", help="keep the replays' recordings"
    )
    parser.add_argument(
        "--max-wer", type=float, default=0.0, metavar="PERCENT",
        help="recognition WER per session, percent (0)",
    )  # fmt: skip
    parser.add_argument(
        "--max-translation-wer", type=float, default=None, metavar="PERCENT",
        help="translation WER per session, percent (not checked)",
    )  # fmt: skip
    parser.add_argument("--max-missing", type=int, default=0, help="finals missing per session (0)")
    parser.add_argument("--max-extra", type=int, default=0, help="extra finals per session (0)")
    parser.add_argument(
        "--max-latency-ms", type=float, default=None,
        help="median of how much later the candidate's finals come (not checked)",
    )  # fmt: skip
    parser.add_argument(
        "--allow-close-changes", action="store_true", help="a different close code is no failure"
    )
    parser.add_argument(
        "--tolerance-ms", type=float, default=250.0, help="timing jitter allowed (250)"
    )
    _add_tls(parser)
    _add_timeouts(parser)
    parser.set_defaults(run=_replay_set)


def _add_validate(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "validate",
        help="check a recording against the contracts and the legacy protocol rules",
        description="Check recordings against contracts/*.schema.json and the rules of"
        " legacy-rules.md (HS, AI, RS, TS, ER …); print a table per recording; exit 1 if a"
        " MUST rule fails (SHOULD rules only warn).",
    )
    parser.add_argument("recordings", type=Path, nargs="+", metavar="RECORDING")
    parser.add_argument(
        "--failures-only", action="store_true", help="show only failing and warning rules"
    )
    parser.set_defaults(run=_validate)


def _add_conformance(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "conformance",
        help="run every client profile and the documented error cases against an endpoint",
        description="Run the six client profiles and the documented error cases (bad"
        " parameters, missing key, text frame, no header, X-RequestId) against a legacy"
        " endpoint; write a terminal summary, JUnit XML, an HTML report and the recordings.",
    )
    parser.add_argument("--url", required=True, help="endpoint: ws, wss, http or https")
    _add_credentials(parser, default=DEFAULT_KEY)
    parser.add_argument(
        "--out", type=Path, default=Path("conformance-report"), metavar="DIR",
        help="where junit.xml, report.html and recordings/ go (conformance-report)",
    )  # fmt: skip
    parser.add_argument("--audio", type=Path, metavar="FILE.wav", help="default: espeak-ng")
    parser.add_argument("--text", help="sentence espeak-ng speaks when no --audio is given")
    parser.add_argument(
        "--from", dest="from_", metavar="LOCALE",
        help="speech language (default: one /languages advertises and the server accepts,"
        " English first)",
    )  # fmt: skip
    parser.add_argument(
        "--to", metavar="LANGUAGE",
        help="text language (default: one /languages advertises and the server accepts)",
    )  # fmt: skip
    parser.add_argument(
        "--case", action="append", default=[], metavar="NAME", help="run only these (repeatable)"
    )
    parser.add_argument(
        "--skip", action="append", default=[], metavar="NAME",
        help="known divergence: report as skipped (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--no-client-audio", action="store_true",
        help="recordings without the client's audio bytes (smaller; cannot be replayed)",
    )  # fmt: skip
    _add_pacing(parser)
    _add_tls(parser)
    _add_timeouts(parser)
    parser.set_defaults(run=_conformance)


def _add_compare(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "compare",
        help="compare two sessions side by side: recordings or live endpoints",
        description="Compare A and B, each a recording or a live endpoint URL. A live side"
        " replays the other side's recording, or (both live) streams --audio with --profile."
        " Utterances are paired on the audio timeline when both sides have TimingInfo, else"
        " by order and text; differences in non-ignored fields fail (exit 1).",
    )
    parser.add_argument("a", metavar="A", help="recording file or ws/wss/http/https URL")
    parser.add_argument("b", metavar="B", help="recording file or ws/wss/http/https URL")
    _add_credentials(parser, what=" for live sides", default=DEFAULT_KEY)
    _add_credentials(parser, suffix="-a", what=" for side A")
    _add_credentials(parser, suffix="-b", what=" for side B")
    parser.add_argument("--audio", type=Path, metavar="FILE.wav", help="both live: the audio")
    parser.add_argument("--text", help="both live, no --audio: sentence for espeak-ng")
    parser.add_argument("--from", dest="from_", default="en-US", metavar="LOCALE")
    parser.add_argument("--to", default="de", metavar="LANGUAGE")
    parser.add_argument(
        "--features", default="partial,texttospeech,timinginfo", help="both live: comma list"
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="whole-file")
    parser.add_argument(
        "--ignore", action="append", default=None, metavar="PATH",
        help="JSONPath-ish field to ignore, e.g. '$.utterances[*].tts.sha256' (repeatable;"
        " replaces the defaults, see --show-defaults)",
    )  # fmt: skip
    parser.add_argument(
        "--also-ignore", action="append", default=[], metavar="PATH",
        help="ignore this path as well as the defaults",
    )  # fmt: skip
    parser.add_argument(
        "--tolerance-ms", type=float, default=250.0,
        help="timing differences up to this are jitter (250)",
    )  # fmt: skip
    parser.add_argument("--html", type=Path, metavar="FILE", help="write the HTML report here")
    parser.add_argument("--record-dir", type=Path, metavar="DIR", help="keep live recordings")
    parser.add_argument("--show-defaults", action="store_true", help="print default ignores")
    _add_pacing(
        parser,
        default=None,
        default_text="1 without TimingInfo, so a replay keeps the recorded pacing; else 0",
    )
    _add_tls(parser)
    _add_timeouts(parser)
    parser.set_defaults(run=_compare)


def add_command_parsers(commands: Subparsers) -> None:
    """Register the migration commands on ``translator-speech-shim``'s subparsers."""
    _add_record(commands)
    _add_replay(commands)
    _add_replay_set(commands)
    _add_validate(commands)
    _add_conformance(commands)
    _add_compare(commands)


def main(argv: list[str] | None = None) -> int:
    """Run the tools on their own: ``python -m shim.harness.cli.parsers COMMAND …``."""
    import sys

    from shim.serving import configure_logging

    parser = argparse.ArgumentParser(prog="translator-speech-shim")
    parser.add_argument("--log-level", default="WARNING")
    add_command_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging(args.log_level)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
