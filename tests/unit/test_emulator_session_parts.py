"""Pure parts of the local Speech service's sessions: which targets are synthesized, where a
reconnect resumes, and the profanity option on recognitions, translations and their speech."""

from __future__ import annotations

import pytest

from shim.emulator import profanity
from shim.emulator.resume import MAX_ORIGIN, ORIGIN_PARAMETER, ResumePoints, origin_of
from shim.emulator.voices import synthesized_languages, voice_language

pytestmark = pytest.mark.unit


# -- synthesized languages -------------------------------------------------------------------


def test_python_sdk_context_synthesizes_the_listed_languages() -> None:
    synthesis = {"synthesizedLanguages": ["de"], "defaultVoices": {"de": "de-DE-KatjaNeural"}}
    assert synthesized_languages(synthesis, ["de", "es"]) == {"de": "de-DE-KatjaNeural"}


def test_javascript_sdk_default_voices_synthesize_the_voice_s_language() -> None:
    voice = "de-DE-KatjaNeural"
    synthesis = {"defaultVoices": {"es": voice, "de": voice}}
    assert synthesized_languages(synthesis, ["es", "de"]) == {"de": voice}


def test_a_voice_that_speaks_no_target_synthesizes_every_target() -> None:
    voice = "en-US-AvaMultilingualNeural"
    synthesis = {"defaultVoices": {"es": voice, "de": voice}}
    assert synthesized_languages(synthesis, ["es", "de"]) == {"es": voice, "de": voice}


def test_the_query_voice_alone_asks_for_synthesis() -> None:
    long_form = "Microsoft Server Speech Text to Speech Voice (fr-FR, HenriNeural)"
    assert voice_language(long_form) == "fr"
    assert synthesized_languages(None, ["fr-CA", "de"], long_form) == {"fr-CA": long_form}
    assert synthesized_languages({}, ["de"]) == {}


@pytest.mark.parametrize(
    "synthesis", [[], "x", {"defaultVoices": ["de"]}, {"defaultVoices": {"de": 3}}]
)
def test_malformed_synthesis_sections_ask_for_nothing(synthesis: object) -> None:
    assert synthesized_languages(synthesis, ["de"]) == {}


# -- resume points ---------------------------------------------------------------------------


def test_resume_points_are_kept_per_connection_until_the_session_ends() -> None:
    points = ResumePoints()
    assert points.get("a") == 0
    points.acknowledge("a", 80_000_000)
    assert points.get("a") == 80_000_000 and points.get("b") == 0
    points.forget("a")
    assert points.get("a") == 0


def test_resume_points_forget_the_least_recently_used_beyond_the_limit() -> None:
    points = ResumePoints(limit=2)
    for name, ticks in (("a", 1), ("b", 2), ("a", 3), ("c", 4)):
        points.acknowledge(name, ticks)
    assert (points.get("a"), points.get("b"), points.get("c"), len(points)) == (3, 0, 4, 2)


def test_a_stream_s_origin_is_read_from_its_query_and_defaults_to_the_session_start() -> None:
    assert origin_of({}) == 0
    assert origin_of({ORIGIN_PARAMETER: "75000000"}) == 75_000_000
    assert origin_of({ORIGIN_PARAMETER: str(MAX_ORIGIN)}) == MAX_ORIGIN


@pytest.mark.parametrize("value", ["-1", "1.5", "", "ten", "²", str(MAX_ORIGIN + 1), "9" * 40])
def test_an_origin_that_is_not_whole_ticks_within_a_day_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=ORIGIN_PARAMETER):
        origin_of({ORIGIN_PARAMETER: value})


# -- profanity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "text", "translation", "spoken"),
    [
        ("Raw", "You are a bastard.", "Eres un bastardo.", "Eres un bastardo."),
        ("Masked", "You are a *******.", "Eres un ********.", "Eres un."),
        ("Removed", "You are a.", "Eres un.", "Eres un."),
        (
            "Tagged",
            "You are a <profanity>bastard</profanity>.",
            "Eres un <profanity>bastardo</profanity>.",
            "Eres un.",
        ),
    ],
)
def test_profanity_option_reaches_the_translation_and_its_speech(
    option: str, text: str, translation: str, spoken: str
) -> None:
    result = profanity.apply("You are a bastard.", "en-US", {"es": "Eres un bastardo."}, option)
    assert (result.text, result.translations["es"], result.spoken["es"]) == (
        text,
        translation,
        spoken,
    )


def test_a_clean_source_leaves_its_translation_alone_though_the_list_names_its_words() -> None:
    # The Portuguese list holds everyday words ("comer", "cerveja"): only marks on the
    # source decide that a translation is filtered.
    clean = "Eu quero comer e beber cerveja."
    result = profanity.apply("I want to eat and drink beer.", "en-US", {"pt": clean}, "Masked")
    assert result.translations == result.spoken == {"pt": clean}


def test_a_word_the_translator_passed_through_is_marked_with_the_source_list() -> None:
    result = profanity.apply(
        "This damn car is shit.", "en-US", {"es": "Este damn el coche es mierda."}, "Tagged"
    )
    assert result.translations["es"] == (
        "Este <profanity>damn</profanity> el coche es <profanity>mierda</profanity>."
    )


def test_unknown_option_masks_and_languages_without_a_list_pass() -> None:
    assert profanity.apply("shit", "en", {}, "Strict").text == "****"
    assert profanity.apply("shit happens", "xx-YY", {}, "Masked").text == "shit happens"


def test_the_marked_words_own_translations_find_what_the_target_list_lacks() -> None:
    spanish = "La palabra caga es un profanity."
    source = "The word crap is a profanity."
    assert profanity.marked_words(source, "en-US") == ("crap",)
    unaided = profanity.apply(source, "en-US", {"es": spanish}, "Tagged")
    aided = profanity.apply(source, "en-US", {"es": spanish}, "Tagged", {"es": ["Caga"]})
    assert unaided.translations["es"] == spanish  # "caga" is not on the Spanish list
    assert aided.translations["es"] == "La palabra <profanity>caga</profanity> es un profanity."
    assert aided.spoken["es"] == "La palabra es un profanity."
