"""The ``serve`` command's flags, one small builder per group (``--help`` shows the groups).

Each flag's environment variable is in :data:`shim.config.ENVIRONMENT`; the values become
typed settings in :func:`shim.config.settings_from`.
"""

from __future__ import annotations

import argparse

Group = argparse._ArgumentGroup


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1; env SHIM_HOST)")
    parser.add_argument(
        "--port", type=int, help="port (default 5000; 0 picks a free one; env SHIM_PORT)"
    )
    _add_backend(
        parser.add_argument_group("speech backend (default: the embedded local Speech service)")
    )
    _add_clients(parser.add_argument_group("clients"))
    _add_sessions(parser.add_argument_group("sessions"))
    _add_traffic(parser.add_argument_group("real traffic (docs/migration-guide.md)"))
    _add_connections(parser.add_argument_group("connections"))
    tls = parser.add_argument_group("TLS (serve wss:// and https:// directly)")
    tls.add_argument("--tls-cert", help="certificate chain, PEM (env SHIM_TLS_CERT)")
    tls.add_argument("--tls-key", help="private key, PEM (env SHIM_TLS_KEY)")


def _add_backend(group: Group) -> None:
    """Which Speech service sessions run on, and how the SDK is driven."""
    group.add_argument("--speech-key", help="Azure Speech key (env SPEECH_KEY)")
    group.add_argument("--speech-region", help="Azure region, e.g. westeurope (env SPEECH_REGION)")
    group.add_argument(
        "--speech-host", help="ws(s)://host:port of a Speech service (env SPEECH_HOST)"
    )
    group.add_argument("--speech-endpoint", help="full Speech endpoint URL (env SPEECH_ENDPOINT)")
    group.add_argument(
        "--backends",
        metavar="FILE",
        help="a pool of Speech resources with their session limits, in YAML, instead of the"
        " flags above (docs/configuration.md; env SHIM_BACKENDS)",
    )
    group.add_argument(
        "--scenario",
        help="embedded backend: scenario file, or directory of them (env SHIM_SCENARIO)",
    )
    group.add_argument(
        "--engine",
        help="embedded backend: auto (local engines when installed, else scripted; default),"
        " local or scripted (env SHIM_ENGINE)",
    )
    group.add_argument(
        "--sdk-property",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra Speech SDK property for every session (repeatable)",
    )
    group.add_argument(
        "--sdk-events",
        help="how SDK events are read: auto (fast on the pinned SDK, default), fast (only the"
        " fields needed, through the SDK's native library; refuses another SDK version),"
        " fast-unverified (fast on any SDK version: may crash) or public (env SHIM_SDK_EVENTS)",
    )


def _add_clients(group: Group) -> None:
    """Who may connect, and how many sessions each."""
    group.add_argument("--auth", help="open, keys or passthrough (env SHIM_AUTH)")
    group.add_argument(
        "--client-keys",
        metavar="FILE",
        help="keys mode: one key per line"
        " (env SHIM_CLIENT_KEYS_FILE, or the keys themselves in SHIM_CLIENT_KEYS)",
    )
    group.add_argument(
        "--token-secret", help="HS256 secret for issued tokens (env SHIM_TOKEN_SECRET)"
    )
    group.add_argument(
        "--max-sessions-per-key", type=int, help="HTTP 429 beyond this many open sessions per key"
    )


def _add_sessions(group: Group) -> None:
    """A session's limits, recording and language lists."""
    group.add_argument(
        "--idle-timeout", type=float, help="seconds without audio before close 1000 (60)"
    )
    group.add_argument(
        "--silence-timeout",
        type=float,
        help="seconds of audio without speech before close 1000 (120)",
    )
    group.add_argument(
        "--flush-timeout",
        type=float,
        help="after the audio ends: seconds the backend has for its last results (30)",
    )
    group.add_argument(
        "--backend-timeout",
        type=float,
        help="seconds a backend may stay silent while it owes results before close 1011 (10)",
    )
    group.add_argument(
        "--liveness-timeout",
        type=float,
        help="while a session does not read its client (backpressure): seconds within which a"
        " client that is gone is noticed (20)",
    )
    group.add_argument(
        "--drain-timeout", type=float, help="SIGTERM: seconds sessions may finish (30)"
    )
    group.add_argument("--max-session-minutes", type=float, help="session cap, close 1000 (90)")
    group.add_argument(
        "--record-backend",
        metavar="DIR",
        help="write each session as a local Speech service scenario (env SHIM_RECORD_BACKEND)",
    )
    group.add_argument("--languages", help="what /languages serves by default: legacy or current")
    group.add_argument(
        "--languages-from",
        help="embedded backend: /languages lists what its engines serve (engine, default)"
        " or the whole catalog (catalog) (env SHIM_LANGUAGES_FROM)",
    )


def _add_traffic(group: Group) -> None:
    """Captures and shadow sessions of live traffic."""
    group.add_argument(
        "--capture-dir",
        metavar="DIR",
        help="write a sampled share of live sessions as session recordings (off by default;"
        " env SHIM_CAPTURE_DIR)",
    )
    group.add_argument(
        "--capture-rate", help="share of sessions captured, 0 to 1 (0.1; env SHIM_CAPTURE_RATE)"
    )
    group.add_argument(
        "--capture-max-bytes",
        help="total size of the capture directory, e.g. 500M or 2G; the oldest captures go"
        " first (1G; env SHIM_CAPTURE_MAX_BYTES)",
    )
    group.add_argument(
        "--capture-retention-hours",
        help="captures older than this are deleted (72; env SHIM_CAPTURE_RETENTION_HOURS)",
    )
    group.add_argument(
        "--shadow-backend",
        metavar="URL",
        help="run a sampled share of sessions on this Speech service too (ws(s)://host:port,"
        " an endpoint URL, or the name of a resource of --backends) and compare its finals"
        " with the primary's (env SHIM_SHADOW_BACKEND)",
    )
    group.add_argument(
        "--shadow-rate", help="share of sessions shadowed, 0 to 1 (1; env SHIM_SHADOW_RATE)"
    )
    group.add_argument(
        "--shadow-key", help="subscription key for the shadow backend (env SHIM_SHADOW_KEY)"
    )


def _add_connections(group: Group) -> None:
    """Processes, header timeout, connection cap and backlog."""
    group.add_argument(
        "--workers",
        help="worker processes accepting on the port: a number, or auto (one per CPU);"
        " default 1 (env SHIM_WORKERS)",
    )
    group.add_argument(
        "--header-timeout",
        type=float,
        help="seconds a connection has to send its request headers (10)",
    )
    group.add_argument(
        "--max-connections",
        type=int,
        help="legacy connections (WebSocket sessions) beyond this get HTTP 503"
        " (default: from the open-files limit)",
    )
    group.add_argument(
        "--backlog",
        type=int,
        help="connections the kernel queues before they are accepted"
        " (default: net.core.somaxconn) (env SHIM_BACKLOG)",
    )
