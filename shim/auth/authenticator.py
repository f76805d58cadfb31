"""Who may use the (paid) backend: credentials → :class:`Grant`, and per-key session limits.

Modes (``--auth`` / ``SHIM_AUTH``):

* ``open``: any non-empty key or token (tokens are not even verified: the mode exists for
  the loopback-bound local Speech service, where a stale cached token must not get in the
  way). Grants use the server's default backend.
* ``keys``: only listed client keys, or tokens minted from one that is still listed
  (removing a key revokes its tokens). A key may map to its own Azure resource, or name a
  pool (or one resource) of the pool file.
* ``passthrough``: the client key *is* an Azure Speech key, used with the configured region;
  Azure, not this server, judges it. A token cannot carry the key, so the key of each token
  minted is remembered (in memory, bounded, until the token expires; with ``--workers``, in the
  workers' shared directory, :mod:`shim.auth.shared`); a token from another replica or an
  earlier process is refused.

Every refusal is :class:`~shim.legacy.errors.HandshakeError` (401 missing / invalid, 429 over
the session limit) with a message that says nothing about which keys exist (AU2, AU4).
"""

from __future__ import annotations

import enum
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol

from shim.auth.keys import BackendCredentials, CaptureChoice, ClientKeys, key_digest
from shim.auth.tokens import InvalidToken, TokenIssuer
from shim.legacy.errors import Failure, HandshakeError
from shim.legacy.request import Credential

MAX_CREDENTIAL_CHARS = 4096
MAX_REMEMBERED_KEYS = 10_000

MISSING_MESSAGE = (
    "Missing credentials: send the Ocp-Apim-Subscription-Key header, the subscription-key "
    "query parameter, Authorization: Bearer <token> or the access_token query parameter"
)
INVALID_MESSAGE = "Invalid or expired credentials"


class AuthMode(enum.StrEnum):
    OPEN = "open"
    KEYS = "keys"
    PASSTHROUGH = "passthrough"


@dataclass(frozen=True)
class Grant:
    """Permission to run sessions. ``subject`` buckets the session limit and becomes the
    ``subscription-id`` of tokens minted from it; ``backend`` None = the server's default
    (``pool``: a pool of the pool file instead of the default one)."""

    subject: str
    via: Literal["key", "token"]
    fingerprint: str | None  # first 8 hex of SHA-256 of the key, when known: loggable
    backend: BackendCredentials | None = None
    capture: CaptureChoice = None  # the key's own capture choice (keys mode)
    pool: str | None = None

    @property
    def log_label(self) -> str:
        key = self.fingerprint or f"subject {self.subject[:8]}"
        return f"{self.via} of key {key}" if self.via == "token" else f"key {key}"


class SessionSlot:
    """One open session counted against its key; release it when the session ends (use it
    as a context manager or call :meth:`release`; releasing twice is harmless)."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __enter__(self) -> SessionSlot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


class SharedSessions(Protocol):
    """Session counts kept outside this process (``shim.auth.shared.SharedSessionCounts``)."""

    def open(self, subject: str, limit: int | None) -> Callable[[], None] | None: ...

    def count(self, subject: str) -> int: ...


class SharedKeys(Protocol):
    """Passthrough keys kept outside this process (``shim.auth.shared.SharedKeyMemory``)."""

    def remember(self, subject: str, key: str, expires: float) -> None: ...

    def recall(self, subject: str) -> str | None: ...


class Authenticator:
    def __init__(
        self,
        mode: AuthMode | str,
        issuer: TokenIssuer,
        *,
        keys: ClientKeys | None = None,
        region: str | None = None,
        max_sessions_per_key: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        shared_sessions: SharedSessions | None = None,
        shared_keys: SharedKeys | None = None,
    ) -> None:
        """``shared_*``: with worker processes, the session counts and passthrough keys live
        where every worker sees them; ``clock`` must then be ``time.monotonic``."""
        self.mode = AuthMode(mode)
        if self.mode is AuthMode.KEYS and not keys:
            raise ValueError("--auth keys needs --client-keys FILE or SHIM_CLIENT_KEYS")
        if max_sessions_per_key is not None and max_sessions_per_key < 1:
            raise ValueError("--max-sessions-per-key must be at least 1")
        self.issuer = issuer
        self.max_sessions_per_key = max_sessions_per_key
        self._keys = keys or ClientKeys(())
        self._region = region
        self._clock = clock
        # Subject → entry, so a token finds the key it was minted from (keys mode).
        self._by_subject = {issuer.subject_for(entry.digest): entry for entry in self._keys.entries}
        self._remembered: OrderedDict[str, tuple[str, float]] = OrderedDict()  # passthrough
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()
        self._shared_sessions = shared_sessions
        self._shared_keys = shared_keys

    def authenticate(self, credential: Credential | None) -> Grant:
        """The grant for ``credential``, or ``HandshakeError`` 401."""
        value = credential.value.strip() if credential is not None else ""
        if credential is None or not value:
            raise HandshakeError(Failure.MISSING_CREDENTIALS, MISSING_MESSAGE)
        if len(value) > MAX_CREDENTIAL_CHARS:
            raise _invalid()
        if credential.kind == "token":
            return self._token(value)
        if credential.kind == "key":
            return self._key(value)
        raise _invalid()

    def open_session(self, grant: Grant) -> SessionSlot:
        """Count a session against ``grant``'s key; ``HandshakeError`` 429 beyond the limit."""
        if self._shared_sessions is not None:
            release = self._shared_sessions.open(grant.subject, self.max_sessions_per_key)
            if release is None:
                raise _too_many(self.max_sessions_per_key)
            return SessionSlot(release)
        with self._lock:
            count = self._open.get(grant.subject, 0)
            limit = self.max_sessions_per_key
            if limit is not None and count >= limit:
                raise _too_many(limit)
            self._open[grant.subject] = count + 1
        return SessionSlot(lambda: self._close_session(grant.subject))

    def open_sessions(self, grant: Grant) -> int:
        if self._shared_sessions is not None:
            return self._shared_sessions.count(grant.subject)
        with self._lock:
            return self._open.get(grant.subject, 0)

    # ------------------------------------------------------------------ internals

    def _key(self, key: str) -> Grant:
        digest = key_digest(key)
        subject = self.issuer.subject_for(digest)
        fingerprint = digest.hex()[:8]
        if self.mode is AuthMode.OPEN:
            return Grant(subject, "key", fingerprint)
        if self.mode is AuthMode.PASSTHROUGH:
            self._remember(subject, key)
            return Grant(subject, "key", fingerprint, self._passthrough(key))
        entry = self._keys.match(key)
        if entry is None:
            raise _invalid()
        return Grant(
            subject, "key", fingerprint, entry.backend, pool=entry.pool, capture=entry.capture
        )

    def _token(self, token: str) -> Grant:
        try:
            claims = self.issuer.verify(token)
        except InvalidToken:
            if self.mode is not AuthMode.OPEN:
                raise _invalid() from None
            return Grant(self.issuer.subject_for(key_digest(token)), "token", None)
        subject = claims.subject
        if self.mode is AuthMode.OPEN:
            return Grant(subject, "token", None)
        if self.mode is AuthMode.PASSTHROUGH:
            key = self._recall(subject)
            if key is None:
                raise _invalid()
            return Grant(subject, "token", key_digest(key).hex()[:8], self._passthrough(key))
        entry = self._by_subject.get(subject)
        if entry is None:  # the key was removed from the list: its tokens die with it
            raise _invalid()
        return Grant(
            subject,
            "token",
            entry.fingerprint,
            entry.backend,
            pool=entry.pool,
            capture=entry.capture,
        )

    def _passthrough(self, key: str) -> BackendCredentials:
        # No region: the server's backend is a host or endpoint, which needs none.
        return BackendCredentials(key, self._region)

    def _remember(self, subject: str, key: str) -> None:
        """Keep a passthrough key for as long as a token minted now may be presented."""
        expires = self._clock() + self.issuer.ttl_s + self.issuer.leeway_s
        if self._shared_keys is not None:
            self._shared_keys.remember(subject, key, expires)
            return
        with self._lock:
            self._remembered[subject] = (key, expires)
            self._remembered.move_to_end(subject)
            while len(self._remembered) > MAX_REMEMBERED_KEYS:
                self._remembered.popitem(last=False)

    def _recall(self, subject: str) -> str | None:
        if self._shared_keys is not None:
            return self._shared_keys.recall(subject)
        with self._lock:
            found = self._remembered.get(subject)
            if found is None:
                return None
            if found[1] < self._clock():
                del self._remembered[subject]
                return None
            return found[0]

    def _close_session(self, subject: str) -> None:
        with self._lock:
            count = self._open.get(subject, 0) - 1
            if count > 0:
                self._open[subject] = count
            else:
                self._open.pop(subject, None)


def _too_many(limit: int | None) -> HandshakeError:
    return HandshakeError(
        Failure.TOO_MANY_SESSIONS,
        f"Too many open sessions for this key (limit {limit}); retry later",
    )


def _invalid() -> HandshakeError:
    return HandshakeError(Failure.INVALID_CREDENTIALS, INVALID_MESSAGE)
