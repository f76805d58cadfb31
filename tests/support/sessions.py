"""``run_session`` for end-to-end tests: every server frame checked against the contracts."""

from __future__ import annotations

from typing import Any

from shim.harness.session.client import SessionOutcome, run_session
from tests.support.contracts import ContractObserver


async def checked_session(
    url: str, headers: Any, wav: bytes, profile: str, **options: Any
) -> SessionOutcome:
    """Run a legacy session; fail the test on any contract breach by the server."""
    observer = ContractObserver(profile)
    outcome = await run_session(url, headers, wav, profile, **observer.hooks, **options)
    assert observer.problems == [], "\n".join(observer.problems)
    return outcome
