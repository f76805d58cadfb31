"""The drop-in server's ``/metrics``, scraped and looked up by name and labels."""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

P = "translator_speech_shim_"


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``url``/metrics, keyed by name and sorted labels."""
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape_settled(url: str, before: Samples) -> Samples:
    """Scrape once the sessions that closed have been counted (the count follows the close)."""
    ended_before = sum(v for (n, _), v in before.items() if n == P + "sessions_total")
    after = await scrape(url)
    for _ in range(100):
        ended = sum(v for (n, _), v in after.items() if n == P + "sessions_total")
        if ended > ended_before and value(after, "sessions_open") == 0:
            break
        await asyncio.sleep(0.05)
        after = await scrape(url)
    return after


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((P + name, tuple(sorted(labels.items()))), 0.0)
