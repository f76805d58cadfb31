"""Where each SDK session's audio resumes after a reconnect, kept per ``X-ConnectionId``.

Both SDKs reconnect with the same ``X-ConnectionId`` and replay the audio after the end of
the last final phrase they received. The Python SDK also says where that is (``continuation``
in ``speech.context``); the JavaScript SDK (unless it runs its multi-channel reliable
reconnect) does not, and counts the new turn's offsets from there all the same. So when the
service closes a connection mid-session (a close frame, after every phrase it sent) it
remembers what it had acknowledged on that connection id, and a new connection without
``continuation`` starts its turn at that point. After a reset or a client's drop nothing is
remembered: the service cannot know which phrases reached the SDK.

Memory is bounded: at most :data:`MAX_REMEMBERED` ids (an int each), the least recently used
forgotten first; a session that ended normally is forgotten at once.
"""

from __future__ import annotations

from collections import OrderedDict

MAX_REMEMBERED = 16_384


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
