"""Prometheus metrics of the drop-in server, with ``prometheus-client``.

Every name starts with ``translator_speech_shim_``; counters end in ``_total`` (the library
adds it), durations are in seconds, sizes in bytes. ``docs/operations.md`` lists them.

With ``serve --workers N`` the supervisor gives every worker the same
``PROMETHEUS_MULTIPROC_DIR`` before Python starts (the library's multiprocess mode reads it at
import), each worker writes its samples there, and ``/metrics`` on any worker aggregates all
of them: counters and histograms add up, the open-session and connection gauges sum over live
workers. The session core stays free of this module: the edge counts what it executes.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

PREFIX = "translator_speech_shim"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

SESSIONS_OPEN = Gauge(
    f"{PREFIX}_sessions_open", "Legacy sessions open now.", multiprocess_mode="livesum"
)
SESSIONS = Counter(
    f"{PREFIX}_sessions",
    "Legacy sessions ended, by outcome and the close code the client got ('none': the"
    " client was gone).",
    ["outcome", "close_code"],
)
HANDSHAKE_REJECTIONS = Counter(
    f"{PREFIX}_handshake_rejections",
    "Upgrade requests to /speech/translate answered with an HTTP error, by status.",
    ["status"],
)
CONNECTIONS_OPEN = Gauge(
    f"{PREFIX}_connections_open",
    "Client TCP connections open now (HTTP and WebSocket).",
    multiprocess_mode="livesum",
)
CONNECTIONS_REFUSED = Counter(
    f"{PREFIX}_connections_refused",
    "Connections closed by the edge: at the connection cap (503), headers too slow, or an"
    " unparseable request (400).",
    ["reason"],
)
AUDIO_RECEIVED = Counter(
    f"{PREFIX}_audio_received_seconds",
    "Audio received from legacy clients and passed to the Speech SDK, in seconds.",
)
RESULTS_SENT = Counter(f"{PREFIX}_results_sent", "Legacy result messages sent, by kind.", ["kind"])
RESULT_BYTES_SENT = Counter(
    f"{PREFIX}_result_bytes_sent", "Bytes of legacy result messages sent, by kind.", ["kind"]
)
TTS_MESSAGES_SENT = Counter(
    f"{PREFIX}_tts_messages_sent", "Text-to-speech messages sent, by format.", ["format"]
)
TTS_BYTES_SENT = Counter(
    f"{PREFIX}_tts_bytes_sent", "Bytes of text-to-speech audio sent, by format.", ["format"]
)
FINAL_LATENCY = Histogram(
    f"{PREFIX}_final_latency_seconds",
    "From the Speech SDK's final result (its callback) to the legacy frame written.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BACKEND_LATENCY = Histogram(
    f"{PREFIX}_backend_latency_seconds",
    "From writing the audio that ends an utterance to the backend's final for it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0),
)
BACKEND_CANCELLATIONS = Counter(
    f"{PREFIX}_backend_cancellations",
    "Speech SDK sessions canceled with an error, by CancellationErrorCode.",
    ["code"],
)
BACKEND_CONNECTIONS = Counter(
    f"{PREFIX}_backend_connections",
    "Speech SDK connections to the backend that opened (first ones and reconnects).",
)
BACKEND_RECONNECTS = Counter(
    f"{PREFIX}_backend_reconnects",
    "Speech SDK connections that opened again within a session (transparent reconnects).",
)
RESOURCE_SESSIONS_OPEN = Gauge(
    f"{PREFIX}_resource_sessions_open",
    "Sessions open now on each Speech resource of the pool.",
    ["resource"],
    multiprocess_mode="livesum",
)
RESOURCE_FAILURES = Counter(
    f"{PREFIX}_resource_failures",
    "Sessions a Speech resource failed, by kind (auth, throttled, unavailable, connect,"
    " error, stalled).",
    ["resource", "kind"],
)
RESOURCE_COOLDOWNS = Counter(
    f"{PREFIX}_resource_cooldowns",
    "Times a Speech resource was cooled down (no new sessions until its probe).",
    ["resource"],
)
RESOURCE_PROBES = Counter(
    f"{PREFIX}_resource_probes",
    "Probes of a cooled-down Speech resource (a connection with its key, no audio), by"
    " outcome (passed, failed).",
    ["resource", "outcome"],
)
RESOURCE_STATE = Gauge(
    f"{PREFIX}_resource_state",
    "1 for each Speech resource's state (healthy, cooling, probing); with --workers, 1 when"
    " any worker sees the resource so.",
    ["resource", "state"],
    multiprocess_mode="livemax",
)
SESSION_MOVES = Counter(
    f"{PREFIX}_session_moves",
    "Sessions moved from one Speech resource to another, and when (start: before the"
    " session's first result; mid_session: after it, from the end of its last final).",
    ["from_resource", "to_resource", "when"],
)
SDK_EVENT_PATH = Gauge(
    f"{PREFIX}_sdk_event_path",
    "1 for the way Speech SDK events are read in this process (fast: native; public: the"
    " SDK's Python API).",
    ["path"],
    multiprocess_mode="max",
)
BUILD_INFO = Gauge(
    f"{PREFIX}_build_info",
    "Versions of this server, the Speech SDK and Python (value 1).",
    ["version", "speech_sdk", "python"],
    multiprocess_mode="max",
)

# -- real traffic: captures (serve --capture-dir) and shadow sessions (--shadow-backend) --
CAPTURE_SESSIONS = Counter(
    f"{PREFIX}_capture_sessions", "Live sessions written whole to the capture directory."
)
CAPTURE_BYTES = Counter(f"{PREFIX}_capture_bytes_written", "Bytes written to capture files.")
CAPTURE_DROPPED = Counter(
    f"{PREFIX}_capture_dropped",
    "Captures given up (the session itself went on), by reason: queue_full (the writer fell"
    " behind), size_bound (the directory is full of captures still being written),"
    " frame_too_large, error (the file could not be written).",
    ["reason"],
)
CAPTURE_EVICTED = Counter(
    f"{PREFIX}_capture_evicted",
    "Capture files removed: age (older than the retention), size (oldest first, to stay"
    " under the size bound).",
    ["reason"],
)
SHADOW_SESSIONS = Counter(
    f"{PREFIX}_shadow_sessions",
    "Shadow sessions ended, by result: compared (its finals were compared with the"
    " primary's), failed (the shadow backend failed or hung), behind (its audio buffer"
    " overflowed), skipped (too many shadow sessions open).",
    ["result"],
)
SHADOW_WER = Histogram(
    f"{PREFIX}_shadow_wer",
    "Word error rate of the shadow's finals against the primary's, per compared session,"
    " for recognition and translation.",
    ["text"],
    buckets=(0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0),
)
SHADOW_LATENCY_DIFFERENCE = Histogram(
    f"{PREFIX}_shadow_latency_difference_seconds",
    "Per paired final: when the shadow's final came minus when the primary's did (negative:"
    " the shadow was faster).",
    buckets=(-5.0, -2.0, -1.0, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
)
SHADOW_DISAGREEMENTS = Counter(
    f"{PREFIX}_shadow_disagreements",
    "Finals on which the shadow disagreed with the primary, by kind: text (recognition or"
    " translation differ), missing (the shadow has no such final), extra (only the shadow"
    " has it).",
    ["kind"],
)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def record_build_info() -> None:
    BUILD_INFO.labels(
        _version("translator-speech-shim"),
        _version("azure-cognitiveservices-speech"),
        platform.python_version(),
    ).set(1)


def render() -> bytes:
    """The exposition text: this process's samples, or all workers' in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


async def metrics_route(request: web.Request) -> web.Response:
    return web.Response(body=render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
