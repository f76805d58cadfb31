"""USP (the Speech SDK's WebSocket protocol) message framing, sans-I/O.

A USP message is a WebSocket text or binary frame:

* text: ``Name: value`` header lines separated by CRLF, an empty line, then the body;
* binary: a 2-byte big-endian header length, the header block (ASCII lines each ending
  in CRLF, no blank terminator), then the payload.

Header names are case-insensitive. ``Path`` is required on every message; the SDK also
matches ``X-RequestId`` exactly, so values are kept verbatim. Everything here works on
bytes and strings only; :class:`UspError` is the only exception parsing raises.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shim import boundedjson

MAX_HEADER_BYTES = 8192  # far above anything the SDK sends; bounds work on garbage input


class UspError(ValueError):
    """The bytes are not a valid USP message."""


class Headers(Mapping[str, str]):
    """Case-insensitive, order-preserving, immutable header mapping."""

    __slots__ = ("_items", "_lookup")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple(items)
        self._lookup: dict[str, str] = {}
        for name, value in self._items:
            self._lookup.setdefault(name.lower(), value)

    def __getitem__(self, name: str) -> str:
        return self._lookup[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


@dataclass(frozen=True)
class Message:
    """One parsed USP message. ``body`` is ``str`` for text frames, ``bytes`` for binary."""

    headers: Headers
    body: str | bytes

    @property
    def path(self) -> str:
        return self.headers["Path"]

    @property
    def request_id(self) -> str | None:
        return self.headers.get("X-RequestId")

    def json(self) -> Any:
        """The body as JSON (an empty body is ``None``); raises :class:`UspError`."""
        text = self.body.decode("utf-8", "replace") if isinstance(self.body, bytes) else self.body
        if not text.strip():
            return None
        try:
            return boundedjson.loads(text)
        except ValueError as exc:
            raise UspError(f"{self.path}: body is not valid JSON ({exc})") from None


_NAME = re.compile(r"\S+")  # a header name: no whitespace (one regex call, not a loop per char)


def _parse_header_lines(block: str) -> Headers:
    items: list[tuple[str, str]] = []
    for line in block.split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not _NAME.fullmatch(name):
            raise UspError(f"malformed header line {line[:60]!r}")
        items.append((name, value.strip()))
    headers = Headers(items)
    if not headers.get("Path"):
        raise UspError("message has no Path header")
    return headers


def parse_text(frame: str) -> Message:
    """Parse a text frame: CRLF header lines, an empty line, the body."""
    head, sep, body = frame.partition("\r\n\r\n")
    if not sep:
        # A message with headers only may end without the blank line.
        head, body = frame, ""
    if len(head) > MAX_HEADER_BYTES:
        raise UspError("header block too large")
    return Message(_parse_header_lines(head), body)


def parse_binary(frame: bytes) -> Message:
    """Parse a binary frame: 2-byte big-endian header length, headers, payload."""
    if len(frame) < 2:
        raise UspError("binary message shorter than its 2-byte header length")
    (length,) = struct.unpack_from(">H", frame)
    if length == 0 or length > MAX_HEADER_BYTES or 2 + length > len(frame):
        raise UspError(f"binary header length {length} does not fit a {len(frame)}-byte message")
    try:
        block = frame[2 : 2 + length].decode("ascii")
    except UnicodeDecodeError:
        raise UspError("binary header block is not ASCII") from None
    return Message(_parse_header_lines(block), bytes(frame[2 + length :]))


def timestamp(now: datetime | None = None) -> str:
    """``X-Timestamp`` value: ISO 8601 UTC with milliseconds."""
    moment = now or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _header_block(headers: Iterable[tuple[str, str]]) -> str:
    lines = []
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise UspError(f"header {name!r} would break the framing")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines)


def _standard_headers(
    path: str,
    request_id: str | None,
    content_type: str | None,
    extra: Iterable[tuple[str, str]],
    now: datetime | None,
) -> list[tuple[str, str]]:
    headers = [("Path", path)]
    if request_id is not None:
        headers.append(("X-RequestId", request_id))
    headers.append(("X-Timestamp", timestamp(now)))
    if content_type:
        headers.append(("Content-Type", content_type))
    headers.extend(extra)
    return headers


def build_text(
    path: str,
    request_id: str | None,
    body: str | Mapping[str, Any] | None = None,
    *,
    content_type: str | None = "application/json; charset=utf-8",
    extra: Iterable[tuple[str, str]] = (),
    now: datetime | None = None,
) -> str:
    """A text frame. A mapping body is serialised as compact JSON."""
    headers = _standard_headers(path, request_id, content_type, extra, now)
    if body is None:
        text = ""
    elif isinstance(body, str):
        text = body
    else:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return _header_block(headers) + "\r\n" + text


def build_binary(
    path: str,
    request_id: str | None,
    payload: bytes,
    *,
    content_type: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    now: datetime | None = None,
) -> bytes:
    """A binary frame: big-endian header length, CRLF-terminated header lines, payload."""
    headers = _standard_headers(path, request_id, content_type, extra, now)
    try:
        block = _header_block(headers).encode("ascii")
    except UnicodeEncodeError:
        raise UspError("binary header values must be ASCII") from None
    if len(block) > MAX_HEADER_BYTES:
        raise UspError("header block too large")
    return struct.pack(">H", len(block)) + block + payload
