"""The catalog: HS5/HS6 normalisation, TS5 voice resolution, hints, live-data merge."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from shim.catalog import Catalog, LanguageResolver, UnsupportedValue
from shim.catalog.live import LiveCatalog

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data" / "azure-speech-catalog.json"
LONG = "Microsoft Server Speech Text to Speech Voice"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.bundled()


def _bundled_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (ROOT / "shim" / "data" / "azure-speech-catalog.json").read_text("utf-8")
    )
    return data


def _voices_list(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The bundled voices in the Speech service's voices/list shape."""
    return [
        {
            "Name": f"{LONG} ({v['locale']}, {v['short_name'].removeprefix(v['locale'] + '-')})",
            "ShortName": v["short_name"],
            "DisplayName": v["display_name"],
            "Gender": v["gender"].capitalize(),
            "Locale": v["locale"],
            "LocaleName": v["language_name"],
            "VoiceType": "Neural",
            "Status": "Preview" if v["preview"] else "GA",
        }
        for v in data["neural_voices"]
    ]


def _translator(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "translation": {
            t["code"]: {"name": t["name"], "nativeName": t["native_name"], "dir": t["dir"]}
            for t in data["translation_text_languages"]
        }
    }


# ---------------------------------------------------------------------- HS5: from


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en", "en-US"),
        ("EN-us", "en-US"),
        ("en-us", "en-US"),
        ("en_GB", "en-GB"),
        ("ja", "ja-JP"),
        ("es", "es-ES"),
        ("pt", "pt-BR"),
        ("pt-pt", "pt-PT"),
        ("zh", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("yue", "zh-HK"),
        ("zh-cn-SICHUAN", "zh-CN-sichuan"),
        (" fr-ca ", "fr-CA"),
    ],
)
def test_hs5_from_accepts_any_case_and_maps_a_bare_language_to_its_default_locale(
    catalog: Catalog, value: str, expected: str
) -> None:
    assert catalog.normalize_from(value) == expected


def test_hs5_bare_language_default_locale_is_the_locale_of_its_default_voice(
    catalog: Catalog,
) -> None:
    for code, voice in catalog.default_voice_per_language.items():
        locale = catalog.voice(voice)
        assert locale is not None
        if locale.locale in {s.locale for s in catalog.speech_locales}:
            assert catalog.normalize_from(code) == locale.locale


# ---------------------------------------------------------------------- HS6: to


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("it", "it"),
        ("it-IT", "it"),
        ("zh-HANS", "zh-Hans"),
        ("zh-hant", "zh-Hant"),
        ("zh-TW", "zh-Hant"),
        ("zh-CN", "zh-Hans"),
        ("zh-HK", "yue"),
        ("pt-pt", "pt-PT"),  # a locale that names a text code of its own keeps it
        ("pt-BR", "pt"),
        ("fr-fr", "fr"),
        ("fr-CA", "fr-CA"),
        ("es-es", "es"),
        ("de-DE", "de"),
        ("en-US", "en"),  # recorded working in the legacy service
        ("sr-Latn-RS", "sr-Latn"),
        ("sr-RS", "sr-Cyrl"),
        ("zh-CHS", "zh-Hans"),
        ("tlh", "tlh-Latn"),  # the legacy text scope's Klingon code
    ],
)
def test_hs6_to_accepts_text_codes_and_locales_in_any_case(
    catalog: Catalog, value: str, expected: str
) -> None:
    assert catalog.normalize_to(value) == expected


def test_hs6_every_text_code_normalises_to_itself(catalog: Catalog) -> None:
    for language in catalog.text:
        assert catalog.normalize_to(language.code.upper()) == language.code


# ---------------------------------------------------------------------- TS5: voice


@pytest.mark.parametrize(
    ("voice", "target", "expected"),
    [
        ("de-DE-Katja", "de", "de-DE-KatjaNeural"),
        ("it-IT-Elsa", "it-IT", "it-IT-ElsaNeural"),
        ("DE-de-katja", "de", "de-DE-KatjaNeural"),
        ("de-DE-KatjaNeural", "de", "de-DE-KatjaNeural"),
        ("de-de-katjaneural", "de", "de-DE-KatjaNeural"),
        (f"{LONG} (de-DE, KatjaNeural)", "de", "de-DE-KatjaNeural"),
        (f"{LONG.lower()} (de-de, katjaneural)", "de", "de-DE-KatjaNeural"),
        ("en-US-JessaRUS", "en", "en-US-AriaNeural"),  # documented rename Jessa → Aria
        ("", "it", "it-IT-ElsaNeural"),
        ("", "zh-Hans", "zh-CN-XiaoxiaoNeural"),
        ("  ", "de", "de-DE-KatjaNeural"),
        ("pt-BR-FranciscaNeural", "pt-PT", "pt-BR-FranciscaNeural"),  # same language
        ("en-US-AvaMultilingualNeural", "ja", "en-US-AvaMultilingualNeural"),
    ],
)
def test_ts5_voice_resolves_to_a_neural_short_name(
    catalog: Catalog, voice: str, target: str, expected: str
) -> None:
    assert catalog.resolve_voice(voice, target) == expected


def test_ts5_legacy_voice_without_neural_twin_keeps_its_gender(catalog: Catalog) -> None:
    # de-DE-Stefan has no de-DE-StefanNeural; the plain fallback is the (female) locale default.
    assert catalog.voice("de-DE-StefanNeural") is None
    resolved = catalog.resolve_voice("de-DE-Stefan", "de")
    voice = catalog.voice(resolved)
    assert voice is not None and voice.gender == "male"
    assert resolved == "de-DE-ConradNeural"
    assert catalog.resolve_voice(f"{LONG} (de-DE, Stefan, Apollo)", "de") == resolved


def test_ts5_every_legacy_voice_resolves_for_its_own_language_with_its_gender(
    catalog: Catalog,
) -> None:
    for legacy in catalog.legacy_voices:
        resolved = catalog.resolve_voice(legacy.voice.id, legacy.voice.language)
        voice = catalog.voice(resolved)
        assert voice is not None
        if legacy.twin is None:
            same_gender = [
                v
                for v in catalog.voices
                if v.locale == legacy.voice.locale and v.gender == legacy.voice.gender
            ]
            if same_gender:
                assert voice.gender == legacy.voice.gender, legacy.voice.id


def test_ts5_voice_of_another_language_is_unsupported_and_named(catalog: Catalog) -> None:
    with pytest.raises(UnsupportedValue) as caught:
        catalog.resolve_voice("de-DE-Katja", "it")
    assert caught.value.parameter == "voice"
    assert caught.value.value == "de-DE-Katja"
    assert caught.value.hint == "it-IT-ElsaNeural"
    assert "de-DE-Katja" in str(caught.value)


def test_ts5_empty_voice_for_a_language_without_voices_is_unsupported(
    catalog: Catalog,
) -> None:
    with pytest.raises(UnsupportedValue) as caught:
        catalog.resolve_voice("", "tlh-Latn")
    assert caught.value.parameter == "voice"


# ---------------------------------------------------------------------- unknown values


@pytest.mark.parametrize(
    ("method", "value", "parameter", "hint"),
    [
        ("normalize_from", "en-XX", "from", "en-US"),
        ("normalize_from", "de-DX", "from", "de-DE"),
        ("normalize_from", "", "from", None),
        ("normalize_to", "itt", "to", "it"),
        ("normalize_to", "deu", "to", "de"),
        ("normalize_to", "xx-YY", "to", None),
        ("normalize_to", "en US", "to", "en"),
    ],
)
def test_unknown_language_raises_unsupported_value_with_the_closest_hint(
    catalog: Catalog, method: str, value: str, parameter: str, hint: str | None
) -> None:
    with pytest.raises(UnsupportedValue) as caught:
        getattr(catalog, method)(value)
    assert (caught.value.parameter, caught.value.value, caught.value.hint) == (
        parameter,
        value,
        hint,
    )


def test_unknown_voice_raises_unsupported_value_with_the_closest_hint(catalog: Catalog) -> None:
    with pytest.raises(UnsupportedValue) as caught:
        catalog.resolve_voice("it-IT-Elza", "it")
    assert caught.value.hint == "it-IT-Elsa"
    with pytest.raises(UnsupportedValue) as caught:
        catalog.resolve_voice("de-DE-KatjaNeurall", "de")
    assert caught.value.hint == "de-DE-KatjaNeural"


# ---------------------------------------------------------------------- shape of the object


def test_catalog_satisfies_the_language_resolver_protocol_and_is_immutable(
    catalog: Catalog,
) -> None:
    resolver: LanguageResolver = catalog
    assert resolver.normalize_to("it-IT") == "it"
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalog.origin = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        catalog.default_voice_per_language["de"] = "x"  # type: ignore[index]
    assert Catalog.bundled() is catalog


def test_bundled_data_is_a_copy_of_the_shared_catalog() -> None:
    if not SHARED_DATA.exists():
        pytest.skip("../shared is not beside the checkout")
    assert (ROOT / "shim" / "data" / "azure-speech-catalog.json").read_bytes() == (
        SHARED_DATA.read_bytes()
    )


# ---------------------------------------------------------------------- live merge


def test_merge_of_live_data_equal_to_the_bundled_data_changes_nothing(catalog: Catalog) -> None:
    data = _bundled_json()
    merged = Catalog.from_sources(_voices_list(data), _translator(data), catalog)
    assert merged.origin == "live:translator+voices"
    assert merged.default_voice_per_language == catalog.default_voice_per_language
    assert merged.default_voice_per_locale == catalog.default_voice_per_locale
    assert merged.tts_voices(True) == catalog.tts_voices(True)
    assert merged.text_languages(True) == catalog.text_languages(True)
    assert merged.resolve_voice("de-DE-Stefan", "de") == "de-DE-ConradNeural"


def test_merge_without_sources_is_the_base(catalog: Catalog) -> None:
    assert Catalog.from_sources(None, None, catalog) is catalog


def test_merge_recomputes_defaults_and_legacy_targets_for_retired_voices(
    catalog: Catalog,
) -> None:
    data = _bundled_json()
    voices = [v for v in _voices_list(data) if v["ShortName"] != "de-DE-KatjaNeural"]
    voices.append(
        {"ShortName": "de-DE-NovaNeural", "Locale": "de-DE", "Gender": "Female"}
        | {"DisplayName": "Nova", "LocaleName": "German (Germany)", "VoiceType": "Neural"}
    )
    merged = Catalog.from_sources(voices, None, catalog)
    assert merged.origin == "live:voices"
    new_default = merged.resolve_voice("", "de")
    assert new_default != "de-DE-KatjaNeural"
    default_voice = merged.voice(new_default)
    assert default_voice is not None and default_voice.gender == "female"
    assert default_voice.default_eligible
    katja = merged.resolve_voice("de-DE-Katja", "de")  # twin retired: same-gender fallback
    katja_voice = merged.voice(katja)
    assert katja_voice is not None and katja_voice.gender == "female"
    assert merged.resolve_voice("de-DE-NovaNeural", "de") == "de-DE-NovaNeural"
    assert "de-DE-NovaNeural" in {v.id for v in merged.tts_voices(True)}
    with pytest.raises(UnsupportedValue):
        merged.resolve_voice("de-DE-KatjaNeural", "de")


def test_merge_of_translator_languages_adds_and_drops_text_codes_keeping_lg3(
    catalog: Catalog,
) -> None:
    data = _bundled_json()
    translator = _translator(data)
    del translator["translation"]["te"]
    translator["translation"]["xyz"] = {"name": "Xyzish", "nativeName": "Xyz", "dir": "rtl"}
    merged = Catalog.from_sources(None, translator, catalog)
    assert merged.normalize_to("XYZ") == "xyz"
    with pytest.raises(UnsupportedValue):
        merged.normalize_to("te")
    for current in (False, True):
        text = {t.code for t in merged.text_languages(current)}
        assert {s.language for s in merged.speech_languages(current)} <= text
        assert {v.language for v in merged.tts_voices(current)} <= text
    assert "te-IN-Chitra" not in {v.id for v in merged.tts_voices(False)}


@pytest.mark.parametrize(
    ("voices", "translator"),
    [
        ("not a list", None),
        ([], None),
        ([{"ShortName": "x"}], None),
        (None, {}),
        (None, {"translation": {"xx": {"dir": "sideways"}}}),
    ],
)
def test_merge_rejects_unusable_live_data(catalog: Catalog, voices: Any, translator: Any) -> None:
    with pytest.raises(ValueError):
        Catalog.from_sources(voices, translator, catalog)


async def test_live_catalog_without_credentials_serves_the_bundled_catalog(
    catalog: Catalog,
) -> None:
    live = LiveCatalog(catalog, key=None, region=None)
    assert not live.enabled
    assert live.current() is catalog
    assert await live.refresh() is catalog
    await live.close()
