"""End-to-end fixtures: contract checks of every message the server sends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.contracts import ContractSuite


@pytest.fixture
def contract() -> Iterator[ContractSuite]:
    """Observers for this test's sessions (``run_session(…, **contract.observer().hooks)``);
    the test fails if any server message broke a contract."""
    suite = ContractSuite()
    yield suite
    assert suite.problems == [], "\n".join(suite.problems)
