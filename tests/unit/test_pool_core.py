"""Playbooks for the pool core: events in, the exact commands out, the time of each given.

Choosing (priority, load for weight, room), cooldowns with backoff, probes, success that
clears at once, and what a session that moves is offered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shim.pool.core import (
    MAX_MOVES,
    Assign,
    Backoff,
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
from shim.pool.trouble import Trouble

pytestmark = pytest.mark.unit

T0 = 500.0  # any monotonic origin: the core reads no clock


@dataclass(frozen=True)
class Q:
    name: str
    max_sessions: int | None = 10
    weight: float = 1.0
    priority: int = 1


class Playbook:
    def __init__(self, *quotas: Q, backoff: Backoff | None = None) -> None:
        self.core = PoolCore(quotas, backoff)
        self.members = tuple(q.name for q in quotas)
        self.now = T0

    def play(self, event: Event, at: float | None = None) -> list[Command]:
        if at is not None:  # seconds after T0
            assert T0 + at >= self.now, "time runs forward"
            self.now = T0 + at
        return self.core.handle(event, self.now)

    def place(
        self,
        load: Mapping[str, int] | None = None,
        tried: frozenset[str] = frozenset(),
        moves: int = 0,
        **kw: float,
    ) -> list[Command]:
        return self.play(Place(self.members, load or {}, tried, moves), **kw)

    def state(self, name: str) -> State:
        return self.core.status(name, self.now).state


# ---- choosing -------------------------------------------------------------------------------
def test_a_session_goes_to_the_least_loaded_resource_ties_to_the_first_listed() -> None:
    book = Playbook(Q("a"), Q("b"), Q("c"))
    assert book.place({"a": 2, "b": 1, "c": 1}) == [Assign("b")]
    assert book.place({}) == [Assign("a")]


def test_weights_share_the_load_in_their_proportion() -> None:
    book = Playbook(Q("a", max_sessions=100, weight=3), Q("b", max_sessions=100))
    load = {"a": 0, "b": 0}
    for _ in range(40):
        (assign,) = book.place(load)
        assert isinstance(assign, Assign)
        load[assign.resource] += 1
    assert load == {"a": 30, "b": 10}


def test_a_lower_priority_is_used_only_when_every_better_one_is_full_or_failing() -> None:
    book = Playbook(Q("primary", max_sessions=2), Q("backup", priority=2))
    assert book.place({"primary": 1, "backup": 0}) == [Assign("primary")]
    assert book.place({"primary": 2, "backup": 0}) == [Assign("backup")]
    book.play(Failed("primary", Trouble.THROTTLED))
    assert book.place({"primary": 0}) == [Assign("backup")]


def test_full_everywhere_is_refused_as_full_before_any_audio() -> None:
    book = Playbook(Q("a", max_sessions=1), Q("b", max_sessions=2))
    assert book.place({"a": 1, "b": 2}) == [Refuse(Refusal.FULL)]


def test_only_failing_resources_left_is_refused_as_unavailable() -> None:
    book = Playbook(Q("a"), Q("b"))
    book.play(Failed("a", Trouble.CONNECT))
    book.play(Failed("b", Trouble.AUTH))
    assert book.place() == [Refuse(Refusal.UNAVAILABLE)]


def test_full_and_failing_is_refused_as_full() -> None:
    book = Playbook(Q("a", max_sessions=1), Q("b"))
    book.play(Failed("b", Trouble.THROTTLED))
    assert book.place({"a": 1}) == [Refuse(Refusal.FULL)]


def test_no_limit_means_no_limit() -> None:
    book = Playbook(Q("flags", max_sessions=None))
    assert book.place({"flags": 10_000}) == [Assign("flags")]


def test_a_session_only_goes_to_its_own_pool() -> None:
    book = Playbook(Q("a"), Q("b"), Q("c"))
    assert book.play(Place(("c",), {"a": 0, "b": 0, "c": 5})) == [Assign("c")]
    assert book.play(Place(("b", "c"), {"b": 3, "c": 2})) == [Assign("c")]


# ---- moving at start ------------------------------------------------------------------------
def test_a_session_that_moves_is_offered_only_resources_it_has_not_tried() -> None:
    book = Playbook(Q("a"), Q("b"), Q("c", priority=2))
    assert book.place() == [Assign("a")]
    assert book.play(Failed("a", Trouble.THROTTLED), at=1.0) == [
        CoolDown("a", Trouble.THROTTLED, 1.0, 1)
    ]
    assert book.place(tried=frozenset({"a"})) == [Assign("b")]
    assert book.play(Failed("b", Trouble.CONNECT), at=1.5) == [
        CoolDown("b", Trouble.CONNECT, 1.0, 1)
    ]
    assert book.place(tried=frozenset({"a", "b"})) == [Assign("c")]
    assert book.place(tried=frozenset({"a", "b", "c"})) == [Refuse(Refusal.UNAVAILABLE)]


def test_a_move_never_goes_back_to_a_tried_resource_even_once_it_probes() -> None:
    book = Playbook(Q("a"), Q("b", max_sessions=1))
    book.play(Failed("a", Trouble.THROTTLED))
    assert book.place({"b": 1}, tried=frozenset({"a"}), at=5.0) == [Refuse(Refusal.FULL)]


def test_a_session_moves_at_most_max_moves_times_then_is_refused() -> None:
    book = Playbook(Q("a"), Q("b"))
    assert book.place(moves=MAX_MOVES - 1, tried=frozenset({"a"})) == [Assign("b")]
    assert book.place(moves=MAX_MOVES) == [Refuse(Refusal.MOVED)]


# ---- cooldowns and probes -------------------------------------------------------------------
def test_throttling_cools_at_once_and_the_first_session_after_the_cooldown_probes() -> None:
    book = Playbook(Q("a"), Q("b"))
    assert book.play(Failed("a", Trouble.THROTTLED), at=0.0) == [
        CoolDown("a", Trouble.THROTTLED, 1.0, 1)
    ]
    assert book.state("a") is State.COOLING
    assert book.place({"a": 0, "b": 4}, at=0.9) == [Assign("b")]
    assert book.place({"a": 0, "b": 5}, at=1.0) == [Assign("a", trial=True)]
    # while the probe is under way nobody else goes there
    assert book.place({"a": 1, "b": 5}, at=1.1) == [Assign("b")]
    assert book.play(Succeeded("a"), at=1.4) == [Recovered("a")]
    assert book.place({"a": 1, "b": 6}, at=1.5) == [Assign("a")]


def test_each_failed_probe_doubles_the_cooldown_up_to_the_longest() -> None:
    book = Playbook(Q("a"), backoff=Backoff(first=1.0, factor=2.0, longest=5.0))
    seen = []
    at = 0.0
    for _ in range(5):
        (cool,) = book.play(Failed("a", Trouble.UNAVAILABLE), at=at)
        assert isinstance(cool, CoolDown)
        seen.append((cool.seconds, cool.streak))
        at += cool.seconds
        assert book.place(at=at) == [Assign("a", trial=True)]
    assert seen == [(1.0, 1), (2.0, 2), (4.0, 3), (5.0, 4), (5.0, 5)]


def test_success_clears_at_once_even_while_cooling_and_forgets_the_backoff() -> None:
    book = Playbook(Q("a"))
    book.play(Failed("a", Trouble.CONNECT), at=0.0)
    book.play(Failed("a", Trouble.CONNECT), at=1.0)  # the probe failed: 2 s
    assert book.play(Succeeded("a"), at=1.5) == [Recovered("a")]
    assert book.place(at=1.5) == [Assign("a")]
    assert book.play(Failed("a", Trouble.CONNECT), at=2.0) == [
        CoolDown("a", Trouble.CONNECT, 1.0, 1)
    ]


def test_failures_while_cooling_are_the_same_outage_and_change_nothing() -> None:
    book = Playbook(Q("a"))
    book.play(Failed("a", Trouble.THROTTLED), at=0.0)
    assert book.play(Failed("a", Trouble.THROTTLED), at=0.2) == []
    assert book.play(Failed("a", Trouble.CONNECT), at=0.3) == []
    status = book.core.status("a", book.now)
    assert (status.state, status.streak) == (State.COOLING, 1)
    assert status.cooldown_left == pytest.approx(0.7)
    assert status.failures == {"throttled": 2, "connect": 1}
    assert status.cooldowns == 1


def test_errors_and_stalls_cool_only_after_three_in_a_row() -> None:
    book = Playbook(Q("a"))
    assert book.play(Failed("a", Trouble.ERROR)) == []
    assert book.play(Failed("a", Trouble.STALLED)) == []
    assert book.play(Succeeded("a")) == []  # a success between: the count starts again
    assert book.play(Failed("a", Trouble.ERROR)) == []
    assert book.play(Failed("a", Trouble.ERROR)) == []
    assert book.play(Failed("a", Trouble.ERROR)) == [CoolDown("a", Trouble.ERROR, 1.0, 1)]


def test_a_probe_that_fails_with_a_mere_error_cools_again_at_once() -> None:
    book = Playbook(Q("a"))
    book.play(Failed("a", Trouble.THROTTLED), at=0.0)
    assert book.place(at=1.0) == [Assign("a", trial=True)]
    assert book.play(Failed("a", Trouble.ERROR), at=1.2) == [CoolDown("a", Trouble.ERROR, 2.0, 2)]


def test_a_probe_that_ends_without_a_verdict_lets_the_next_session_probe() -> None:
    book = Playbook(Q("a"))
    book.play(Failed("a", Trouble.THROTTLED), at=0.0)
    assert book.place(at=1.0) == [Assign("a", trial=True)]
    assert book.place(at=1.1) == [Refuse(Refusal.UNAVAILABLE)]
    assert book.play(ProbeEnded("a"), at=2.0) == []
    assert book.place(at=2.0) == [Assign("a", trial=True)]


def test_can_place_answers_readiness_without_changing_anything() -> None:
    book = Playbook(Q("a", max_sessions=1), Q("b"))
    book.play(Failed("b", Trouble.THROTTLED), at=0.0)
    assert book.core.can_place(book.members, {"a": 0}, book.now)
    assert not book.core.can_place(book.members, {"a": 1}, book.now)
    assert book.core.can_place(book.members, {"a": 1}, book.now + 1.0)  # b may probe
    assert book.state("b") is State.COOLING  # the query settled nothing
    assert book.place({"a": 1}, at=1.0) == [Assign("b", trial=True)]
    assert not book.core.can_place(book.members, {"a": 1}, book.now)  # its probe is out


# ---- active probes ---------------------------------------------------------------------------
def test_a_resource_is_probed_when_its_cooldown_ends_and_a_passed_probe_clears_it() -> None:
    book = Playbook(Q("a"), Q("b"))
    assert book.core.next_probe(book.now) is None  # nothing to probe
    book.play(Failed("a", Trouble.CONNECT), at=0.0)
    assert book.core.next_probe(book.now) == T0 + 1.0
    assert book.play(ProbesDue(), at=0.5) == []  # a timer that fired early starts nothing
    assert book.play(ProbesDue(), at=1.0) == [Probe("a")]
    assert book.play(ProbesDue(), at=1.1) == []  # one probe at a time
    assert book.core.next_probe(book.now) is None
    assert book.place({"a": 0, "b": 3}, at=1.1) == [Assign("b")]  # none goes there meanwhile
    assert not book.core.can_place(("a",), {}, book.now)
    assert book.play(Probed("a", None), at=1.2) == [Recovered("a")]
    assert book.state("a") is State.HEALTHY
    assert book.place({"a": 0, "b": 3}, at=1.3) == [Assign("a")]


def test_each_failed_probe_cools_down_for_longer_without_counting_a_session_failure() -> None:
    book = Playbook(Q("a"), backoff=Backoff(first=1.0, factor=2.0, longest=3.0))
    book.play(Failed("a", Trouble.THROTTLED), at=0.0)
    at, seen = 0.0, []
    for _ in range(4):
        due = book.core.next_probe(book.now)
        assert due is not None
        at = due - T0
        assert book.play(ProbesDue(), at=at) == [Probe("a")]
        (cool,) = book.play(Probed("a", Trouble.CONNECT), at=at + 0.1)
        assert isinstance(cool, CoolDown)
        seen.append(cool.seconds)
    assert seen == [2.0, 3.0, 3.0, 3.0]
    status = book.core.status("a", book.now)
    assert (status.failures, status.probe_failures, status.cooldowns) == ({"throttled": 1}, 4, 5)
    assert book.play(ProbesDue(), at=at + 3.1) == [Probe("a")]
    assert book.play(Probed("a", None), at=at + 3.2) == [Recovered("a")]
    assert book.core.status("a", book.now).streak == 0


def test_a_probe_verdict_overtaken_by_a_session_changes_nothing() -> None:
    book = Playbook(Q("a"))
    book.play(Failed("a", Trouble.THROTTLED), at=0.0)
    book.play(ProbesDue(), at=1.0)
    assert book.play(Succeeded("a"), at=1.1) == [Recovered("a")]  # an older session's result
    assert book.play(Probed("a", Trouble.CONNECT), at=1.2) == []
    assert book.state("a") is State.HEALTHY


def test_a_session_probe_and_an_active_probe_never_run_together() -> None:
    book = Playbook(Q("a"))
    book.play(Failed("a", Trouble.THROTTLED), at=0.0)
    assert book.place(at=1.0) == [Assign("a", trial=True)]
    assert book.play(ProbesDue(), at=1.0) == []
    assert book.play(ProbeEnded("a"), at=2.0) == []
    assert book.core.next_probe(book.now) == book.now  # due at once
    assert book.play(ProbesDue(), at=2.0) == [Probe("a")]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from([*Trouble, None]),
            st.floats(min_value=0, max_value=3),
        ),
        max_size=40,
    )
)
def test_an_assignment_never_breaks_a_limit_or_goes_to_a_cooling_resource(
    steps: list[tuple[str, Trouble | None, float]],
) -> None:
    book = Playbook(Q("a", max_sessions=2), Q("b", max_sessions=1), Q("c", max_sessions=3))
    load = {"a": 0, "b": 0, "c": 0}
    for name, trouble, wait in steps:
        book.now += wait
        book.play(Failed(name, trouble) if trouble else Succeeded(name))
        before = {n: book.state(n) for n in load}
        for command in book.place(dict(load)):
            if isinstance(command, Assign):
                assert before[command.resource] is not State.COOLING
                load[command.resource] += 1
                assert load[command.resource] <= {"a": 2, "b": 1, "c": 3}[command.resource]
        if sum(load.values()) > 3:
            load = dict.fromkeys(load, 0)
