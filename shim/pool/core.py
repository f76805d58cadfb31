"""The pool's decisions, sans-I/O: which resource a session runs on, and each resource's
health. Modelled on LiteLLM's router (deployments with limits, cooldowns, fallbacks) and
Envoy's outlier detection, for streaming sessions.

Placement feeds events to :meth:`PoolCore.handle` with the time (monotonic seconds; the core
reads no clock) and carries out the commands it returns:

* **Choosing** (:class:`Place`): among the session's pool, leave out resources the session
  already failed on, resources cooling down, resources whose probe is under way and
  resources at ``max_sessions``; take the best (lowest) priority that is left, and in it the
  least loaded for its weight (``load / weight``; ties go to the file's order). Nothing
  left: :class:`Refuse`, ``FULL`` when a healthy resource was only full (the legacy 429),
  else ``UNAVAILABLE`` (503). The load is placement's count of open sessions per resource,
  across the workers of the replica, read under the same lock that takes the new session's
  lease, so ``max_sessions`` holds.
* **Cooling down** (:class:`Failed`): a resource that refuses the key, throttles, is
  unavailable or unreachable is cooled down at once; errors and stalls, which one session
  can meet alone, after :data:`STRIKES` in a row with no success between. A failure while
  the resource already cools down is the same outage and changes nothing. Each cooldown in a
  row without a success lasts longer (:class:`Backoff`).
* **Probing**: when its cooldown is over a resource is ``PROBING`` and gets one probe, and
  no session goes there until the probe's verdict. The probe is active: at
  :meth:`PoolCore.next_probe` placement sends :class:`ProbesDue` and carries out each
  :class:`Probe` (a connection to the resource with its key, no audio: nothing billed) and
  reports :class:`Probed`; a failed probe cools the resource down again, for longer. So a
  resource that comes back is healthy within its current cooldown (at most the backoff's
  ``longest``) even when no session comes, which ``/readyz`` at 503 would stop. Where
  placement runs no probes, the next session placed there is the probe (``Assign(trial=True)``);
  its failure before its first result only moves it to another resource.
* **Success clears at once** (:class:`Succeeded`: a session's first result on the
  resource, or a probe that passed): the resource is healthy again, its backoff forgotten.

Moving a session is placement's :class:`Failed` (for the resource it leaves) followed by a
:class:`Place` with the resources it failed on since its last result there (``tried``) and
the moves it made so far: a session moves at most :data:`MAX_MOVES` times, so a session
whose every resource fails in turn ends instead of going round the pool for ever. Whether a
session *may* move (what it owes the client can still be produced elsewhere) is the session
core's decision (:class:`shim.legacy.conduct.BackendLost`).

Memory: one small record per resource, and a counter per kind of trouble.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from shim.pool.trouble import Trouble

# Failures in a row (no success between) that cool a resource down, by kind: the resource's
# own word (auth, quota, unavailable) or no connection at all count at once; an error or a
# stall may be one session's, so it takes several.
STRIKES: Mapping[Trouble, int] = {
    Trouble.AUTH: 1,
    Trouble.THROTTLED: 1,
    Trouble.UNAVAILABLE: 1,
    Trouble.CONNECT: 1,
    Trouble.ERROR: 3,
    Trouble.STALLED: 3,
}
MAX_MOVES = 4  # per session: it runs on at most five resources, enough to go round a pool


class Quota(Protocol):
    """A resource as the core sees it (``shim.pool.file.ResourceSpec`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def max_sessions(self) -> int | None: ...  # None: no limit of our own

    @property
    def weight(self) -> float: ...

    @property
    def priority(self) -> int: ...


@dataclass(frozen=True)
class Backoff:
    """How long the n-th cooldown in a row lasts: ``first``, doubling, at most ``longest``."""

    first: float = 1.0
    factor: float = 2.0
    longest: float = 30.0

    def cooldown(self, streak: int) -> float:
        return float(min(self.first * self.factor ** max(0, streak - 1), self.longest))


class State(enum.Enum):
    HEALTHY = "healthy"  # takes sessions
    COOLING = "cooling"  # failed: no new sessions until its cooldown is over
    PROBING = "probing"  # cooldown over: the next session is its probe


class Refusal(enum.Enum):
    FULL = "full"  # every resource that could take the session is at max_sessions
    UNAVAILABLE = "unavailable"  # every resource is cooling down, probing, or already tried
    MOVED = "moved"  # the session already moved MAX_MOVES times


# ---- events ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Place:
    """A session needs a resource: a new one, or one that moves (``tried``: where it failed
    since its last result there; ``moves``: how often it moved before this move)."""

    members: tuple[str, ...]  # the session's pool, in the file's order
    load: Mapping[str, int]  # sessions open per resource now (every worker of the replica)
    tried: frozenset[str] = frozenset()
    moves: int = 0


@dataclass(frozen=True)
class Failed:
    """A session's resource failed it (once per session and resource)."""

    resource: str
    trouble: Trouble


@dataclass(frozen=True)
class Succeeded:
    """A session on the resource got its first result."""

    resource: str


@dataclass(frozen=True)
class ProbeEnded:
    """The probe session ended without a verdict (no result, no failure): another may probe."""

    resource: str


@dataclass(frozen=True)
class ProbesDue:
    """Time passed (placement's timer at :meth:`PoolCore.next_probe`): start the due probes."""


@dataclass(frozen=True)
class Probed:
    """A :class:`Probe`'s verdict: ``trouble`` None when the resource took the connection."""

    resource: str
    trouble: Trouble | None


Event = Place | Failed | Succeeded | ProbeEnded | ProbesDue | Probed


# ---- commands -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Assign:
    """Run the session on ``resource`` (``trial``: it is the resource's probe)."""

    resource: str
    trial: bool = False


@dataclass(frozen=True)
class Refuse:
    """No resource can take the session."""

    reason: Refusal


@dataclass(frozen=True)
class CoolDown:
    """``resource`` takes no new sessions for ``seconds`` (the ``streak``-th cooldown in a row)."""

    resource: str
    trouble: Trouble
    seconds: float
    streak: int


@dataclass(frozen=True)
class Recovered:
    """``resource`` succeeded again after cooling down."""

    resource: str


@dataclass(frozen=True)
class Probe:
    """Find out whether ``resource`` takes connections again; answer :class:`Probed`."""

    resource: str


Command = Assign | Refuse | CoolDown | Recovered | Probe


@dataclass
class _Health:
    state: State = State.HEALTHY
    until: float = 0.0  # COOLING: when the probe may start
    probing: bool = False  # PROBING: a probe session is under way
    strikes: int = 0  # failures since the last success or cooldown
    streak: int = 0  # cooldowns since the last success (sets the backoff)
    failures: collections.Counter[Trouble] = field(default_factory=collections.Counter)
    cooldowns: int = 0
    probe_failures: int = 0


@dataclass(frozen=True)
class Status:
    """One resource's health, for ``/healthz`` and ``/metrics``."""

    state: State
    cooldown_left: float  # seconds; 0 unless cooling down
    streak: int
    failures: Mapping[str, int]  # by Trouble value
    cooldowns: int
    probe_failures: int


class PoolCore:
    """Every resource's health, and the choice of one for a session."""

    def __init__(
        self, quotas: Iterable[Quota], backoff: Backoff | None = None, *, max_moves: int = MAX_MOVES
    ) -> None:
        self._quotas = {quota.name: quota for quota in quotas}
        self._health = {name: _Health() for name in self._quotas}
        self.backoff = backoff or Backoff()
        self.max_moves = max_moves

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._quotas)

    def handle(self, event: Event, now: float) -> list[Command]:
        if isinstance(event, Place):
            return self._place(event, now)
        if isinstance(event, ProbesDue):
            return self._probes_due(now)
        health = self._settled(event.resource, now)
        if isinstance(event, Failed):
            return self._failed(event.resource, health, event.trouble, now)
        if isinstance(event, Succeeded):
            return self._succeeded(event.resource, health)
        if isinstance(event, ProbeEnded):
            health.probing = False
            return []
        if isinstance(event, Probed):
            if health.state is not State.PROBING or not health.probing:
                return []  # a verdict overtaken by a session's (success or failure)
            if event.trouble is None:
                return self._succeeded(event.resource, health)
            health.probe_failures += 1
            return self._cool(event.resource, health, event.trouble, now)
        raise TypeError(f"not a pool event: {event!r}")

    # ---- queries (nothing changes) -----------------------------------------------------------
    def can_place(self, members: Iterable[str], load: Mapping[str, int], now: float) -> bool:
        """Whether a new session of this pool would get a resource now (``/readyz``)."""
        return self._choose(tuple(members), load, frozenset(), now)[0] is not None

    def next_probe(self, now: float) -> float | None:
        """When :class:`ProbesDue` should come next (None: no resource needs a probe)."""
        due = []
        for health in self._health.values():
            if health.state is State.COOLING:
                due.append(health.until)
            elif health.state is State.PROBING and not health.probing:
                due.append(now)
        return min(due, default=None)

    def status(self, name: str, now: float) -> Status:
        health = self._health[name]
        state = self._state(health, now)
        return Status(
            state,
            max(0.0, health.until - now) if state is State.COOLING else 0.0,
            health.streak,
            {trouble.value: count for trouble, count in health.failures.items()},
            health.cooldowns,
            health.probe_failures,
        )

    # ---- decisions ---------------------------------------------------------------------------
    def _place(self, event: Place, now: float) -> list[Command]:
        if event.moves >= self.max_moves:
            return [Refuse(Refusal.MOVED)]
        chosen, full = self._choose(event.members, event.load, event.tried, now)
        if chosen is None:
            return [Refuse(Refusal.FULL if full else Refusal.UNAVAILABLE)]
        health = self._settled(chosen, now)
        trial = health.state is State.PROBING
        health.probing = trial
        return [Assign(chosen, trial)]

    def _choose(
        self, members: tuple[str, ...], load: Mapping[str, int], tried: frozenset[str], now: float
    ) -> tuple[str | None, bool]:
        """The resource for a session (None: none), and whether a resource was only full."""
        best: tuple[int, float, int, str] | None = None
        full = False
        for index, name in enumerate(members):
            health = self._health[name]
            state = self._state(health, now)
            if (
                name in tried
                or state is State.COOLING
                or (state is State.PROBING and health.probing)
            ):
                continue
            quota = self._quotas[name]
            sessions = load.get(name, 0)
            if quota.max_sessions is not None and sessions >= quota.max_sessions:
                full = True
                continue
            rank = (quota.priority, sessions / quota.weight, index, name)
            if best is None or rank < best:
                best = rank
        return (best[3] if best else None), full

    def _failed(self, name: str, health: _Health, trouble: Trouble, now: float) -> list[Command]:
        health.failures[trouble] += 1
        if health.state is State.COOLING:
            return []  # the same outage, seen by another session
        health.strikes += 1
        if health.state is State.HEALTHY and health.strikes < STRIKES[trouble]:
            return []
        # Cool down: enough strikes, or the probe (or anything while probing) failed.
        return self._cool(name, health, trouble, now)

    def _cool(self, name: str, health: _Health, trouble: Trouble, now: float) -> list[Command]:
        health.streak += 1
        health.cooldowns += 1
        seconds = self.backoff.cooldown(health.streak)
        health.state, health.until, health.probing, health.strikes = (
            State.COOLING,
            now + seconds,
            False,
            0,
        )
        return [CoolDown(name, trouble, seconds, health.streak)]

    @staticmethod
    def _succeeded(name: str, health: _Health) -> list[Command]:
        was = health.state
        health.state, health.strikes, health.streak, health.probing = State.HEALTHY, 0, 0, False
        return [] if was is State.HEALTHY else [Recovered(name)]

    def _probes_due(self, now: float) -> list[Command]:
        probes: list[Command] = []
        for name in self._health:
            health = self._settled(name, now)
            if health.state is State.PROBING and not health.probing:
                health.probing = True  # the probe: no session goes there until its verdict
                probes.append(Probe(name))
        return probes

    # ---- time --------------------------------------------------------------------------------
    @staticmethod
    def _state(health: _Health, now: float) -> State:
        if health.state is State.COOLING and now >= health.until:
            return State.PROBING
        return health.state

    def _settled(self, name: str, now: float) -> _Health:
        """The resource's record with its cooldown ended if its time has come."""
        health = self._health[name]
        if health.state is State.COOLING and now >= health.until:
            health.state, health.probing = State.PROBING, False
        return health
