"""The local Speech service: an aiohttp app speaking USP to the real Speech SDK.

Routes (what SDK 1.53 opens, usp-speech-service.md §2):

* ``/stt/speech/universal/v2`` and ``/speech/translation/cognitiveservices/v1``: translation;
* ``/speech/recognition/{conversation,interactive,dictation}/cognitiveservices/v1``: speech;
* ``/cognitiveservices/websocket/v2`` (text streaming too) and ``.../v1``, also under ``/tts``;
* ``/cognitiveservices/websocket/v1`` and ``/tts/cognitiveservices/websocket/v1`` (what the
  JavaScript SDK opens with ``fromHost``): text to speech;
* ``/cognitiveservices/voices/list`` and Translator's ``/languages?api-version=3.0``: catalog;
* ``/healthz``;
* ``/emulator/capabilities``: what the engine serves (``?from=xx-XX&to=yy`` checks a pair);
* ``/emulator/faults``: faults for every new connection from now on, set while the service
  runs (``PUT`` a JSON list, ``[]`` to clear; ``GET`` shows them): a service that starts
  refusing, or comes back, without a restart.

The subscription key may pick the scenario (``--scenario-dir``), and with a key list
(``--keys``) only the listed keys are served (HTTP 401 otherwise, as Azure answers a wrong
key); faults come from the scenario, from ``/emulator/faults`` and, per connection, from the
``fault`` query parameter or ``X-Emulator-Fault``.
The key, an authorization token and ``X-ConnectionId`` are read from the headers or, as the
JavaScript SDK's browser WebSocket (which cannot set headers) sends them, from the query.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from shim.emulator import catalog_routes
from shim.emulator.connection import UspConnection
from shim.emulator.engines.base import Engine
from shim.emulator.engines.scenario import (
    Fault,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_fault_spec,
    scenario_to_dict,
)
from shim.emulator.faults import FaultPlan, FiredFaults
from shim.emulator.metrics import METRICS, ServiceMetrics, metrics_route
from shim.emulator.recognition import RecognitionConnection
from shim.emulator.resume import ResumePoints
from shim.emulator.silence import SilenceTimeouts
from shim.emulator.synthesis_service import SynthesisConnection
from shim.emulator.turn import Kind

log = logging.getLogger("shim.emulator")

CLOSE_GOING_AWAY = 1001
_KEY_FILE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


@dataclass
class EmulatorSettings:
    scenario: Scenario | None = None
    scenario_dir: Path | None = None
    engine: str = "scripted"
    asr_model: Path | None = None  # local engine: a CTranslate2 Whisper model directory
    voices_file: Path | None = None  # a voices/list response served instead of the bundled one
    silence: SilenceTimeouts = field(default_factory=SilenceTimeouts)
    keys: frozenset[str] | None = None  # accepted subscription keys (None: any key)
    engine_options: dict[str, Any] = field(default_factory=dict)  # LocalEngine(**options)


@dataclass
class _State:
    settings: EmulatorSettings
    engine: Engine
    fired: FiredFaults = field(default_factory=FiredFaults)
    resume: ResumePoints = field(default_factory=ResumePoints)
    sockets: weakref.WeakSet[web.WebSocketResponse] = field(default_factory=weakref.WeakSet)
    scenario_cache: dict[Path, tuple[float, Scenario]] = field(default_factory=dict)
    connections: int = 0
    faults: tuple[Fault, ...] = ()  # PUT /emulator/faults: for every new connection
    served_voices: frozenset[str] = frozenset()  # --voices FILE: its names, known voices too


STATE = web.AppKey("emulator_state", _State)


def _voice_names(voices_file: Path | None) -> frozenset[str]:
    """The names a ``--voices`` list serves (short and long), which synthesis accepts."""
    if voices_file is None:
        return frozenset()
    voices = catalog_routes.load_voices(voices_file)
    return frozenset(str(v[k]) for v in voices for k in ("ShortName", "Name") if k in v)


def _json_error(status: int, message: str) -> web.Response:
    body = {"error": {"code": status, "message": message}}
    return web.json_response(
        body, status=status, dumps=lambda o: json.dumps(o, separators=(",", ":"))
    )


def _credential(request: web.Request, name: str) -> str | None:
    """A header, else the query parameter of that name (any case): the SDKs' Node code path
    sends both, the browser one (no headers on a browser WebSocket) only the query."""
    value = request.headers.get(name)
    if value:
        return value
    wanted = name.lower()
    for key, value in request.query.items():
        if key.lower() == wanted and value:
            return value
    return None


def subscription_key(request: web.Request) -> str | None:
    key = _credential(request, "Ocp-Apim-Subscription-Key")
    if key:
        return key
    auth = _credential(request, "Authorization") or ""
    if auth.lower().startswith("bearer ") and auth[7:].strip():
        return auth[7:].strip()
    return None


def connection_id_of(request: web.Request) -> str:
    """The SDK's X-ConnectionId (stable across its reconnects), or a fresh one."""
    return _credential(request, "X-ConnectionId") or uuid.uuid4().hex


def read_keys(path: Path) -> frozenset[str]:
    """A key list: one key per line; blank lines and ``#`` comments are skipped. Raises
    OSError or ValueError (no key in it)."""
    keys = frozenset(
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    )
    if not keys:
        raise ValueError(f"{path}: no key in it (one key per line)")
    return keys


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def _modified(path: Path) -> float | None:
    """When a scenario file or directory (or a file in it) last changed; None if absent."""
    try:
        if path.is_dir():
            return max([path.stat().st_mtime, *(f.stat().st_mtime for f in path.glob("*.json"))])
        return path.stat().st_mtime
    except OSError:
        return None


def _scenario_for(state: _State, key: str) -> Scenario | None:
    settings = state.settings
    if settings.scenario_dir is not None and _KEY_FILE_NAME.match(key):
        # DIR/<key>.json, or DIR/<key>/ holding several (a recording per audio file, say).
        path = settings.scenario_dir / f"{key}.json"
        if not path.is_file():
            path = settings.scenario_dir / key
        mtime = _modified(path)
        if mtime is not None:
            cached = state.scenario_cache.get(path)
            if cached is None or cached[0] != mtime:
                cached = (mtime, load_scenario(path))
                state.scenario_cache[path] = cached
            return cached[1]
    if settings.scenario is not None:
        return settings.scenario
    if settings.scenario_dir is None:
        return Scenario()
    return None


def _keyed_scenario(request: web.Request) -> Scenario | web.Response:
    """The scenario the request's key picks, or the 401/400 the service answers: the same
    for the WebSocket routes and the voices list."""
    key = subscription_key(request)
    if key is None:
        return _json_error(401, "missing subscription key")
    keys = request.app[STATE].settings.keys
    if keys is not None and key not in keys:
        return _json_error(401, "invalid subscription key")
    try:
        scenario = _scenario_for(request.app[STATE], key)
    except ScenarioError as exc:
        log.warning("scenario error: %s", exc)
        return _json_error(400, str(exc))
    if scenario is None:
        return _json_error(401, "no scenario for this subscription key")
    return scenario


async def _keyed_http(request: web.Request) -> web.StreamResponse | None:
    """The voices list's gate: the key as the WebSocket routes check it, then its faults."""
    keyed = _keyed_scenario(request)
    return keyed if isinstance(keyed, web.Response) else await _http_fault(request)


def _connection_scenario(request: web.Request) -> Scenario | web.Response:
    """The key's scenario with the service's and the request's faults, or the refusal."""
    state = request.app[STATE]
    keyed = _keyed_scenario(request)
    if isinstance(keyed, web.Response):
        return keyed
    try:
        scenario = keyed.with_faults(state.faults) if state.faults else keyed
        fault_spec = request.query.get("fault") or request.headers.get("X-Emulator-Fault")
        if fault_spec:
            scenario = scenario.with_faults(parse_fault_spec(fault_spec))
    except ScenarioError as exc:
        log.warning("scenario error: %s", exc)
        return _json_error(400, str(exc))
    return scenario


async def _faults_at_upgrade(
    plan: FaultPlan, metrics: ServiceMetrics, connection_id: str
) -> list[Fault] | web.Response:
    """The faults due at the upgrade, after their delays; an HTTP fault's response instead."""
    faults = plan.at_upgrade()
    for fault in faults:
        metrics.fault(
            http_status=fault.http_status,
            close_code=fault.close_code,
            delay_ms=fault.delay_ms,
            reset=bool(fault.reset),
        )
        if fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        if fault.http_status:
            log.info("connection %s: fault: HTTP %d at upgrade", connection_id, fault.http_status)
            return _json_error(fault.http_status, fault.close_reason or "injected fault")
    return faults


def _endpoint(
    ws: web.WebSocketResponse,
    request: web.Request,
    kind: Kind | None,
    scenario: Scenario,
    plan: FaultPlan,
    connection_id: str,
) -> UspConnection:
    """The connection that serves this endpoint: synthesis, or recognition of ``kind``."""
    state = request.app[STATE]
    metrics = request.app[METRICS]
    path = request.path.lower()
    if kind is None:
        return SynthesisConnection(
            ws,
            state.engine,
            scenario,
            metrics,
            text_streaming=path.endswith("/v2"),
            served_voices=state.served_voices,
        )
    return RecognitionConnection(
        ws,
        request,
        kind=kind,
        engine=state.engine,
        scenario=scenario,
        faults=plan,
        connection_id=connection_id,
        default_language=request.query.get("language") or request.query.get("from"),
        default_mode_interactive="/interactive/" in path,
        resume=state.resume,
        metrics=metrics,
        silence=state.settings.silence,
    )


async def _websocket(request: web.Request, kind: Kind | None) -> web.StreamResponse:
    state = request.app[STATE]
    scenario = _connection_scenario(request)
    if isinstance(scenario, web.Response):
        return scenario
    key = subscription_key(request) or ""
    connection_id = connection_id_of(request)
    plan = FaultPlan(scenario.faults, connection_id, state.fired)
    metrics = request.app[METRICS]
    upgrade_faults = await _faults_at_upgrade(plan, metrics, connection_id)
    if isinstance(upgrade_faults, web.Response):
        return upgrade_faults
    ws = web.WebSocketResponse(protocols=("USP",), compress=False, max_msg_size=16 * 1024 * 1024)
    await ws.prepare(request)
    state.sockets.add(ws)
    state.connections += 1
    label = kind.value if kind else "synthesis"
    metrics.connections.labels(label).inc()
    metrics.connections_open.labels(label).inc()
    log.info(
        "connection %s open: %s, key %s, scenario %s",
        connection_id,
        label,
        fingerprint(key),
        scenario.source,
    )
    try:
        for fault in upgrade_faults:
            if fault.close_code:
                await ws.close(
                    code=fault.close_code, message=(fault.close_reason or "injected fault").encode()
                )
            elif fault.reset and request.transport is not None:
                request.transport.abort()
        if ws.closed:
            return ws
        await _endpoint(ws, request, kind, scenario, plan, connection_id).run()
    except Exception:
        log.exception("connection %s: internal error", connection_id)
        await ws.close(code=1011, message=b"local Speech service internal error")
    finally:
        state.connections -= 1
        metrics.connections_open.labels(label).dec()
        log.info("connection %s closed (%s)", connection_id, ws.close_code)
    return ws


async def _http_fault(request: web.Request) -> web.StreamResponse | None:
    """An ``at_upgrade`` HTTP fault of the key's scenario, for the plain HTTP routes too."""
    state = request.app[STATE]
    key = subscription_key(request)
    scenario = _scenario_for(state, key) if key else state.settings.scenario
    for fault in scenario.faults if scenario else ():
        if fault.at_upgrade and fault.http_status:
            return _json_error(fault.http_status, fault.close_reason or "injected fault")
    return None


async def translation(request: web.Request) -> web.StreamResponse:
    return await _websocket(request, Kind.TRANSLATION)


async def speech(request: web.Request) -> web.StreamResponse:
    return await _websocket(request, Kind.SPEECH)


async def text_to_speech(request: web.Request) -> web.StreamResponse:
    return await _websocket(request, None)


async def healthz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {"status": "ok", "engine": state.engine.name, "connections": state.connections}
    )


async def capabilities(request: web.Request) -> web.Response:
    """The engine's languages and pairs; with ``from`` (and ``to``), whether it serves those."""
    engine = request.app[STATE].engine
    body = engine.capabilities()
    source = request.query.get("from")
    if source:
        targets = request.query.getall("to", [])
        reasons = {target: engine.supports(source, target) for target in targets}
        recognition = engine.supports(source)
        body["check"] = {
            "from": source,
            "recognition": recognition,
            "targets": reasons,
            "supported": recognition is None and all(r is None for r in reasons.values()),
        }
    return web.json_response(body)


MAX_FAULTS_BODY = 64 << 10


async def faults(request: web.Request) -> web.Response:
    """``GET``: the service-wide faults; ``PUT`` a JSON list (or one object) to replace them."""
    state = request.app[STATE]
    if request.method == "PUT":
        body = await request.content.read(MAX_FAULTS_BODY + 1)
        if len(body) > MAX_FAULTS_BODY:
            return _json_error(413, "faults: larger than 64 KiB")
        try:
            state.faults = parse_fault_spec(body.decode("utf-8").strip() or "[]")
        except (UnicodeDecodeError, ScenarioError) as exc:
            return _json_error(400, str(exc))
        log.info("faults for every new connection: %d", len(state.faults))
    document = scenario_to_dict(Scenario(faults=state.faults), Path("."))
    return web.json_response({"faults": document.get("faults", [])})


async def not_found(request: web.Request) -> web.Response:
    return _json_error(404, f"no such path on the local Speech service: {request.path}")


async def _close_sockets(app: web.Application) -> None:
    """A silent socket hangs the SDK (spec §7.3): close each with an explicit code."""
    sockets = list(app[STATE].sockets)
    await asyncio.gather(
        *(
            ws.close(code=CLOSE_GOING_AWAY, message=b"local Speech service shutting down")
            for ws in sockets
            if not ws.closed
        ),
        return_exceptions=True,
    )


def make_engine(name: str, asr_model: Path | None = None, **options: Any) -> Engine:
    """Raises ValueError (an unknown name, or an engine that cannot run here, and why).
    ``options`` go to the local engine (lanes, cpu_threads, vad, ...)."""
    if name == "scripted":
        from shim.emulator.engines.scripted import ScriptedEngine

        return ScriptedEngine()
    if name == "local":
        from shim.emulator.engines.local import LocalEngine

        return LocalEngine(asr_model, **options)
    if name == "auto":
        # The real offline engines when they are installed, the scripted one otherwise.
        from shim.emulator.engines.local import unavailable_reason

        why = unavailable_reason(asr_model)
        if why is None:
            return make_engine("local", asr_model, **options)
        log.info("local engine unavailable (%s): using the scripted engine", why)
        return make_engine("scripted")
    raise ValueError(f"unknown engine {name!r} (available: scripted, local, auto)")


async def _close_engine(app: web.Application) -> None:
    engine = app[STATE].engine
    aclose = getattr(engine, "aclose", None)
    if aclose is not None:
        await aclose()  # the local engine's Apertium pipelines are waited for
    elif (close := getattr(engine, "close", None)) is not None:
        close()


def engine_of(app: web.Application) -> Engine:
    """The engine a service app (from :func:`create_app`) runs: what it serves."""
    return app[STATE].engine


def create_app(settings: EmulatorSettings) -> web.Application:
    app = web.Application()
    engine = make_engine(settings.engine, settings.asr_model, **settings.engine_options)
    app[STATE] = _State(settings, engine, served_voices=_voice_names(settings.voices_file))
    app[METRICS] = ServiceMetrics()
    app.router.add_get("/metrics", metrics_route)
    app.router.add_get("/stt/speech/universal/v2", translation)
    app.router.add_get("/speech/translation/cognitiveservices/v1", translation)
    app.router.add_get(
        r"/speech/recognition/{mode:conversation|interactive|dictation}/cognitiveservices/v1",
        speech,
    )
    app.router.add_get("/cognitiveservices/websocket/v1", text_to_speech)
    app.router.add_get("/tts/cognitiveservices/websocket/v1", text_to_speech)
    app.router.add_get("/cognitiveservices/websocket/v2", text_to_speech)
    app.router.add_get("/tts/cognitiveservices/websocket/v2", text_to_speech)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/emulator/capabilities", capabilities)
    app.router.add_route("GET", "/emulator/faults", faults)
    app.router.add_route("PUT", "/emulator/faults", faults)
    catalog_routes.add_routes(app, _http_fault, _keyed_http, settings.voices_file)
    app.router.add_route("*", "/{tail:.*}", not_found)
    app.on_shutdown.append(_close_sockets)
    app.on_cleanup.append(_close_engine)
    return app
