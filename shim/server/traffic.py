"""Real traffic around a live session: its capture and its shadow, if it has either.

The session edge (:mod:`shim.server.translate`) calls :meth:`Traffic.observe` once the
upgrade is answered, hands each piece of audio it writes to the primary to
:meth:`SessionTraffic.audio`, and calls :meth:`SessionTraffic.finish` when the session has
ended. Everything here is cheap on the loop and can neither delay nor fail the session.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping

from aiohttp import web

from shim.auth.authenticator import Grant
from shim.config import ConfigError, ServerSettings
from shim.legacy.request import SessionRequest
from shim.redaction import redact_url
from shim.server.capture import Captures, CaptureWriter, SessionCapture
from shim.server.capture_store import CaptureStore
from shim.server.legacy_socket import LegacySocket
from shim.server.shadow import ShadowTarget
from shim.server.shadow_store import ShadowPair, Shadows
from shim.server.taps import combine
from shim.speech.bridge import Backend, SessionOptions
from shim.speech.runtime import SpeechRuntime


def _request_url(request: web.Request) -> str:
    scheme = "wss" if request.secure else "ws"
    return f"{scheme}://{request.host}{request.raw_path}"


def _raw_headers(request: web.Request) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]


class SessionTraffic:
    def __init__(
        self, shadows: Shadows | None, capture: SessionCapture | None, shadow: ShadowPair | None
    ) -> None:
        self._shadows = shadows
        self.capture = capture
        self.shadow = shadow

    def audio(self, pcm: bytes) -> None:
        """The primary got this audio: so does the shadow."""
        if self.shadow is not None:
            self.shadow.shadow.write(pcm)

    def end_audio(self) -> None:
        if self.shadow is not None:
            self.shadow.shadow.end_audio()

    def finish(self) -> None:
        if self.capture is not None:
            self.capture.finish(time.monotonic())
        if self.shadow is not None and self._shadows is not None:
            self._shadows.end(self.shadow)


class Traffic:
    def __init__(self, captures: Captures | None, shadows: Shadows | None) -> None:
        self.captures = captures
        self.shadows = shadows

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """aiohttp ``cleanup_ctx``: the capture writer thread and the shadows' own SDK
        runtime (a few threads: a hanging shadow backend ties up only these)."""
        if self.captures is not None:
            self.captures.writer.start()
        if self.shadows is not None:
            self.shadows.runtime = SpeechRuntime(lifecycle_threads=4, audio_threads=2)
        try:
            yield
        finally:
            if self.shadows is not None and self.shadows.runtime is not None:
                await self.shadows.close()
                await self.shadows.runtime.close()
                self.shadows.runtime = None
            if self.captures is not None:
                self.captures.writer.stop()

    def observe(
        self,
        request: web.Request,
        parsed: SessionRequest,
        grant: Grant,
        socket: LegacySocket,
        request_id: str,
        origin: float,
    ) -> SessionTraffic | None:
        """Capture and shadow this session if it is in their samples (taps on ``socket``)."""
        capture = None
        if self.captures is not None:
            capture = self.captures.begin(
                grant.capture,
                request_id,
                url=_request_url(request),
                request_headers=_raw_headers(request),
                origin=origin,
            )
            if capture is not None:
                capture.accepted(101, socket.response.headers.items(), time.monotonic())
        shadow = None
        if self.shadows is not None:
            options = SessionOptions(
                parsed.source_locale, parsed.target_language, None, parsed.profanity
            )
            shadow = self.shadows.begin(options, request_id)
        socket.tap = combine([capture, shadow.primary if shadow else None])
        if capture is None and shadow is None:
            return None
        return SessionTraffic(self.shadows, capture, shadow)


def shadow_target(
    settings: ServerSettings,
    local_properties: Mapping[str, str],
    resource: Callable[[str], Backend] | None = None,
) -> ShadowTarget:
    """``--shadow-backend URL``: a host (no path: the SDK adds the endpoint's path, and the
    local-service properties apply as for ``--speech-host``) or a full endpoint URL;
    ``--shadow-backend NAME``: the resource of the pool file, as ``resource`` reaches it
    (its key, its properties). A shadow is not counted in the resource's ``max_sessions``."""
    name = settings.shadow_resource
    if name is not None:
        if resource is None:
            raise ConfigError(f"--shadow-backend {name!r}: this server has no pool (--backends)")
        return ShadowTarget(resource(name), name)
    url = str(settings.shadow_backend)
    key = settings.shadow_key or "local"
    if urllib.parse.urlsplit(url).path.strip("/"):
        backend = Backend(key=key, endpoint=url, properties=dict(settings.sdk_properties))
    else:
        properties = {**local_properties, **settings.sdk_properties}
        backend = Backend(key=key, host=url, properties=properties)
    return ShadowTarget(backend, redact_url(url, mask="***"))


def real_traffic(
    settings: ServerSettings,
    local_properties: Mapping[str, str],
    resource: Callable[[str], Backend] | None = None,
) -> tuple[Captures | None, Shadows | None]:
    """What ``--capture-dir`` and ``--shadow-backend`` ask for (None: not asked);
    ``resource``: how a resource of the pool is reached (``--shadow-backend NAME``)."""
    captures = None
    if settings.capture_dir is not None:
        store = CaptureStore(
            settings.capture_dir,
            max_bytes=settings.capture_max_bytes,
            retention_seconds=settings.capture_retention_hours * 3600,
        )
        try:
            store.prepare()
        except OSError as exc:
            raise ConfigError(
                f"--capture-dir {settings.capture_dir}: cannot be created ({exc.strerror})"
            ) from None
        if not os.access(settings.capture_dir, os.W_OK | os.X_OK):
            raise ConfigError(f"--capture-dir {settings.capture_dir}: not writable")
        captures = Captures(CaptureWriter(store), settings.capture_rate)
    shadows = None
    if settings.shadow_backend is not None:
        shadows = Shadows(
            shadow_target(settings, local_properties, resource),
            rate=settings.shadow_rate,
            timeout=settings.flush_timeout,
        )
    return captures, shadows
