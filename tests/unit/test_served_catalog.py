"""/languages cut down to what a speech backend serves (shim.catalog.served), sans-I/O."""

from __future__ import annotations

import pytest

from shim.catalog import Catalog
from shim.catalog.served import served_catalog
from tests.support.languages_documents import document, validator

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.bundled()


def english_to_spanish(locale: str, target: str | None) -> str | None:
    """Recognises English only; translates it to English and Spanish."""
    if not locale.lower().startswith("en-"):
        return "not recognised"
    if target is None or target.split("-")[0] in ("en", "es"):
        return None
    return "no translator"


def per_language(locale: str, target: str | None) -> str | None:
    """English reaches en/es/fr; German reaches de/en; French reaches fr/en/es; no others."""
    reach = {"en": {"en", "es", "fr"}, "de": {"de", "en"}, "fr": {"fr", "en", "es"}}
    targets = reach.get(locale.split("-")[0])
    if targets is None:
        return "not recognised"
    return None if target is None or target.split("-")[0] in targets else "no translator"


@pytest.mark.parametrize("current", [False, True], ids=["legacy", "current"])
def test_only_served_locales_and_languages_are_listed(catalog: Catalog, current: bool) -> None:
    served = served_catalog(catalog, english_to_spanish, {"en", "es"})
    doc = document(served, "speech,text,tts", current)
    assert doc["speech"] and all(locale.startswith("en-") for locale in doc["speech"])
    assert {code.split("-")[0] for code in doc["text"]} == {"en", "es"}
    assert doc["tts"] and all(v["language"] in doc["text"] for v in doc["tts"].values())
    for scope in ("speech", "text", "tts"):
        validator(scope).validate(doc[scope])


@pytest.mark.parametrize("current", [False, True], ids=["legacy", "current"])
def test_every_listed_combination_is_served_and_lg3_holds(catalog: Catalog, current: bool) -> None:
    served = served_catalog(catalog, per_language, "*")
    doc = document(served, "speech,text", current)
    assert doc["speech"]
    for locale, entry in doc["speech"].items():
        assert entry["language"] in doc["text"]  # LG3
        for code in doc["text"]:
            assert per_language(locale, code) is None, (locale, code)
    # English reaches the most: it anchors the list; German cannot reach es or fr, so it goes.
    assert not any(locale.startswith("de-") for locale in doc["speech"])


def test_voices_of_languages_the_backend_cannot_speak_are_left_out(catalog: Catalog) -> None:
    served = served_catalog(catalog, english_to_spanish, {"en"})
    voices = document(served, "tts", current=True)["tts"]
    assert voices and {v["language"] for v in voices.values()} == {"en"}


def test_a_backend_that_serves_everything_lists_the_whole_catalog(catalog: Catalog) -> None:
    served = served_catalog(catalog, lambda locale, target: None, "*")
    for current in (False, True):
        assert document(served, "speech,text,tts", current) == document(
            catalog, "speech,text,tts", current
        )
