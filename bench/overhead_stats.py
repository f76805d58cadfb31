"""From what the clients and the process sampler saw to the benchmark's figures.

Pure functions over plain data: no processes, no sockets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import numpy as np

from bench.overhead_plan import Plan

MS = 1000.0


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


@dataclass
class SideLatencies:
    """Latencies (ms) of one side, by utterance index, plus what went wrong."""

    by_index: dict[int, list[float]] = field(default_factory=dict)
    missing: int = 0  # the audio was sent, the final never came
    not_reached: int = 0  # streaming gave up before the utterance's end was sent
    wrong_text: int = 0
    extra: int = 0  # finals beyond the script's utterances: duplicated results
    errors: list[str] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)
    partials: int = 0
    reported: bool = True  # False: the worker was too starved to report in time

    @property
    def pooled(self) -> list[float]:
        return [value for values in self.by_index.values() for value in values]

    def medians(self) -> dict[int, float]:
        return {index: median(values) for index, values in self.by_index.items() if values}


def side_latencies(
    plan: Plan, records: Sequence[dict[str, Any]] | None, t0: float
) -> SideLatencies:
    """Final ``k`` of a session answers utterance ``k``: latency = arrival − crossing send."""
    side = SideLatencies(reported=records is not None)
    for record in records or []:
        session = record["session"]
        sent, finals = record["sent"], record["finals"]
        due = plan.schedule(session, t0)
        side.send_lag_ms += [(s - d) * MS for s, d in zip(sent, due, strict=False)]
        side.partials += record["partials"]
        side.errors += [f"session {session}: {e}" for e in record["errors"]]
        side.extra += max(0, len(finals) - len(plan.utterances(session)))
        for utterance in plan.utterances(session):
            if utterance.crossing_chunk >= len(sent):
                side.not_reached += 1
                continue
            if utterance.index >= len(finals):
                side.missing += 1
                continue
            arrived, text = finals[utterance.index]
            if text != utterance.text:
                side.wrong_text += 1
                continue
            latency = (arrived - sent[utterance.crossing_chunk]) * MS
            side.by_index.setdefault(utterance.index, []).append(latency)
    return side


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


def added_latency(shim: SideLatencies, direct: SideLatencies) -> dict[str, Any]:
    """Shim minus direct SDK: per-utterance-index medians, and the pooled quantiles.

    Shim session i and direct session i are independent (each SDK polls its socket on its own
    10 ms clock), so single pairs mostly measure polling phase; the median over sessions of the
    same utterance cancels that, and the difference of those medians is the added latency.
    """
    shim_medians, direct_medians = shim.medians(), direct.medians()
    common = sorted(set(shim_medians) & set(direct_medians))
    differences = [shim_medians[i] - direct_medians[i] for i in common]
    shim_pooled, direct_pooled = shim.pooled, direct.pooled
    return {
        "per_index_median_difference": summary(differences),
        "per_index": {str(i): round(d, 3) for i, d in zip(common, differences, strict=True)},
        "p50_difference": _difference(shim_pooled, direct_pooled, 50),
        "p99_difference": _difference(shim_pooled, direct_pooled, 99),
    }


def _difference(a: Sequence[float], b: Sequence[float], q: float) -> float | None:
    pa, pb = percentile(a, q), percentile(b, q)
    return None if pa is None or pb is None else pa - pb


def side_report(side: SideLatencies) -> dict[str, Any]:
    return {
        "reported": side.reported,
        "latency_ms": summary(side.pooled),
        "send_lag_ms": summary(side.send_lag_ms),
        "finals_missing": side.missing,
        "utterances_not_reached": side.not_reached,
        "finals_wrong_text": side.wrong_text,
        "finals_extra": side.extra,
        "partials": side.partials,
        "errors": side.errors[:20],
        "error_count": len(side.errors),
    }


@dataclass(frozen=True)
class CpuWindow:
    """CPU-seconds a process used between the start of streaming and the last chunk sent,
    and the audio (all sessions together) streamed in that window."""

    cpu_seconds: float
    wall_seconds: float
    audio_seconds: float

    @property
    def per_audio_second(self) -> float:
        return self.cpu_seconds / self.audio_seconds

    def as_dict(self) -> dict[str, float]:
        return {
            "cpu_seconds": round(self.cpu_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "audio_seconds": round(self.audio_seconds, 1),
            "cores_busy": round(self.cpu_seconds / self.wall_seconds, 3),
            "cpu_per_audio_second": self.per_audio_second,
        }


def cpu_report(shim: CpuWindow, direct: CpuWindow) -> dict[str, Any]:
    """The shim's overhead is what it spends beyond the same SDK work done directly."""
    own = direct.per_audio_second
    total = shim.per_audio_second
    return {
        "shim": shim.as_dict(),
        "direct_sdk": direct.as_dict(),
        "overhead_per_audio_second": total - own,
        "overhead_ratio": (total - own) / own if own > 0 else None,
    }


def rss_per_session_mb(idle: int, peak: int, sessions: int) -> float:
    return (peak - idle) / sessions / (1 << 20)
