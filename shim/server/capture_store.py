"""The capture directory: owner-only files, a total size bound, a retention age.

A capture is written as ``<UTC start>-<request id>.jsonl.partial`` and renamed to
``….jsonl`` when its session has ended, so ``replay-set`` reads only whole sessions and a
crash leaves a partial file that the retention age removes later. The directory is created
``0700`` and every file ``0600`` (audio is personal data).

Eviction: :meth:`CaptureStore.make_room` first removes every file older than the retention
age (by its last write), then the oldest complete captures until the directory's total plus
what the caller is about to write fits the size bound. Captures still being written are never
evicted for size; if they alone fill the bound there is no room, and the caller drops its
capture. The total is read from the directory itself, so with ``--workers`` every worker
(and every pod sharing a volume) enforces one bound over one directory without a shared
counter; an advisory ``flock`` on ``.lock`` keeps two of them from evicting at once. A
worker looks again after each :data:`RESCAN_BYTES` it writes (a sixteenth of the bound when
that is less), so the directory exceeds the bound by at most that much per writing process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

COMPLETE = ".jsonl"
PARTIAL = ".jsonl.partial"
LOCK = ".lock"
RESCAN_BYTES = 1 << 20


@dataclass(frozen=True)
class _Entry:
    path: Path
    size: int
    modified: float

    @property
    def complete(self) -> bool:
        return self.path.name.endswith(COMPLETE)


@dataclass(frozen=True)
class Evicted:
    """What one :meth:`CaptureStore.make_room` removed, by reason."""

    aged: int = 0
    for_size: int = 0


class CaptureStore:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        retention_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.retention_seconds = retention_seconds
        self._clock = clock

    def prepare(self) -> None:
        """Create the directory (owner-only); an existing one is used as it is."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def create(self, name: str) -> int:
        """A new owner-only partial file for capture ``name``; its file descriptor."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        return os.open(self.directory / (name + PARTIAL), flags, 0o600)

    def complete(self, name: str) -> Path:
        """The capture is whole: ``….jsonl.partial`` becomes ``….jsonl``."""
        done = self.directory / (name + COMPLETE)
        os.replace(self.directory / (name + PARTIAL), done)
        return done

    def discard(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / (name + PARTIAL)).unlink()

    def make_room(self, needed: int) -> tuple[bool, Evicted]:
        """Evict aged captures, then the oldest complete ones while the directory plus
        ``needed`` bytes exceeds the bound; whether ``needed`` now fits."""
        with self._locked():
            entries = sorted(self._entries(), key=lambda e: e.modified)
            cutoff = self._clock() - self.retention_seconds
            aged = [e for e in entries if e.modified < cutoff]
            for entry in aged:
                _remove(entry.path)
            kept = [e for e in entries if e.modified >= cutoff]
            total = sum(e.size for e in kept)
            for_size = 0
            for entry in kept:
                if total + needed <= self.max_bytes:
                    break
                if entry.complete:
                    _remove(entry.path)
                    total -= entry.size
                    for_size += 1
            return total + needed <= self.max_bytes, Evicted(len(aged), for_size)

    def total_bytes(self) -> int:
        return sum(entry.size for entry in self._entries())

    def _entries(self) -> Iterator[_Entry]:
        try:
            scan = os.scandir(self.directory)
        except FileNotFoundError:
            return
        with scan:
            for item in scan:
                if not item.name.endswith((COMPLETE, PARTIAL)):
                    continue
                try:
                    stat = item.stat(follow_symlinks=False)
                except FileNotFoundError:  # another worker evicted or renamed it
                    continue
                yield _Entry(Path(item.path), stat.st_size, stat.st_mtime)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.directory / LOCK, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):  # another worker was first
        path.unlink()
