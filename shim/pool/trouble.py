"""Which backend failures are a Speech resource's fault, and of what kind.

A session's ending already says what failed (:class:`shim.legacy.errors.Failure`, from the
one error mapping); this module only sorts those failures for the pool: a refused key, a
quota, an unreachable or failing service and a backend that stopped answering count against
the resource (it is cooled down, and a session that has not yet had a result moves);
a bad request or an SDK fault does not (another resource would fail the same way).
"""

from __future__ import annotations

import enum

from shim.legacy.errors import Failure, failure_for_cancellation


class Trouble(enum.StrEnum):
    """What went wrong with a resource (the ``kind`` label of the failure metrics)."""

    AUTH = "auth"  # 401/403: the resource refused the key
    THROTTLED = "throttled"  # 429, close 4429: over the resource's quota
    UNAVAILABLE = "unavailable"  # 503, temporary redirects
    CONNECT = "connect"  # no connection: refused, reset, the service gone
    ERROR = "error"  # 5xx, close 1011, timeouts, an SDK session that would not start
    STALLED = "stalled"  # owed results and said nothing (the session's watchdog)


_BY_FAILURE = {
    Failure.BACKEND_AUTH: Trouble.AUTH,
    Failure.BACKEND_THROTTLED: Trouble.THROTTLED,
    Failure.BACKEND_UNAVAILABLE: Trouble.UNAVAILABLE,
    Failure.BACKEND_STALLED: Trouble.STALLED,
    Failure.RESULTS_INCOMPLETE: Trouble.STALLED,  # the flush ran out: nothing more came
}

# SDK CancellationErrorCode names behind BACKEND_ERROR that say nothing about the resource:
# the request itself was refused, or the SDK failed on this machine.
_NOT_THE_RESOURCE = frozenset({"BadRequest", "RuntimeError", "EmbeddedModelError"})


def trouble_for(failure: Failure, code: str | None) -> Trouble | None:
    """The resource's trouble behind ``failure`` (``code``: the SDK's CancellationErrorCode,
    when it gave one); None when the failure is not the resource's."""
    if failure in _BY_FAILURE:
        return _BY_FAILURE[failure]
    if failure is not Failure.BACKEND_ERROR or code in _NOT_THE_RESOURCE:
        return None
    return Trouble.CONNECT if code == "ConnectionFailure" else Trouble.ERROR


def probe_trouble(code: str | None) -> Trouble:
    """What a failed probe says about the resource (``code``: the SDK's CancellationErrorCode;
    None: no answer within the probe's timeout, a stall). A probe only opens a connection, so
    even an error that would not be the resource's in a session counts against it."""
    if code is None:
        return Trouble.STALLED
    return trouble_for(failure_for_cancellation(code), code) or Trouble.ERROR
