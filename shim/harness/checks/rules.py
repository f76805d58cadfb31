"""The legacy protocol rules checked on a recorded session (ids of legacy-rules.md).

One function per rule, each returning the frames that broke it, so ``validate``,
``conformance`` and the test fixture judge a session the same way. MUST rules fail;
SHOULD rules (ER1, ER4) only warn, as the original behaviour is unknown there. ``CT*`` rows
are the machine-readable contracts, ``RC1`` the recording format itself. The rules live in
one module per family (``rules_handshake``: RC1, HS, CT2; ``rules_client``: AI;
``rules_results``: CT1, RS; ``rules_tts``: TS; ``rules_closing``: ER), over ``rule_base``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shim.harness.checks import (
    rules_client,
    rules_closing,
    rules_handshake,
    rules_results,
    rules_tts,
)
from shim.harness.checks.rule_base import NotApplicable, Rule, RuleResult, read_session
from shim.harness.recordings.recording import Recording

RULES: tuple[Rule, ...] = (
    rules_handshake.RULES
    + rules_client.RULES
    + rules_results.RULES
    + rules_tts.RULES
    + rules_closing.RULES
)
"""Every rule, in the order of the table in legacy-rules.md (and of every report)."""


def check_recording(
    recording: Recording, lines: Sequence[tuple[int, Any]] | None = None
) -> list[RuleResult]:
    """Every rule on one recording, in table order. ``lines`` (the file's parsed lines) make
    RC1 check the file as written rather than as re-serialised."""
    session = read_session(recording, lines)
    results = []
    for rule in RULES:
        result = RuleResult(rule.id, rule.title, rule.level)
        try:
            result.findings = rule.check(session)
        except NotApplicable as reason:
            result.applicable, result.note = False, str(reason)
        results.append(result)
    return results


def failed(results: Sequence[RuleResult]) -> list[RuleResult]:
    return [result for result in results if result.status == "fail"]
