"""Which language pairs ``conformance`` tries, and where it asks for them."""

from __future__ import annotations

import pytest

from shim.harness.session.languages import candidates, languages_url

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000/languages"),
        ("ws://h:1/speech/translate?from=en-US", "http://h:1/languages"),
        ("wss://h/Speech/Translate/", "https://h/languages"),
        (
            "https://gw.example/translator/speech/translate",
            "https://gw.example/translator/languages",
        ),
    ],
)
def test_languages_lives_next_to_the_speech_endpoint(endpoint: str, expected: str) -> None:
    assert languages_url(endpoint) == f"{expected}?api-version=1.0&scope=speech,text"


def test_english_speech_first_and_targets_in_another_language() -> None:
    speech = ["de-DE", "en-US", "fr-FR"]
    text = ["af", "en", "es", "de", "fr"]
    pairs = candidates(speech, text)
    assert pairs[:4] == [("en-US", "de"), ("en-US", "es"), ("en-US", "fr"), ("en-US", "af")]
    assert ("en-US", "en") not in pairs and ("de-DE", "de") not in pairs
    assert pairs[4][0] == "de-DE" and len(pairs) == 3 * 4


def test_a_given_side_of_the_pair_is_kept() -> None:
    assert candidates(["en-US", "fr-FR"], ["de", "es"], from_="fr-FR") == [
        ("fr-FR", "de"),
        ("fr-FR", "es"),
    ]
    assert candidates(["de-DE", "en-US"], ["es"], to="es") == [("en-US", "es"), ("de-DE", "es")]
