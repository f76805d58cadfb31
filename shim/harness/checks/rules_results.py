"""The result rules (RS1–RS8) and the result contract (CT1)."""

from __future__ import annotations

import re

from shim.audiotime import BYTES_PER_SECOND, TICKS_PER_SECOND
from shim.harness.checks import schemas
from shim.harness.checks.rule_base import Finding, NotApplicable, Rule, Session
from shim.harness.recordings.messages import Result

TIMING_FIELDS = ("audioStreamPosition", "audioSizeBytes", "audioTimeOffset", "audioTimeSize")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _language(code: str) -> str:
    return code.split("-")[0].split("_")[0].lower()


def _results_or_na(session: Session) -> list[Result]:
    if not session.results:
        raise NotApplicable("the server sent no text message")
    return session.results


def _result_contract(session: Session) -> list[Finding]:
    findings = []
    for result in _results_or_na(session):
        if result.document is None:
            findings.append(
                Finding(result.message.first, f"not a JSON object: {result.raw[:80]!r}")
            )
            continue
        for problem in schemas.problems(schemas.RESULT, result.document)[:1]:
            findings.append(Finding(result.message.first, problem))
    return findings


def _single_compact_frame(session: Session) -> list[Finding]:
    findings = []
    for result in _results_or_na(session):
        message = result.message
        if len(message.frames) != 1 or not message.complete:
            findings.append(Finding(message.first, f"a result in {len(message.frames)} frames"))
        elif result.document is None:
            findings.append(Finding(message.first, "not JSON"))
        elif re.search(r"\s", _STRING.sub('""', result.raw)):
            findings.append(
                Finding(message.first, "JSON is not compact (whitespace between tokens)")
            )
    return findings


def _only_partial_and_final(session: Session) -> list[Finding]:
    return [
        Finding(r.message.first, f"message type {r.type or r.raw[:40]!r}")
        for r in _results_or_na(session)
        if r.type not in ("partial", "final")
    ]


def _final_ids(session: Session) -> list[Finding]:
    finals = [r for r in _results_or_na(session) if r.type == "final"]
    return [
        Finding(r.message.first, f'final id {r.id!r}, expected "{index}"')
        for index, r in enumerate(finals)
        if r.id != str(index)
    ]


def _partial_ids(session: Session) -> list[Finding]:
    findings, finals, last_k = [], 0, -1
    for result in _results_or_na(session):
        if result.type == "final":
            finals, last_k = finals + 1, -1
        elif result.type == "partial":
            match = re.fullmatch(r"([0-9]+)\.([0-9]+)", result.id)
            if match is None:
                findings.append(Finding(result.message.first, f"partial id {result.id!r}"))
                continue
            n, k = int(match[1]), int(match[2])
            if n != finals:
                findings.append(
                    Finding(
                        result.message.first,
                        f"partial {result.id} but the coming final is {finals}",
                    )
                )
            elif k <= last_k:
                findings.append(
                    Finding(
                        result.message.first,
                        f"partial {result.id} after {n}.{last_k}: k must increase",
                    )
                )
            last_k = max(last_k, k)
    return findings


def _partials_only_when_asked(session: Session) -> list[Finding]:
    if "partial" in session.features:
        raise NotApplicable("Partial was requested")
    return [
        Finding(r.message.first, "a partial without Partial in features")
        for r in _results_or_na(session)
        if r.type == "partial"
    ]


def _texts_present(session: Session) -> list[Finding]:
    return [
        Finding(r.message.first, f"{name} missing or not a string")
        for r in _results_or_na(session)
        for name in ("recognition", "translation")
        if not isinstance(r.field(name), str)
    ]


def _timing(session: Session) -> list[Finding]:
    results = _results_or_na(session)
    if "timinginfo" not in session.features:
        return [
            Finding(r.message.first, "timing fields without TimingInfo")
            for r in results
            if any(r.field(name) is not None for name in TIMING_FIELDS)
        ]
    findings: list[Finding] = []
    previous_end: int | None = None
    for result in results:
        values = [result.field(name) for name in TIMING_FIELDS]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            findings.append(Finding(result.message.first, "timing fields missing or not integers"))
            continue
        position, size, offset, duration = values
        for ticks, count, names in (
            (offset, position, "audioTimeOffset/audioStreamPosition"),
            (duration, size, "audioTimeSize/audioSizeBytes"),
        ):
            if ticks * BYTES_PER_SECOND != count * TICKS_PER_SECOND:
                findings.append(
                    Finding(
                        result.message.first,
                        f"{names} = {ticks}/{count}: bytes ≠ ticks × 32000 / 10⁷",
                    )
                )
        if result.type == "final":
            if previous_end is not None and offset < previous_end:
                findings.append(
                    Finding(
                        result.message.first,
                        f"final starts at {offset} ticks, before the previous one ended"
                        f" ({previous_end})",
                    )
                )
            previous_end = offset + duration
    return findings


def _same_language_repeats(session: Session) -> list[Finding]:
    source, target = session.params.get("from", ""), session.params.get("to", "")
    if not source or _language(source) != _language(target):
        raise NotApplicable("from and to are different languages")
    return [
        Finding(r.message.first, f"translation {r.translation!r} ≠ recognition {r.recognition!r}")
        for r in _results_or_na(session)
        if r.translation != r.recognition
    ]


RULES: tuple[Rule, ...] = (
    Rule("CT1", "every result matches legacy-result.schema.json", "MUST", _result_contract),
    Rule(
        "RS1",
        "each result is one unfragmented text frame of compact JSON",
        "MUST",
        _single_compact_frame,
    ),
    Rule("RS2", 'only "partial" and "final" messages', "MUST", _only_partial_and_final),
    Rule("RS3", 'finals numbered "0", "1", … in order', "MUST", _final_ids),
    Rule("RS4", "partials N.k: N = the coming final, k increasing", "MUST", _partial_ids),
    Rule("RS5", "partials only with Partial", "MUST", _partials_only_when_asked),
    Rule("RS6", "recognition and translation strings on every result", "MUST", _texts_present),
    Rule("RS7", "timing fields only with TimingInfo, integral and consistent", "MUST", _timing),
    Rule("RS8", "same language: translation repeats recognition", "MUST", _same_language_repeats),
)
