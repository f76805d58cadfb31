"""Where each session runs: the pool core's commands (:mod:`shim.pool.core`) carried out.

:class:`Placement` holds the pool core, the count of open sessions per Speech resource (in
this process; with ``--workers``, lease files in the workers' shared directory, read and
taken under one lock, so ``max_sessions`` holds across the workers of a replica) and how the
Speech SDK reaches each resource. At the handshake it gives a session a :class:`Seat`, or
refuses it before any audio: HTTP 429 when every resource that could take it is full, 503
when every one is cooling down (or probing). The seat tells the core how the session fared
on its resource (its first result is a success; a backend failure counts against the
resource) and, when the backend fails, moves the session to the next resource (the session
core decides that it may: :class:`shim.legacy.conduct.BackendLost`), at most
:data:`shim.pool.core.MAX_MOVES` times.

It also runs the core's probes: a timer at :meth:`PoolCore.next_probe`, and for each
:class:`Probe` a connection to the resource (:func:`shim.speech.probe.probe`) whose verdict
goes back to the core, so a resource that comes back is healthy again, and ``/readyz`` with
it, without waiting for a session (probes start once :meth:`Placement.start_probing` is
given the SDK runtime).

Health is judged per process: each worker learns a resource's trouble from its own sessions
(what one worker has seen costs another at most one failed start, which the move hides).

Sessions whose credentials are their own Azure resource (``--auth passthrough``, or a client
key mapped to ``azure-key@region``) run outside the pool, as they always did: no limit of
the pool's, no cooldown, no move.

Memory: a counter per resource (in this process) and one small record per resource in the
core; a seat holds its resource's name and what it tried.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Protocol

from shim.auth.authenticator import Grant
from shim.auth.shared import SharedSessionCounts
from shim.emulator.resume import ORIGIN_PARAMETER
from shim.legacy.errors import Failure, HandshakeError
from shim.pool.core import (
    Assign,
    Command,
    CoolDown,
    Event,
    Failed,
    Place,
    PoolCore,
    Probe,
    Probed,
    ProbeEnded,
    ProbesDue,
    Recovered,
    Refusal,
    Refuse,
    State,
    Succeeded,
)
from shim.pool.file import PoolFile, ResourceSpec
from shim.pool.trouble import Trouble, probe_trouble, trouble_for
from shim.server import metrics
from shim.server.embedded import EmbeddedBackend
from shim.speech.bridge import Backend
from shim.speech.events import BridgeEvent, Canceled, Recognized, Recognizing, SynthesisAudio
from shim.speech.probe import ProbeResult, probe
from shim.speech.runtime import SpeechRuntime

log = logging.getLogger("shim.server")

POOL_LEASES = "pool"  # in the workers' shared directory: open sessions per resource
FULL_MESSAGE = "Too many open sessions on this server's Speech resources; retry later"
UNAVAILABLE_MESSAGE = "No Speech resource of this server is available now; retry later"


class Ledger(Protocol):
    """Open sessions per resource (``SharedSessionCounts`` across workers, or in-process)."""

    def counts(self) -> dict[str, int]: ...

    def open_chosen(
        self, choose: Callable[[Mapping[str, int]], str | None]
    ) -> Callable[[], None] | None: ...


class LocalLedger:
    """Open sessions per resource in this process (the event loop's thread only)."""

    def __init__(self) -> None:
        self._open: collections.Counter[str] = collections.Counter()

    def counts(self) -> dict[str, int]:
        return +self._open  # those with sessions

    def open_chosen(
        self, choose: Callable[[Mapping[str, int]], str | None]
    ) -> Callable[[], None] | None:
        name = choose(self._open)
        if name is None:
            return None
        self._open[name] += 1

        def release() -> None:
            self._open[name] -= 1

        return release


class Placement:
    """The pool of one server process; see the module docstring."""

    def __init__(
        self,
        pool: PoolFile,
        properties: Callable[[ResourceSpec], Mapping[str, str]],
        *,
        own_key_base: ResourceSpec | None = None,
        shared: SharedSessionCounts | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``properties``: the SDK properties of a resource's sessions; ``own_key_base``:
        what a session with its own Azure key connects to (the flags' one resource: its
        host or endpoint; None: Azure by region)."""
        self.pool = pool
        self.core = PoolCore(pool.resources, pool.backoff)
        self.embedded: EmbeddedBackend | None = None  # set while the embedded service runs
        self._properties = properties
        self._own_key_base = own_key_base
        self._ledger: Ledger = shared if shared is not None else LocalLedger()
        self._clock = clock
        self._runtime: SpeechRuntime | None = None  # set while probes may run
        self._probe_timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0  # when the armed probe timer fires (the core's clock)
        self._probes: set[asyncio.Task[None]] = set()
        self._refresh_states()

    # ---- the handshake -----------------------------------------------------------------------
    def seat(self, grant: Grant, request_id: str) -> Seat:
        """Where ``grant``'s new session runs, or ``HandshakeError`` 429/503."""
        if grant.backend is not None:
            return Seat(self, (), request_id, self._own_key_backend(grant))
        members = self.pool.members(grant.pool)
        taken = self._take(members, frozenset(), 0)
        if isinstance(taken, Refusal):
            raise _refusal(taken)
        seat = Seat(self, members, request_id, self.backend(taken[0].resource))
        seat.seated(*taken)
        return seat

    def pair_check(self, source_locale: str, target_language: str) -> str | None:
        """None when the backend serves the pair (Azure and a configured host: always)."""
        if self.embedded is None:
            return None
        return self.embedded.supports(source_locale, target_language)

    def backend(self, name: str, origin: int = 0) -> Backend:
        """How the SDK reaches resource ``name``; ``origin``: where in the session's audio
        the stream starts (a move), told to local Speech services only."""
        spec = self.pool.resource(name)
        host = self.embedded.host if spec.embedded and self.embedded else spec.host
        local = spec.kind in ("host", "embedded")
        return Backend(
            key=spec.key,
            region=spec.region,
            host=host,
            endpoint=spec.endpoint,
            properties=dict(self._properties(spec)),
            query={ORIGIN_PARAMETER: str(origin)} if origin and local else {},
        )

    def _own_key_backend(self, grant: Grant) -> Backend:
        assert grant.backend is not None
        base = self._own_key_base
        if base is None:
            return Backend(key=grant.backend.subscription_key, region=grant.backend.region)
        return replace(
            self.backend(base.name),
            key=grant.backend.subscription_key,
            region=grant.backend.region or base.region,
        )

    def _take(
        self, members: tuple[str, ...], tried: frozenset[str], moves: int
    ) -> tuple[Assign, Callable[[], None]] | Refusal:
        """The core's choice with a lease on it (taken under the ledger's lock), or why not."""
        outcome: list[Assign | Refusal] = []

        def choose(load: Mapping[str, int]) -> str | None:
            for command in self._handle(Place(members, dict(load), tried, moves)):
                if isinstance(command, Assign):
                    outcome.append(command)
                    return command.resource
                if isinstance(command, Refuse):
                    outcome.append(command.reason)
            return None

        release = self._ledger.open_chosen(choose)
        chosen = outcome[0] if outcome else Refusal.UNAVAILABLE
        if isinstance(chosen, Refusal) or release is None:
            return chosen if isinstance(chosen, Refusal) else Refusal.UNAVAILABLE
        metrics.RESOURCE_SESSIONS_OPEN.labels(chosen.resource).inc()
        return chosen, _counted(chosen.resource, release)

    # ---- the core ----------------------------------------------------------------------------
    def report(self, event: Event) -> None:
        if isinstance(event, Failed):
            metrics.RESOURCE_FAILURES.labels(event.resource, event.trouble.value).inc()
        self._handle(event)

    def _handle(self, event: Event) -> list[Command]:
        commands = self.core.handle(event, self._clock())
        for command in commands:
            if isinstance(command, CoolDown):
                metrics.RESOURCE_COOLDOWNS.labels(command.resource).inc()
                log.warning(
                    "Speech resource %s cooled down for %.0f s (%s; %d in a row)",
                    command.resource,
                    command.seconds,
                    command.trouble.value,
                    command.streak,
                )
            elif isinstance(command, Recovered):
                log.info("Speech resource %s recovered", command.resource)
            elif isinstance(command, Probe):
                self._start_probe(command.resource)
        if any(isinstance(command, (CoolDown, Recovered)) for command in commands):
            self._refresh_states()  # a state changed (a cooldown's end is refreshed on reads)
        self._arm_probes()
        return commands

    # ---- probes ------------------------------------------------------------------------------
    def start_probing(self, runtime: SpeechRuntime) -> None:
        """Probes may run from now on, on ``runtime``'s probe threads (started on the loop)."""
        self._runtime = runtime
        self._arm_probes()

    async def stop_probing(self) -> None:
        """No more probes; those under way are given up (before the runtime closes)."""
        self._runtime = None
        if self._probe_timer is not None:
            self._probe_timer.cancel()
            self._probe_timer = None
        for task in list(self._probes):
            task.cancel()
        await asyncio.gather(*self._probes, return_exceptions=True)

    def _arm_probes(self) -> None:
        """The timer at the core's next probe (an earlier one than armed replaces it)."""
        if self._runtime is None:
            return
        due = self.core.next_probe(self._clock())
        timer = self._probe_timer
        if due is None or (timer is not None and self._timer_due <= due):
            return
        if timer is not None:
            timer.cancel()
        self._timer_due = due
        delay = max(0.0, due - self._clock())
        self._probe_timer = asyncio.get_running_loop().call_later(delay, self._probes_due)

    def _probes_due(self) -> None:
        self._probe_timer = None
        self._handle(ProbesDue())

    def _start_probe(self, name: str) -> None:
        if self._runtime is None:
            self._handle(ProbeEnded(name))
            return
        task = asyncio.create_task(self._probe(name, self._runtime))
        self._probes.add(task)
        task.add_done_callback(self._probes.discard)

    async def _probe(self, name: str, runtime: SpeechRuntime) -> None:
        try:
            result = await probe(self.backend(name), runtime)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self._handle(ProbeEnded(name))
            raise
        except Exception:
            log.exception("probing Speech resource %s failed", name)
            result = ProbeResult(False, "RuntimeError")
        trouble = None if result.connected else probe_trouble(result.code)
        metrics.RESOURCE_PROBES.labels(name, "passed" if trouble is None else "failed").inc()
        self._handle(Probed(name, trouble))

    # ---- what operators see ------------------------------------------------------------------
    def unavailable(self) -> bool:
        """No resource could take a new session now (``/readyz``). Probes that are due start
        first: a resource whose cooldown just ended is ready once its probe says so."""
        if self._runtime is not None and self.core.next_probe(self._clock()) == self._clock():
            self._handle(ProbesDue())
        return not self.core.can_place(self.core.names, self._ledger.counts(), self._clock())

    def describe(self) -> dict[str, dict[str, object]]:
        """Each resource's state, for ``/healthz``."""
        now, load = self._clock(), self._ledger.counts()
        described: dict[str, dict[str, object]] = {}
        for spec in self.pool.resources:
            status = self.core.status(spec.name, now)
            described[spec.name] = {
                "kind": spec.kind,
                "state": status.state.value,
                "sessions": load.get(spec.name, 0),
                "max_sessions": spec.max_sessions,
                "priority": spec.priority,
                "cooldown_s": round(status.cooldown_left, 1),
                "failures": dict(status.failures),
                "cooldowns": status.cooldowns,
                "probe_failures": status.probe_failures,
            }
        self._refresh_states()
        return described

    def _refresh_states(self) -> None:
        """The state gauges (a cooldown ends with time, so ``/metrics`` refreshes them too)."""
        now = self._clock()
        for name in self.core.names:
            current = self.core.status(name, now).state
            for state in State:
                metrics.RESOURCE_STATE.labels(name, state.value).set(int(state is current))

    refresh_metrics = _refresh_states


def _counted(resource: str, release: Callable[[], None]) -> Callable[[], None]:
    def counted_release() -> None:
        release()
        metrics.RESOURCE_SESSIONS_OPEN.labels(resource).dec()

    return counted_release


def _refusal(refusal: Refusal) -> HandshakeError:
    if refusal is Refusal.FULL:
        return HandshakeError(Failure.TOO_MANY_SESSIONS, FULL_MESSAGE)
    return HandshakeError(Failure.SERVER_UNAVAILABLE, UNAVAILABLE_MESSAGE)


class Seat:
    """One session's place in the pool: its resource and lease, what it reported, where it
    already failed. Outside the pool (``resource`` None) it only carries the backend."""

    def __init__(
        self, placement: Placement, members: tuple[str, ...], request_id: str, backend: Backend
    ) -> None:
        self._placement = placement
        self._members = members
        self.resource: str | None = None
        self.backend = backend
        self._request_id = request_id
        self._trial = False
        self._release: Callable[[], None] | None = None
        self._tried: set[str] = set()  # failed on since the session's last result there
        self._moves = 0
        self._succeeded = False  # the current resource gave the session a result
        self._failed = False  # ... or its failure was reported
        self._cancel_code: str | None = None  # the SDK's last error code on this resource
        self._released = False

    def seated(self, assigned: Assign, release: Callable[[], None], origin: int = 0) -> None:
        """The session runs on ``assigned`` now, holding ``release``'s lease; its audio
        starts at ``origin`` (ticks)."""
        self.resource, self._trial, self._release = assigned.resource, assigned.trial, release
        self.backend = self._placement.backend(assigned.resource, origin)
        self._succeeded = self._failed = False
        self._cancel_code = None

    @property
    def pooled(self) -> bool:
        return self.resource is not None

    def observe(self, event: BridgeEvent) -> None:
        """A backend event of the current resource: its first result is a success."""
        if isinstance(event, Canceled) and event.reason == "Error":
            self._cancel_code = event.code
        elif (
            isinstance(event, (Recognizing, Recognized, SynthesisAudio))
            and self.resource is not None
            and not self._succeeded
        ):
            self._succeeded = True
            self._tried.clear()  # where it failed before is the pool's to judge now
            self._placement.report(Succeeded(self.resource))

    def move(
        self, failure: Failure, code: str | None, *, origin: int = 0, mid_session: bool = False
    ) -> Backend | None:
        """The backend failed: report it, and take the session to the next resource for its
        audio from ``origin`` on (None: nowhere to go, or not the resource's fault).
        ``mid_session``: the session had results (the ``when`` of the moves metric)."""
        source = self.resource
        if source is None:
            return None
        trouble = self._report(failure, code)
        if trouble is None:
            return None
        self._tried.add(source)
        self._free()
        taken = self._placement._take(self._members, frozenset(self._tried), self._moves)
        when = "mid-session" if mid_session else "before its first result"
        if isinstance(taken, Refusal):
            log.info(
                "session %s: no Speech resource left to move to from %s (%s %s)%s",
                self._request_id,
                source,
                trouble.value,
                when,
                f": moved {self._moves} times already" if taken is Refusal.MOVED else "",
            )
            return None
        self._moves += 1
        self.seated(*taken, origin=origin)
        label = "mid_session" if mid_session else "start"
        metrics.SESSION_MOVES.labels(source, taken[0].resource, label).inc()
        log.info(
            "session %s: moved from Speech resource %s (%s %s) to %s",
            self._request_id,
            source,
            trouble.value,
            when,
            taken[0].resource,
        )
        return self.backend

    def release(self, failure: Failure | None) -> None:
        """The session is over (``failure``: how it ended); its lease is free. Once only:
        later calls (the context manager's) do nothing."""
        if self._released:
            return
        self._released = True
        if self.resource is not None and failure is not None:
            self._report(failure, self._cancel_code)
        self._free()

    def __enter__(self) -> Seat:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release(None)

    def _report(self, failure: Failure, code: str | None) -> Trouble | None:
        trouble = trouble_for(failure, code or self._cancel_code)
        if trouble is not None and self.resource is not None and not self._failed:
            self._failed = True
            self._placement.report(Failed(self.resource, trouble))
        return trouble

    def _free(self) -> None:
        release, self._release = self._release, None
        if release is None:
            return
        if self._trial and not (self._succeeded or self._failed) and self.resource is not None:
            self._placement.report(ProbeEnded(self.resource))
        self._trial = False
        release()
