"""The app factory of ``serve``: routes, the speech backend, credentials, the catalog.

Resources that must be closed (the embedded local Speech service, the live catalog's HTTP
session, the MP3 executor) live in ``cleanup_ctx``; a drain on SIGTERM lets open sessions
finish before they are closed with 1001.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from shim.auth.authenticator import Authenticator
from shim.auth.keys import ClientKeys
from shim.auth.shared import SharedKeyMemory, SharedSessionCounts
from shim.auth.tokens import TokenIssuer
from shim.catalog.catalog import Catalog, CatalogSource
from shim.catalog.live import LiveCatalog
from shim.config import ConfigError, ServerSettings
from shim.legacy.vocabulary import Limits
from shim.pool.file import LOCAL_KEY, PoolFile, ResourceSpec
from shim.server import health, metrics
from shim.server.edge import ConnectionCounts, ConnectionLimits, default_max_connections, describe
from shim.server.embedded import EmbeddedBackend, run_embedded
from shim.server.languages_routes import ServedLanguages, add_languages_routes
from shim.server.placement import POOL_LEASES, Placement
from shim.server.token_routes import add_token_routes
from shim.server.traffic import Traffic, real_traffic
from shim.server.translate import translate
from shim.server.translate_session import LIVE_SESSIONS, TranslateService
from shim.server.workers import WorkerContext
from shim.speech.path_choice import use_event_path
from shim.speech.runtime import SpeechRuntime

log = logging.getLogger("shim.server")

SERVICE = web.AppKey("translate_service", TranslateService)
CONNECTIONS = web.AppKey("connections", ConnectionCounts)
WORKER = web.AppKey[WorkerContext | None]("worker")  # None: not one of --workers
TRANSLATE_PATH = "/{speech:(?i:speech)}/{translate:(?i:translate)}"

# Against a local Speech service the SDK's push-stream throttle (2x real time after 5 s)
# only slows whole-file clients down; Azure gets the SDK's defaults.
LOCAL_PROPERTIES = {
    "SPEECH-AudioThrottleAsPercentageOfRealTime": "10000",
    "SPEECH-TransmitLengthBeforeThrottleMs": "600000",
}


def _http_base(ws_url: str) -> str:
    return ws_url.replace("wss://", "https://", 1).replace("ws://", "http://", 1).rstrip("/")


def ssl_context(settings: ServerSettings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
    except OSError as exc:  # ssl.SSLError too: not PEM, or the key does not match
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise ConfigError(
            f"--tls-cert {settings.tls_cert} --tls-key {settings.tls_key}: cannot load ({reason})"
        ) from None
    return context


def create_app(settings: ServerSettings) -> web.Application:
    app = web.Application()
    worker = WorkerContext.from_environ()
    event_path = use_event_path(settings.sdk_events)  # chosen and logged once, at start
    metrics.SDK_EVENT_PATH.labels(event_path.name.value).set(1)
    issuer = TokenIssuer(settings.token_secret)
    keys = _client_keys(settings)
    authenticator = _authenticator(settings, issuer, keys, worker)
    pool = settings.pool()
    _check_key_pools(keys, pool, settings)
    live = _live_catalog_of(pool)
    catalog: CatalogSource = live if live is not None else Catalog.bundled()
    placement = _placement(settings, pool, worker)
    connections = ConnectionCounts(
        ConnectionLimits(
            header_timeout=settings.header_timeout,
            max_connections=settings.max_connections or default_max_connections(),
        )
    )
    service = TranslateService(
        catalog=catalog,
        authenticator=authenticator,
        placement=placement,
        pair_check=placement.pair_check,
        executor=ThreadPoolExecutor(max_workers=2, thread_name_prefix="mp3"),
        runtime=SpeechRuntime(),
        record_dir=settings.record_backend,
        limits=_limits(settings),
        connections=connections,
    )
    captures, shadows = real_traffic(settings, LOCAL_PROPERTIES, placement.backend)
    if captures is not None or shadows is not None:
        service.traffic = Traffic(captures, shadows)
    app[SERVICE] = service
    app[CONNECTIONS] = connections
    app[WORKER] = worker
    app[_PLACEMENT] = placement
    app[_SETTINGS] = settings
    _add_routes(app, settings, service, authenticator, issuer)
    _add_cleanups(app, service, live)
    if shadows is not None:
        shadows.add_routes(app)
    return app


def _client_keys(settings: ServerSettings) -> ClientKeys | None:
    if settings.auth_mode != "keys":
        return None
    if settings.client_keys_file:
        return ClientKeys.load(settings.client_keys_file)
    return ClientKeys.from_env(settings.client_keys_env or "")


def _authenticator(
    settings: ServerSettings,
    issuer: TokenIssuer,
    keys: ClientKeys | None,
    worker: WorkerContext | None,
) -> Authenticator:
    return Authenticator(
        settings.auth_mode,
        issuer,
        keys=keys,
        region=settings.speech_region,
        max_sessions_per_key=settings.max_sessions_per_key,
        # With worker processes, limits and passthrough tokens hold across all of them.
        shared_sessions=SharedSessionCounts(worker.state_dir / "sessions") if worker else None,
        shared_keys=SharedKeyMemory(worker.state_dir / "keys") if worker else None,
    )


def _placement(settings: ServerSettings, pool: PoolFile, worker: WorkerContext | None) -> Placement:
    def properties(resource: ResourceSpec) -> dict[str, str]:
        local = resource.kind in ("host", "embedded")
        return {**(LOCAL_PROPERTIES if local else {}), **settings.sdk_properties}

    return Placement(
        pool,
        properties,
        own_key_base=None if settings.backends else pool.resources[0],
        shared=SharedSessionCounts(worker.state_dir / POOL_LEASES) if worker else None,
    )


def _limits(settings: ServerSettings) -> Limits:
    return Limits(
        idle_timeout=settings.idle_timeout,
        silence_timeout=settings.silence_timeout,
        max_session=settings.max_session_minutes * 60,
        flush_timeout=settings.flush_timeout,
        backend_timeout=settings.backend_timeout,
        liveness_timeout=settings.liveness_timeout,
    )


def _add_routes(
    app: web.Application,
    settings: ServerSettings,
    service: TranslateService,
    authenticator: Authenticator,
    issuer: TokenIssuer,
) -> None:
    async def translate_route(request: web.Request) -> web.StreamResponse:
        return await translate(request, service)

    app.router.add_get(TRANSLATE_PATH, translate_route)
    app[_LANGUAGES] = ServedLanguages(service.catalog)
    app.router.add_get("/metrics", _metrics_route(service.placement))
    metrics.record_build_info()
    _add_health(app, settings, service)
    worker = app[WORKER]
    if worker is not None:
        app.on_response_prepare.append(_worker_header(worker))
    add_languages_routes(app, app[_LANGUAGES], current_by_default=settings.languages == "current")
    add_token_routes(app, authenticator, issuer)


def _add_health(app: web.Application, settings: ServerSettings, service: TranslateService) -> None:
    placement, connections, worker = service.placement, app[CONNECTIONS], app[WORKER]
    health.add_routes(
        app,
        health.Readiness(
            draining=lambda: service.draining,
            # The pool's view; outside it (passthrough) the backend's by its sessions.
            backend_unreachable=(
                service.backend_health.unreachable
                if settings.auth_mode == "passthrough"
                else placement.unavailable
            ),
            at_connection_cap=lambda: connections.at_capacity,
        ),
        lambda: {
            "status": "draining" if service.draining else "ok",
            "backend": settings.backend_kind,
            "resources": placement.describe(),
            "sessions": len(service.sessions),
            "session_objects": len(LIVE_SESSIONS),  # more than sessions after a while: a leak
            "sessions_started": service.started,
            **describe(connections),
            **({"worker": worker.describe()} if worker else {}),
        },
    )


def _add_cleanups(
    app: web.Application, service: TranslateService, live: LiveCatalog | None
) -> None:
    # cleanup_ctx unwinds in reverse: recognizers still live stop while the embedded service
    # they talk to is still up.
    app.cleanup_ctx.append(_embedded_backend)
    app.cleanup_ctx.append(_speech_runtime)
    app.cleanup_ctx.append(_pool_probes)
    if service.traffic is not None:
        app.cleanup_ctx.append(service.traffic.running)
    if live is not None:
        app.cleanup_ctx.append(_live_catalog(live))
    app.on_cleanup.append(_stop_executor)


_PLACEMENT = web.AppKey("placement", Placement)
_SETTINGS = web.AppKey("settings", ServerSettings)
_LANGUAGES = web.AppKey("languages", ServedLanguages)


async def _speech_runtime(app: web.Application) -> AsyncIterator[None]:
    """The SDK's thread pools and live recognizers: stopped when the app stops (spec §10)."""
    runtime = app[SERVICE].runtime
    try:
        yield
    finally:
        await runtime.close()


async def _pool_probes(app: web.Application) -> AsyncIterator[None]:
    """Probes of cooled-down resources, on the SDK runtime: they stop before it closes."""
    placement = app[_PLACEMENT]
    placement.start_probing(app[SERVICE].runtime)
    try:
        yield
    finally:
        await placement.stop_probing()


async def _embedded_backend(app: web.Application) -> AsyncIterator[None]:
    """No backend configured: the local Speech service on loopback, run in this process, or
    (``--workers``) once by the supervisor, described in the workers' shared directory."""
    settings = app[_SETTINGS]
    if settings.backend_kind != "embedded":
        yield
        return
    worker = app[WORKER]
    async with contextlib.AsyncExitStack() as stack:
        if worker is not None and worker.embedded is not None:
            backend = EmbeddedBackend.load(worker.embedded)
        else:
            backend = await stack.enter_async_context(
                run_embedded(settings.scenario, settings.engine)
            )
        if settings.languages_from == "engine":  # /languages lists only what the engines serve
            app[_LANGUAGES].serve_only(backend.supports, backend.synthesis)
        placement = app[_PLACEMENT]
        placement.embedded = backend
        try:
            yield
        finally:
            placement.embedded = None


def _check_key_pools(keys: ClientKeys | None, pool: PoolFile, settings: ServerSettings) -> None:
    """Every pool a client key names is in the pool file."""
    named = keys.pools() if keys else frozenset()
    if named and settings.backends is None:
        raise ConfigError(
            "--client-keys: keys mapped to pools (key=pool:NAME) need --backends FILE"
        )
    unknown = sorted(named - pool.names())
    if unknown:
        raise ConfigError(
            f"--client-keys: a key is mapped to pool {unknown[0]!r}, which --backends"
            f" {settings.backends_file} does not define"
        )


def _live_catalog_of(pool: PoolFile) -> LiveCatalog | None:
    """Today's languages and voices from the first resource that can tell them: an Azure
    region, or a host given a key (the bundled catalog otherwise)."""
    for resource in pool.resources:
        if resource.kind == "azure":
            return LiveCatalog(key=resource.key, region=resource.region)
    for resource in pool.resources:
        if resource.kind == "host" and resource.key != LOCAL_KEY:
            base = _http_base(str(resource.host))
            return LiveCatalog(key=resource.key, tts_base=base, translator_base=base)
    return None


def _metrics_route(
    placement: Placement,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def route(request: web.Request) -> web.StreamResponse:
        placement.refresh_metrics()  # a cooldown ends with time, not with an event
        return await metrics.metrics_route(request)

    return route


def _worker_header(
    worker: WorkerContext,
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """``X-Shim-Worker: <index>`` on every response: which worker answered (operators, tests)."""
    value = str(worker.index)

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Shim-Worker"] = value

    return add


def _live_catalog(
    live: LiveCatalog,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        await live.refresh()
        try:
            yield
        finally:
            await live.close()

    return context


async def _stop_executor(app: web.Application) -> None:
    executor = app[SERVICE].executor
    if isinstance(executor, ThreadPoolExecutor):
        executor.shutdown(wait=False, cancel_futures=True)


async def drain(app: web.Application, timeout: float) -> None:
    """SIGTERM: refuse new sessions, let open ones finish for ``timeout`` s, then close 1001."""
    service = app[SERVICE]
    service.draining = True
    deadline = asyncio.get_running_loop().time() + timeout
    if service.sessions:
        log.info("draining %d open sessions (up to %.0f s)", len(service.sessions), timeout)
    while service.sessions and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    for session in list(service.sessions):
        session.shutdown()
    for _ in range(100):
        if not service.sessions:
            break
        await asyncio.sleep(0.05)
