"""No key or token in any log line of the test run (a pytest plugin; tests/conftest.py loads it).

What is scanned:
* every log record of the pytest process: a handler on the root logger for the whole run,
  with the ``shim`` loggers at DEBUG so that nothing is dropped before the scan. The handler
  has no :class:`~shim.logs.RedactionFilter`: a leak is caught where the code logs it, not
  hidden by the last line of defence;
* the log files (standard error) of the server processes tests start with
  ``tests.support.processes.start_process``: after each test the new lines, and once more at
  the end.

A line leaks when it holds
* a known test secret: keys the in-process servers checked (every key goes through
  ``shim.auth.keys.key_digest``), emulator scenario keys (they are subscription keys),
  credential values given to ``start_process`` (environment variables whose name has KEY,
  SECRET or TOKEN; ``--speech-key``, ``--token-secret``, the ``--client-keys`` file), and
  whatever a test passes to :func:`known_secret`;
* a JWT (the shape of the tokens /sts/v1.0/issueToken issues);
* a credential by name (``Subscription-Key=…``, ``Authorization: Bearer …``, ``token=…``)
  whose value is not ``REDACTED`` (or ``***``).

One exception: the local Speech service's ``--scenario-dir`` maps a key to ``DIR/<key>.json``
and logs that path; a key in that form is not counted.

A leak fails the test during which it was logged (an error at teardown), or the run's last
test when a server logs it while stopping. The report masks the secret it found.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import shim.auth.authenticator
import shim.auth.keys
from shim.logs import extra_fields
from shim.redaction import REDACTED, SECRET_NAMES

_lock = threading.Lock()
_secrets: set[str] = set()
_files: dict[Path, int] = {}  # log file → bytes already scanned
_leaks: list[str] = []

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+")
_NAMES = "|".join(re.escape(n) for n in sorted(SECRET_NAMES, key=len, reverse=True))
_NAMED = re.compile(
    rf"(?<![\w-])(?:{_NAMES})[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?(?P<value>[^\s\"'&,;)}}\]]+)",
    re.IGNORECASE,
)
_SECRET_FLAGS = ("--speech-key", "--token-secret")
_SECRET_VARIABLE = re.compile(r"KEY|SECRET|TOKEN", re.IGNORECASE)
_MIN_LENGTH = 6  # shorter values ("key", "open") would match ordinary words


def known_secret(value: str) -> str:
    """Register a credential a test uses; returns it."""
    if len(value) >= _MIN_LENGTH:
        with _lock:
            _secrets.add(value)
    return value


def register_process(args: list[str], env: dict[str, str] | None, log_path: Path) -> None:
    """``start_process`` calls this: the credentials it passes, the file its log goes to."""
    for name, value in (env or {}).items():
        if _SECRET_VARIABLE.search(name) and not name.endswith("_FILE"):
            _known_entries(value)
    for flag, value in itertools.pairwise(args):
        if flag in _SECRET_FLAGS:
            known_secret(value)
        if flag == "--client-keys" and Path(value).is_file():
            _known_entries(Path(value).read_text())
    with _lock:
        _files[log_path] = 0


def _known_entries(text: str) -> None:
    """Client key entries (``key`` or ``key=azure-key@region``, comma or line separated)."""
    for item in re.split(r"[,\n]", text):
        client, _, backend = item.strip().partition("=")
        if not client.startswith(("#", "sha256:")):
            known_secret(client)
        known_secret(backend.rpartition("@")[0])


def leak_in(line: str) -> str | None:
    """What in ``line`` is a key or a token (masked), or None."""
    found = _find(line)
    return f"{found[0]} {_mask(found[1])}" if found else None


def _find(line: str) -> tuple[str, str] | None:
    # The local Speech service's --scenario-dir picks DIR/<key>.json and names the file it
    # loads: the key selects a test script there, and that path is not counted as a leak.
    with _lock:
        secrets = [s for s in _secrets if s in line.replace(f"/{s}.json", "")]
    if secrets:
        return "test secret", secrets[0]
    jwt = _JWT.search(line)
    if jwt:
        return "token", jwt[0]
    for match in _NAMED.finditer(line):
        if match["value"] != REDACTED and match["value"].strip("*"):  # *** masks too
            return "credential", match["value"]
    return None


def _mask(secret: str) -> str:
    return secret[:3] + "…" if len(secret) > 6 else "…"


def _record(source: str, line: str) -> None:
    found = _find(line)
    if found:
        kind, secret = found
        shown = line.replace(secret, _mask(secret))[:300]
        with _lock:
            _leaks.append(f"{source}: {kind} {_mask(secret)} in: {shown}")


class _ScanHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken record is not a leak
            return
        parts = [text, *(str(v) for v in extra_fields(record).values())]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        _record(f"log record {record.name}", " ".join(parts))


def _scan_files() -> None:
    with _lock:
        files = list(_files.items())
    for path, offset in files:
        try:
            with path.open("rb") as log:
                log.seek(offset)
                new = log.read()
        except FileNotFoundError:
            continue
        # scan whole lines only; a line still being written is read next time
        end = new.rfind(b"\n") + 1
        with _lock:
            _files[path] = offset + end
        for line in new[:end].decode(errors="replace").splitlines():
            _record(f"{path.name}", line)


def _take_leaks() -> list[str]:
    _scan_files()
    with _lock:
        leaks, _leaks[:] = list(_leaks), []
    return leaks


@pytest.fixture(scope="session", autouse=True)
def _log_scan_session() -> Iterator[None]:
    """Install the scan for the whole run; the last check runs after every server stopped."""
    handler = _ScanHandler(level=logging.DEBUG)
    root, shim_logger = logging.getLogger(), logging.getLogger("shim")
    root.addHandler(handler)
    previous_level = shim_logger.level
    shim_logger.setLevel(logging.DEBUG)
    original_digest = shim.auth.keys.key_digest
    hashing_modules = (shim.auth.keys, shim.auth.authenticator)

    def recording_digest(key: str) -> bytes:
        known_secret(key)
        return original_digest(key)

    for module in hashing_modules:  # every key and token an in-process server checks
        module.key_digest = recording_digest  # type: ignore[attr-defined]
    try:
        yield
        leaks = _take_leaks()
        assert not leaks, "keys or tokens in the logs:\n" + "\n".join(leaks)
    finally:
        for module in hashing_modules:
            module.key_digest = original_digest  # type: ignore[attr-defined]
        shim_logger.setLevel(previous_level)
        root.removeHandler(handler)


@pytest.fixture(autouse=True)
def _no_secrets_in_logs(_log_scan_session: None) -> Iterator[None]:
    yield
    leaks = _take_leaks()
    if leaks:
        pytest.fail("keys or tokens in the logs:\n" + "\n".join(leaks), pytrace=False)
