"""Refresh the catalog from the live services, cached with a TTL, bundled data as fallback.

Two reads: the Speech service's voices list (``GET {tts_base}/cognitiveservices/voices/list``
with the subscription key) and Translator's languages (``GET {translator_base}/languages
?api-version=3.0&scope=translation``, no key). Base URLs are parameters so the local Speech
service, which serves both paths from the bundled data, can stand in for Azure.

Each refresh logs exactly one line: INFO on success, one WARNING naming what failed (timeout,
HTTP status, bad JSON, unusable data) on any failure, never the key. A failed part keeps the
last good data of that part, or the bundled data when there never was any.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from shim.catalog.catalog import Catalog

log = logging.getLogger(__name__)

DEFAULT_TRANSLATOR_BASE = "https://api.cognitive.microsofttranslator.com"
VOICES_PATH = "/cognitiveservices/voices/list"
TRANSLATOR_PATH = "/languages"
TRANSLATOR_PARAMS = {"api-version": "3.0", "scope": "translation"}
DEFAULT_TTL_S = 6 * 3600.0
DEFAULT_TIMEOUT_S = 10.0


def default_tts_base(region: str) -> str:
    return f"https://{region}.tts.speech.microsoft.com"


class FetchError(Exception):
    """A live read failed; the message is safe to log (no key, no response body)."""


async def fetch_voices(
    session: aiohttp.ClientSession, tts_base: str, key: str, timeout_s: float
) -> Any:
    """The parsed voices list (shape checked by :func:`~shim.catalog.parse_voices_list`)."""
    url = tts_base.rstrip("/") + VOICES_PATH
    headers = {"Ocp-Apim-Subscription-Key": key}
    return await _get_json(session, "voices list", url, timeout_s, headers=headers)


async def fetch_translator_languages(
    session: aiohttp.ClientSession, translator_base: str, timeout_s: float
) -> Any:
    url = translator_base.rstrip("/") + TRANSLATOR_PATH
    return await _get_json(session, "Translator languages", url, timeout_s, TRANSLATOR_PARAMS)


async def _get_json(
    session: aiohttp.ClientSession,
    what: str,
    url: str,
    timeout_s: float,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with session.get(url, params=params, headers=headers, timeout=timeout) as response:
            if response.status != 200:
                raise FetchError(f"{what}: HTTP {response.status}")
            body = await response.read()
    except TimeoutError:
        raise FetchError(f"{what}: no answer within {timeout_s:g} s") from None
    except aiohttp.ClientError as exc:
        raise FetchError(f"{what}: {type(exc).__name__}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise FetchError(f"{what}: invalid JSON") from None


class LiveCatalog:
    """Holds the current :class:`Catalog`: bundled at first, refreshed from the live services
    when a key and region are configured, re-read in the background once ``ttl_s`` passed.

    :meth:`current` never waits on the network, so request handlers can call it freely.
    Call :meth:`refresh` at start-up and :meth:`close` at shutdown.
    """

    def __init__(
        self,
        base: Catalog | None = None,
        *,
        key: str | None = None,
        region: str | None = None,
        tts_base: str | None = None,
        translator_base: str = DEFAULT_TRANSLATOR_BASE,
        ttl_s: float = DEFAULT_TTL_S,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base or Catalog.bundled()
        self._key = key
        if tts_base is None and region:
            tts_base = default_tts_base(region)
        self._tts_base = tts_base
        self._translator_base = translator_base
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self._session = session
        self._clock = clock
        self._catalog = self.base
        self._voices: Any = None  # last good raw parts
        self._languages: Any = None
        self._refreshed_at: float | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[Catalog] | None = None

    @property
    def enabled(self) -> bool:
        """Live refresh needs Azure credentials; without them the bundled data is served."""
        return bool(self._key and self._tts_base)

    def current(self) -> Catalog:
        """The catalog to use now; schedules a background refresh when it is stale."""
        if self.enabled and self._stale() and (self._task is None or self._task.done()):
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return self._catalog
            self._task = loop.create_task(self.refresh())
        return self._catalog

    async def refresh(self) -> Catalog:
        """Read both sources now (one refresh at a time) and return the resulting catalog."""
        if not self.enabled:
            return self._catalog
        async with self._lock:
            if self._session is not None:
                catalog = await self._refresh(self._session)
            else:
                async with aiohttp.ClientSession() as session:
                    catalog = await self._refresh(session)
            self._catalog, self._refreshed_at = catalog, self._clock()
            return catalog

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _stale(self) -> bool:
        return self._refreshed_at is None or self._clock() - self._refreshed_at >= self.ttl_s

    async def _refresh(self, session: aiohttp.ClientSession) -> Catalog:
        assert self._key is not None and self._tts_base is not None
        results: tuple[Any, Any] = await asyncio.gather(
            fetch_voices(session, self._tts_base, self._key, self.timeout_s),
            fetch_translator_languages(session, self._translator_base, self.timeout_s),
            return_exceptions=True,
        )
        voices, languages = results
        failures = [str(r) for r in (voices, languages) if isinstance(r, FetchError)]
        for result in (voices, languages):
            if isinstance(result, BaseException) and not isinstance(result, FetchError):
                raise result
        if not isinstance(voices, FetchError):
            self._voices = voices
        if not isinstance(languages, FetchError):
            self._languages = languages
        try:
            catalog = Catalog.from_sources(self._voices, self._languages, self.base)
        except ValueError as exc:
            failures.append(f"unusable data ({exc})")
            catalog = self._merge_parts_separately(failures)
        if failures:
            log.warning(
                "catalog refresh failed (%s); serving %s",
                "; ".join(failures),
                "the bundled catalog" if catalog.origin == "bundled" else catalog.origin,
            )
        else:
            log.info(
                "catalog refreshed: %d voices, %d text languages",
                len(catalog.voices),
                len(catalog.text),
            )
        return catalog

    def _merge_parts_separately(self, failures: list[str]) -> Catalog:
        """One part is unusable: keep the other, drop the bad one so it is retried."""
        for voices, languages in ((self._voices, None), (None, self._languages)):
            try:
                catalog = Catalog.from_sources(voices, languages, self.base)
            except ValueError:
                continue
            self._voices, self._languages = voices, languages
            return catalog
        self._voices = self._languages = None
        return self.base
