"""Which scenario faults fire where, remembering ``once`` faults per X-ConnectionId."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from shim.emulator.engines.scenario import Fault

MAX_REMEMBERED = 16_384


class FiredFaults:
    """Process-wide memory of ``once`` faults, keyed by the SDK's X-ConnectionId."""

    def __init__(self) -> None:
        self._fired: OrderedDict[str, set[str]] = OrderedDict()

    def has_fired(self, connection_id: str, fault: Fault) -> bool:
        return fault.key in self._fired.get(connection_id, set())

    def mark(self, connection_id: str, fault: Fault) -> None:
        self._fired.setdefault(connection_id, set()).add(fault.key)
        self._fired.move_to_end(connection_id)
        while len(self._fired) > MAX_REMEMBERED:
            self._fired.popitem(last=False)


class FaultPlan:
    """The faults of one connection."""

    def __init__(self, faults: tuple[Fault, ...], connection_id: str, fired: FiredFaults) -> None:
        self._faults = faults
        self._connection_id = connection_id
        self._fired = fired

    def take(self, matches: Callable[[Fault], bool]) -> list[Fault]:
        """The faults that match and may still fire; ``once`` ones are marked as fired."""
        due = []
        for fault in self._faults:
            if not matches(fault):
                continue
            if fault.once:
                if self._fired.has_fired(self._connection_id, fault):
                    continue
                self._fired.mark(self._connection_id, fault)
            due.append(fault)
        return due

    def at_upgrade(self) -> list[Fault]:
        return self.take(lambda f: f.at_upgrade)

    def at_turn_start(self) -> list[Fault]:
        return self.take(lambda f: f.at_turn_start)

    def after_phrase(self, n: int) -> list[Fault]:
        return self.take(lambda f: f.after_phrase == n)

    def on_phrase(self, n: int) -> list[Fault]:
        return self.take(lambda f: f.on_phrase == n)
