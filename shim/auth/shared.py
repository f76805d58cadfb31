"""Session counts and passthrough keys shared by the worker processes of one server.

``serve --workers N`` runs N processes behind one port; a per-key session limit must hold,
and a passthrough token minted by one worker must work on another, whichever worker a
connection lands on. The supervisor gives every worker the same private directory (mode
0700, under ``/dev/shm`` when there is one, so nothing reaches a disk):

* ``sessions/``: one empty lease file per open session, ``<subject>.<pid>.<serial>``; a count
  is a directory listing under an exclusive ``flock``. Leases of a process that died are
  ignored (and removed by the supervisor when it replaces the worker), so a crash never
  leaves a key locked out. ``pool/`` is the same, per Speech resource: ``max_sessions`` of
  the pool file holds across the workers.
* ``keys/``: for passthrough tokens, one file per token subject with the key and its expiry
  (mode 0600), written atomically. The same trust domain as the process memory that holds it
  in single-process mode: the server's user on the server's machine.

Memory: nothing is held in the process; a listing costs one directory read per handshake.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SharedSessionCounts:
    """Open sessions per subject, across processes."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_path = directory / ".lock"
        self._serial = itertools.count()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _leases(self, subject: str) -> list[str]:
        prefix = subject + "."
        leases = []
        for name in os.listdir(self._directory):
            if name.startswith(prefix):
                pid = name[len(prefix) :].split(".")[0]
                if pid.isdigit() and _alive(int(pid)):
                    leases.append(name)
        return leases

    def count(self, subject: str) -> int:
        return len(self._leases(subject))

    def counts(self) -> dict[str, int]:
        """Open sessions of every subject that has any (one directory listing)."""
        counts: Counter[str] = Counter()
        for name in os.listdir(self._directory):
            subject, _, rest = name.partition(".")
            pid = rest.split(".")[0]
            if subject and pid.isdigit() and _alive(int(pid)):
                counts[subject] += 1
        return dict(counts)

    def open(self, subject: str, limit: int | None) -> Callable[[], None] | None:
        """Take a lease (None: ``limit`` leases are already held); returns its release."""
        with self._locked():
            if limit is not None and len(self._leases(subject)) >= limit:
                return None
            return self._lease(subject)

    def open_chosen(
        self, choose: Callable[[Mapping[str, int]], str | None]
    ) -> Callable[[], None] | None:
        """Under the lock, ``choose`` sees every subject's count and names the subject to take
        a lease on (None: none); returns the lease's release. Subjects must hold no dot."""
        with self._locked():
            subject = choose(self.counts())
            return None if subject is None else self._lease(subject)

    def _lease(self, subject: str) -> Callable[[], None]:
        lease = self._directory / f"{subject}.{os.getpid()}.{next(self._serial)}"
        lease.touch(mode=0o600)

        def release() -> None:
            with contextlib.suppress(FileNotFoundError):
                lease.unlink()

        return release

    def forget_process(self, pid: int) -> None:
        """Remove the leases a dead worker left behind."""
        with self._locked():
            for name in os.listdir(self._directory):
                parts = name.split(".")
                if len(parts) == 3 and parts[1] == str(pid):
                    with contextlib.suppress(FileNotFoundError):
                        (self._directory / name).unlink()


class SharedKeyMemory:
    """Passthrough keys by token subject, until their tokens expire, across processes.

    Times are ``time.monotonic()``: CLOCK_MONOTONIC is one clock for every process of a machine.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def remember(self, subject: str, key: str, expires: float) -> None:
        path = self._directory / subject
        scratch = self._directory / f".{subject}.{os.getpid()}"
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"key": key, "expires": expires}, out)
        os.replace(scratch, path)

    def recall(self, subject: str) -> str | None:
        path = self._directory / subject
        try:
            entry = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("expires", 0) < time.monotonic():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return None
        key = entry.get("key")
        return key if isinstance(key, str) else None
