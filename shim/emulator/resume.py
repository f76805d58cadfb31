"""Where each SDK session's audio resumes after a reconnect, kept per ``X-ConnectionId``.

Both SDKs reconnect with the same ``X-ConnectionId`` and replay the audio after the end of
the last final phrase they received. The Python SDK also says where that is (``continuation``
in ``speech.context``); the JavaScript SDK (unless it runs its multi-channel reliable
reconnect) does not, and counts the new turn's offsets from there all the same. So when the
service closes a connection mid-session (a close frame, after every phrase it sent) it
remembers what it had acknowledged on that connection id, and a new connection without
``continuation`` starts its turn at that point. After a reset or a client's drop nothing is
remembered: the service cannot know which phrases reached the SDK.

A stream can also start part-way into a longer audio without any reconnect: the drop-in
server, moving a session from another Speech resource, gives this service the audio after
the last final it delivered and says where that lies with the query parameter
:data:`ORIGIN_PARAMETER` (ticks). The engines then place their scripts in the session's
time, and offsets on the wire still count from the stream's first byte, as Azure's would.
Only the local service reads it (the server sends it to host and embedded resources only).

Memory is bounded: at most :data:`MAX_REMEMBERED` ids (an int each), the least recently used
forgotten first; a session that ended normally is forgotten at once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

MAX_REMEMBERED = 16_384
ORIGIN_PARAMETER = "audioOriginTicks"
MAX_ORIGIN = 24 * 3600 * 10_000_000  # a day of audio, in ticks


def origin_of(query: Mapping[str, str]) -> int:
    """The stream's origin (ticks) from a connection's query; ValueError when it is not a
    whole number from 0 to a day."""
    value = query.get(ORIGIN_PARAMETER)
    if value is None:
        return 0
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ORIGIN:
        raise ValueError(f"{ORIGIN_PARAMETER}={value[:20]!r}: give ticks, 0 to {MAX_ORIGIN}")
    return int(value)


class ResumePoints:
    """Absolute ticks acknowledged (end of the last final or NoMatch phrase) per connection id."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self._points: OrderedDict[str, int] = OrderedDict()
        self._limit = limit

    def get(self, connection_id: str) -> int:
        """Where a new connection of this session starts (0 for a new session)."""
        return self._points.get(connection_id, 0)

    def acknowledge(self, connection_id: str, ticks: int) -> None:
        self._points[connection_id] = ticks
        self._points.move_to_end(connection_id)
        while len(self._points) > self._limit:
            self._points.popitem(last=False)

    def forget(self, connection_id: str) -> None:
        """The session ended normally: a later connection with this id is a new session."""
        self._points.pop(connection_id, None)

    def __len__(self) -> int:
        return len(self._points)
