"""Prometheus metrics of the local Speech service, at its own ``GET /metrics``.

Each service app has its own registry (``local_speech_service_*``), so the drop-in server
that embeds a service keeps its own ``/metrics`` to itself, and tests may run several
services in one process. What a load test wants to see of the service it runs against:
connections, turns, phrases by status, syntheses, audio, and the faults it injected.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

PREFIX = "local_speech_service"


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections_open = Gauge(
            f"{PREFIX}_connections_open",
            "WebSocket connections open now.",
            ["endpoint"],
            registry=r,
        )
        self.connections = Counter(
            f"{PREFIX}_connections",
            "WebSocket connections accepted, by endpoint (translation, speech, synthesis).",
            ["endpoint"],
            registry=r,
        )
        self.turns = Counter(f"{PREFIX}_turns", "Recognition turns started.", registry=r)
        self.continuations = Counter(
            f"{PREFIX}_continuation_turns",
            "Turns that resumed a connection's earlier audio (SDK reconnects).",
            registry=r,
        )
        self.phrases = Counter(
            f"{PREFIX}_phrases", "Final phrases sent, by RecognitionStatus.", ["status"], registry=r
        )
        self.hypotheses = Counter(f"{PREFIX}_hypotheses", "Hypotheses sent.", registry=r)
        self.syntheses = Counter(
            f"{PREFIX}_syntheses",
            "Text-to-speech renderings sent (translation and TTS).",
            registry=r,
        )
        self.audio = Counter(
            f"{PREFIX}_audio_received_seconds",
            "Audio received, in seconds of 16 kHz mono.",
            registry=r,
        )
        self.faults = Counter(
            f"{PREFIX}_faults_injected",
            "Scenario faults fired, by action (http_status, close_code, recognition_status,"
            " delay, hang, reset).",
            ["fault"],
            registry=r,
        )

    def fault(
        self,
        *,
        http_status: object = None,
        close_code: object = None,
        recognition_status: object = None,
        lose: bool = False,
        delay_ms: object = None,
        hang: bool = False,
        reset: bool = False,
    ) -> None:
        """Count each action of one fired fault."""
        actions = {
            "http_status": http_status is not None,
            "close_code": close_code is not None,
            "recognition_status": recognition_status is not None,
            "lose": lose,
            "delay": bool(delay_ms),
            "hang": hang,
            "reset": reset,
        }
        for action, fired in actions.items():
            if fired:
                self.faults.labels(action).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


METRICS = web.AppKey("service_metrics", ServiceMetrics)


async def metrics_route(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
