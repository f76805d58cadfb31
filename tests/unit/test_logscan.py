"""The suite-wide scan (tests/logscan.py) finds keys and tokens where they would leak."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support import logscan

pytestmark = pytest.mark.unit

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhYmMifQ.c2lnbmF0dXJlLXZhbHVl"


def test_a_key_logged_in_this_process_is_found_and_masked_in_the_report() -> None:
    key = logscan.known_secret("scan-self-test-key-0042")
    logging.getLogger("shim.test").warning("oops %s", key)
    leaks = logscan._take_leaks()  # taken here, so this test itself does not fail
    assert len(leaks) == 1 and "test secret" in leaks[0] and key not in leaks[0]


def test_a_credential_in_a_server_log_file_is_found(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    log.write_text("")
    secret = "env-secret-0123456789"
    logscan.register_process(["serve"], {"SHIM_TOKEN_SECRET": secret}, log)
    with log.open("a") as out:
        out.write("INFO shim: fine line\n")
        out.write(f"INFO shim: secret is {secret}\n")
        out.write(f"INFO shim: token {JWT}\n")
        out.write("INFO shim: GET /x?Subscription-Key=abc123def 200\n")
        out.write("INFO shim: GET /x?Subscription-Key=REDACTED 200\n")
        out.write("INFO shim: half a line with env-secret-01")  # no newline yet: next time
    leaks = logscan._take_leaks()
    logscan._files.pop(log)  # the rest of the run need not read it again
    assert [leak.split(": ", 1)[1].split(" in: ")[0] for leak in leaks] == [
        "test secret env…",
        "token eyJ…",
        "credential abc…",
    ]
    assert not any(secret in leak or JWT in leak for leak in leaks)


@pytest.mark.parametrize(
    "line",
    [
        "session 73ea start: client=key 8b5b9db0 trace=-",
        "connection 6f open: translation, key 7ffc56b7, scenario /tmp/s/tdeadbeef0123.json",
        'GET /languages?api-version=1.0&access_token=*** 200 "-"',
        "no token secret configured (--token-secret / SHIM_TOKEN_SECRET)",
    ],
)
def test_ordinary_lines_are_not_leaks(line: str) -> None:
    logscan.known_secret("tdeadbeef0123")
    assert logscan.leak_in(line) is None
