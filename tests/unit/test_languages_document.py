"""GET /languages, sans-I/O: request parsing (LG1), shapes (LG2), cross keys (LG3), names (LG4)."""

from __future__ import annotations

import itertools
import json

import pytest

from shim.catalog import Catalog
from shim.legacy.errors import Failure, HandshakeError, http_error
from shim.legacy.languages import (
    Scope,
    parse_accept_language,
    parse_languages_request,
)
from tests.support.languages_documents import document, request, validator

pytestmark = pytest.mark.unit

SCOPES = ("speech", "text", "tts")
COMBINATIONS = [
    combo for n in range(1, 4) for combo in itertools.combinations(SCOPES, n)
]  # 7 non-empty subsets


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.bundled()


# ---------------------------------------------------------------------- LG1, LG2


@pytest.mark.parametrize("current", [False, True], ids=["legacy", "current"])
@pytest.mark.parametrize("scopes", COMBINATIONS, ids=",".join)
def test_lg2_each_scope_combination_answers_only_those_scopes_in_the_contract_shape(
    catalog: Catalog, scopes: tuple[str, ...], current: bool
) -> None:
    doc = document(catalog, ",".join(scopes), current)
    assert tuple(doc) == scopes
    for scope in scopes:
        assert doc[scope], scope
        validator(scope).validate(doc[scope])


@pytest.mark.parametrize("current", [False, True], ids=["legacy", "current"])
def test_lg3_every_speech_and_tts_language_is_a_key_of_text(
    catalog: Catalog, current: bool
) -> None:
    doc = document(catalog, "speech,text,tts", current)
    text = set(doc["text"])
    assert {entry["language"] for entry in doc["speech"].values()} <= text
    assert {entry["language"] for entry in doc["tts"].values()} <= text
    # Also across requests: a client may ask for the scopes one at a time.
    alone = document(catalog, "text", current)["text"]
    assert alone == doc["text"]
    assert {e["language"] for e in document(catalog, "tts", current)["tts"].values()} <= set(alone)


def test_lg3_legacy_text_gains_the_language_of_the_te_in_voice(catalog: Catalog) -> None:
    doc = document(catalog, "text,tts")
    assert doc["tts"]["te-IN-Chitra"]["language"] == "te"
    assert doc["text"]["te"] == {"name": "Telugu", "dir": "ltr"}


def test_lg2_legacy_entries_match_the_documented_examples(catalog: Catalog) -> None:
    doc = document(catalog, "speech,text,tts")
    assert doc["speech"]["en-US"] == {"name": "English", "language": "en"}
    assert doc["speech"]["zh-CN"] == {"name": "Chinese Simplified", "language": "zh-Hans"}
    assert doc["text"]["en"] == {"name": "English", "dir": "ltr"}
    assert doc["text"]["ar"]["dir"] == "rtl"
    assert doc["tts"]["en-US-Zira"] == {
        "displayName": "Zira",
        "gender": "female",
        "locale": "en-US",
        "languageName": "English",
        "regionName": "United States",
        "language": "en",
    }


def test_lg2_current_catalog_lists_today_s_locales_languages_and_neural_voices(
    catalog: Catalog,
) -> None:
    doc = document(catalog, "speech,text,tts", current=True)
    assert doc["speech"]["zh-HK"]["language"] == "yue"
    assert doc["speech"]["pt-PT"]["language"] == "pt-PT"
    assert doc["text"]["zh-Hans"]["name"] == "Chinese Simplified"
    assert "fr-CA" in doc["text"]
    katja = doc["tts"]["de-DE-KatjaNeural"]
    assert katja == {
        "displayName": "Katja",
        "gender": "female",
        "locale": "de-DE",
        "languageName": "German",
        "regionName": "Germany",
        "language": "de",
    }
    assert doc["tts"]["zh-CN-XiaoxiaoNeural"]["regionName"] == "People's Republic of China"
    assert all(e["gender"] == e["gender"].lower() for e in doc["tts"].values())


def test_lg1_scope_defaults_to_text_and_is_parsed_case_insensitively() -> None:
    assert request().scopes == (Scope.TEXT,)
    assert request("").scopes == (Scope.TEXT,)
    assert request(" TTS , Speech,,speech").scopes == (Scope.SPEECH, Scope.TTS)


def test_lg1_parameter_names_are_case_insensitive_and_unknown_ones_ignored() -> None:
    parsed = parse_languages_request(
        [("API-Version", "1.0"), ("Scope", "tts"), ("X-ClientTraceId", "abc")], None
    )
    assert parsed.scopes == (Scope.TTS,)


def test_flight_current_selects_today_s_catalog_and_experimental_is_ignored() -> None:
    assert request(flight="current").flight_current
    assert request(flight="Current").flight_current
    assert not request(flight="experimental").flight_current
    assert not request().flight_current


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ([], "api-version"),
        ([("scope", "text")], "api-version"),
        ([("api-version", "")], "api-version"),
        ([("api-version", "2.0")], "api-version"),
        ([("api-version", "3.0"), ("scope", "text")], "api-version"),
        ([("api-version", "1.0"), ("scope", "voices")], "scope"),
        ([("api-version", "1.0"), ("scope", "speech,bogus")], "scope"),
    ],
)
def test_lg1_bad_request_answers_400_naming_the_parameter(
    query: list[tuple[str, str]], parameter: str
) -> None:
    with pytest.raises(HandshakeError) as caught:
        parse_languages_request(query, None)
    assert caught.value.failure is Failure.BAD_PARAMETER
    assert caught.value.parameter == parameter
    mapped = http_error(caught.value)
    assert mapped.status == 400
    assert parameter in json.loads(mapped.body)["error"]["message"]


# ---------------------------------------------------------------------- LG4


def test_parse_accept_language_orders_by_quality_and_drops_zero_and_wildcard() -> None:
    assert parse_accept_language("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5") == (
        "fr-CH",
        "fr",
        "en",
        "de",
    )
    assert parse_accept_language("de;q=0.5, it") == ("it", "de")
    assert parse_accept_language("de;q=0, it;q=oops") == ()
    assert parse_accept_language(None) == ()
    assert parse_accept_language("") == ()


def test_lg4_accept_language_names_every_language_region_and_locale_from_cldr(
    catalog: Catalog,
) -> None:
    doc = document(catalog, "speech,text,tts", accept_language="fr-FR,fr;q=0.9")
    assert doc["text"]["de"]["name"] == "allemand"
    assert doc["text"]["fr"]["name"] == "français"
    assert doc["speech"]["fr-FR"]["name"] == "français (France)"
    assert doc["tts"]["fr-FR-Julie"]["languageName"] == "français"
    assert doc["tts"]["fr-FR-Julie"]["regionName"] == "France"
    assert doc["tts"]["de-DE-Hedda"]["regionName"] == "Allemagne"
    assert doc["tts"]["de-DE-Hedda"]["displayName"] == "Hedda"  # a person's name
    # Retired codes are named as the language they stand for today.
    assert doc["text"]["tlh-Qaak"]["name"] == "klingon"
    # Only names change.
    english = document(catalog, "speech,text,tts")
    assert english["text"]["de"]["name"] == "German"
    for scope in ("speech", "text", "tts"):
        assert doc[scope].keys() == english[scope].keys()
    assert doc["text"]["fr"]["dir"] == english["text"]["fr"]["dir"]


def test_lg4_accept_language_in_the_current_catalog(catalog: Catalog) -> None:
    doc = document(catalog, "speech,text", current=True, accept_language="zh-Hant")
    assert doc["text"]["zh-Hant"]["name"] == "繁體中文"
    assert doc["text"]["zh-Hans"]["name"] == "簡體中文"
    assert doc["text"]["yue"]["name"] == "粵語"
    doc = document(catalog, "speech,text", current=True, accept_language="fr-CA")
    assert doc["text"]["fr-CA"]["name"] == "français canadien"
    assert doc["speech"]["fr-CA"]["name"] == "français (Canada)"
    assert doc["speech"]["de-DE"]["name"] == "allemand (Allemagne)"
    # A code CLDR has no name for keeps its English one.
    english = document(catalog, "text", current=True)
    assert doc["text"]["otq"]["name"] == english["text"]["otq"]["name"]


@pytest.mark.parametrize("header", [None, "", "en-US", "sjn", "x-klingon, *", "de;q=0"])
@pytest.mark.parametrize("current", [False, True], ids=["legacy", "current"])
def test_lg4_accept_language_without_data_answers_english(
    catalog: Catalog, header: str | None, current: bool
) -> None:
    english = document(catalog, "speech,text,tts", current)
    assert document(catalog, "speech,text,tts", current, accept_language=header) == english
    assert english["text"]["de"]["name"] == "German"


def test_lg4_first_accept_language_with_data_wins(catalog: Catalog) -> None:
    doc = document(catalog, "text", accept_language="sjn, de;q=0.8, fr;q=0.5")
    assert doc["text"]["de"]["name"] == "Deutsch"
    assert doc["text"]["fr"]["name"] == "Französisch"
