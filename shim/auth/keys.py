"""Client keys: parsing the keys file or ``SHIM_CLIENT_KEYS``, constant-time matching.

Only SHA-256 digests are kept, so a memory dump or a repr never shows a client key, and the
file may itself list digests (``sha256:<hex>``) so that it holds no secret at all. Backend
credentials a key maps to (``key=azure-key@region``) are secrets by nature and are kept as
given, behind a redacting repr. The only thing about a key that is ever logged is its
:func:`fingerprint` (AU4).

File format, one entry per line (blank lines and lines starting with ``#`` are skipped)::

    client-key                       any non-empty string without whitespace
    sha256:<64 hex digits>           the SHA-256 of the UTF-8 key
    client-key=azure-key@region      either form, mapped to its own Azure resource
    client-key=pool:NAME             either form, its sessions on a pool (or one resource)
                                     of the pool file (``serve --backends``)

Any form may be followed, after whitespace, by the key's capture choice (``serve
--capture-dir``): ``capture=always`` (opt in: every session of the key is captured) or
``capture=never`` (opt out: none is); without one its sessions are sampled at the rate.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

_MAPPED = re.compile(r"(?P<client>\S+?)=(?P<azure>[^\s=@]+)@(?P<region>[A-Za-z0-9-]+)")
_POOL = re.compile(r"(?P<client>\S+?)=pool:(?P<pool>[A-Za-z0-9_-]{1,64})")
CaptureChoice = Literal["always", "never"] | None
_CAPTURE_CHOICES: dict[str, CaptureChoice] = {"capture=always": "always", "capture=never": "never"}
_DIGEST = re.compile(r"sha256:(?P<hex>[0-9a-f]{64})", re.IGNORECASE)


class KeyFileError(ValueError):
    """A malformed entry; the message names the line, never its content."""


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def fingerprint(key: str) -> str:
    """First 8 hex digits of the key's SHA-256: the only form of a key that may be logged."""
    return key_digest(key).hex()[:8]


@dataclass(frozen=True)
class BackendCredentials:
    """An Azure Speech resource to run a session on: subscription key and region."""

    subscription_key: str = field(repr=False)
    region: str | None  # None when the server's backend is a host or endpoint

    def __repr__(self) -> str:
        return (
            f"BackendCredentials(key={fingerprint(self.subscription_key)}, region={self.region!r})"
        )


@dataclass(frozen=True)
class ClientKey:
    digest: bytes = field(repr=False)
    backend: BackendCredentials | None = None  # None: the server's default backend
    pool: str | None = None  # a pool or resource of the pool file, instead of ``backend``
    capture: CaptureChoice = None  # the key's own capture choice (opt in or out)

    @property
    def fingerprint(self) -> str:
        return self.digest.hex()[:8]

    def __repr__(self) -> str:
        return (
            f"ClientKey({self.fingerprint}, backend={self.backend!r}, pool={self.pool!r},"
            f" capture={self.capture})"
        )


@dataclass(frozen=True)
class ClientKeys:
    entries: tuple[ClientKey, ...]

    @classmethod
    def parse(cls, text: str) -> ClientKeys:
        """Parse the file format above. Raises :class:`KeyFileError`."""
        return cls._from_lines(enumerate(text.splitlines(), start=1), "line")

    @classmethod
    def load(cls, path: str | Path) -> ClientKeys:
        return cls.parse(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def from_env(cls, value: str) -> ClientKeys:
        """``SHIM_CLIENT_KEYS``: entries separated by newlines or commas."""
        items = value.replace(",", "\n").splitlines()
        return cls._from_lines(enumerate(items, start=1), "entry")

    @classmethod
    def _from_lines(cls, lines: Iterable[tuple[int, str]], unit: str) -> ClientKeys:
        entries: dict[bytes, tuple[int, ClientKey]] = {}
        for number, raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            entry = _entry(line, f"{unit} {number}")
            previous = entries.get(entry.digest)
            if previous is not None and previous[1] != entry:
                raise KeyFileError(
                    f"{unit} {number}: the same client key as {unit} {previous[0]} "
                    "with other backend credentials"
                )
            entries.setdefault(entry.digest, (number, entry))
        return cls(tuple(entry for _, entry in entries.values()))

    def match(self, key: str) -> ClientKey | None:
        """The entry for ``key``. Compares against every entry with ``hmac.compare_digest``
        so the time taken says nothing about which keys exist."""
        digest = key_digest(key)
        found = None
        for entry in self.entries:
            if hmac.compare_digest(entry.digest, digest):
                found = entry
        return found

    def __len__(self) -> int:
        return len(self.entries)

    def pools(self) -> frozenset[str]:
        """The pool names the keys map to (each must be in the pool file)."""
        return frozenset(entry.pool for entry in self.entries if entry.pool is not None)


def _entry(text: str, where: str) -> ClientKey:
    line, *options = text.split()
    capture: CaptureChoice = None
    for option in options:
        if option.lower() not in _CAPTURE_CHOICES:
            raise KeyFileError(f"{where}: after the key only capture=always or capture=never")
        capture = _CAPTURE_CHOICES[option.lower()]
    return replace(_key_entry(line, where), capture=capture)


def _key_entry(line: str, where: str) -> ClientKey:
    backend = None
    pool = None
    client = line
    pooled = _POOL.fullmatch(line)
    mapped = _MAPPED.fullmatch(line)
    if pooled is not None:
        client, pool = pooled.group("client"), pooled.group("pool")
    elif mapped is not None:
        client = mapped.group("client")
        region = mapped.group("region").lower()
        backend = BackendCredentials(mapped.group("azure"), region)
    if any(c.isspace() for c in client):
        raise KeyFileError(f"{where}: a key cannot contain whitespace")
    if client.lower().startswith("sha256:"):
        digest = _DIGEST.fullmatch(client)
        if digest is None:
            raise KeyFileError(f"{where}: sha256: must be followed by 64 hex digits")
        return ClientKey(bytes.fromhex(digest.group("hex")), backend, pool)
    return ClientKey(key_digest(client), backend, pool)
