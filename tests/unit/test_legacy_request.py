"""Parsing of the legacy upgrade request (HS3–HS8, AU1, AU2, AU4, TS5)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import jsonschema
import pytest
from multidict import CIMultiDict

from shim.catalog.errors import UnsupportedValue
from shim.legacy.errors import Failure, HandshakeError, http_error
from shim.legacy.request import (
    AudioFormat,
    Credential,
    Feature,
    SessionRequest,
    parse_request,
)

pytestmark = pytest.mark.unit

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
KEY = "0123456789abcdef0123456789abcdef"


class TableResolver:
    """A tiny catalog: enough languages and voices to exercise the parser."""

    FROM: ClassVar[dict[str, str]] = {
        "en": "en-US",
        "en-us": "en-US",
        "ja": "ja-JP",
        "ja-jp": "ja-JP",
        "de-de": "de-DE",
    }
    TO: ClassVar[dict[str, str]] = {
        "en": "en",
        "en-us": "en",
        "it": "it",
        "it-it": "it",
        "de": "de",
        "de-de": "de",
        "zh-hans": "zh-Hans",
        "tlh": "tlh",
    }
    VOICES: ClassVar[dict[str, str]] = {
        "de-de-katja": "de-DE-KatjaNeural",
        "it-it-elsa": "it-IT-ElsaNeural",
    }
    DEFAULT_VOICE: ClassVar[dict[str, str]] = {
        "de": "de-DE-KatjaNeural",
        "it": "it-IT-ElsaNeural",
        "en": "en-US-AvaNeural",
    }

    def __init__(self) -> None:
        self.voice_calls: list[tuple[str, str]] = []

    def normalize_from(self, value: str) -> str:
        try:
            return self.FROM[value.lower()]
        except KeyError:
            raise UnsupportedValue("from", value, hint="en-US") from None

    def normalize_to(self, value: str) -> str:
        try:
            return self.TO[value.lower()]
        except KeyError:
            raise UnsupportedValue("to", value, hint="it") from None

    def resolve_voice(self, voice: str, target_language: str) -> str:
        self.voice_calls.append((voice, target_language))
        if not voice:
            if target_language not in self.DEFAULT_VOICE:
                raise UnsupportedValue("voice", voice)
            return self.DEFAULT_VOICE[target_language]
        try:
            return self.VOICES[voice.lower()]
        except KeyError:
            raise UnsupportedValue("voice", voice, hint="de-DE-Katja") from None


BASE = [("api-version", "1.0"), ("from", "en-US"), ("to", "it")]
KEY_HEADER = {"Ocp-Apim-Subscription-Key": KEY}


def parse(
    *extra: tuple[str, str],
    base: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    resolver: TableResolver | None = None,
) -> SessionRequest:
    query = [*(BASE if base is None else base), *extra]
    return parse_request(
        query, KEY_HEADER if headers is None else headers, resolver or TableResolver()
    )


def rejected(*extra: tuple[str, str], **kwargs: object) -> HandshakeError:
    with pytest.raises(HandshakeError) as caught:
        parse(*extra, **kwargs)  # type: ignore[arg-type]
    return caught.value


# -- required parameters (HS4) --------------------------------------------------------------


def test_minimal_request_gets_the_documented_defaults_HS4() -> None:
    request = parse()
    assert request.source_locale == "en-US"
    assert request.target_language == "it"
    assert request.features == frozenset()
    assert request.voice is None
    assert request.audio_format is AudioFormat.WAV
    assert request.profanity == "Masked"  # ProfanityAction=Marked, ProfanityMarker=Asterisk
    assert request.credential == Credential("key", KEY, "header")
    assert (request.client_trace_id, request.correlation_id) == (None, None)
    assert (request.client_version, request.os_platform) == (None, None)


@pytest.mark.parametrize("missing", ["api-version", "from", "to"])
def test_missing_required_parameter_is_400_naming_it_HS4(missing: str) -> None:
    error = rejected(base=[pair for pair in BASE if pair[0] != missing])
    assert error.failure is Failure.BAD_PARAMETER
    assert error.parameter == missing
    assert missing in error.message
    assert http_error(error).status == 400


@pytest.mark.parametrize("empty", ["api-version", "from", "to"])
def test_empty_required_parameter_counts_as_missing_HS4(empty: str) -> None:
    error = rejected(base=[(n, "" if n == empty else v) for n, v in BASE])
    assert (error.failure, error.parameter) == (Failure.BAD_PARAMETER, empty)


@pytest.mark.parametrize("version", ["2.0", "1", "3.0", "v1.0"])
def test_api_version_other_than_1_0_is_400_HS4(version: str) -> None:
    error = rejected(base=[("api-version", version), *BASE[1:]])
    assert error.parameter == "api-version"
    assert version in error.message


# -- names and unknown parameters (HS3) -----------------------------------------------------


def test_parameter_names_match_case_insensitively_HS3() -> None:
    request = parse(
        ("FEATURES", "partial"),
        ("profanityaction", "Deleted"),
        ("Format", "audio/mp3"),
        ("x-clientTraceId", "trace-1"),
        base=[("API-Version", "1.0"), ("FROM", "en-US"), ("To", "it")],
    )
    assert request.features == {Feature.PARTIAL}
    assert request.profanity == "Removed"
    assert request.audio_format is AudioFormat.MP3
    assert request.client_trace_id == "trace-1"


def test_unknown_parameters_from_real_clients_are_ignored_HS3() -> None:
    request = parse(
        ("profanity", "Strict"),
        ("flight", "experimental"),
        ("X-ClientAppId", "EA66703D-90A8-436B-9BD6-7A2707A2AD99"),
        ("whatever", "x"),
    )
    assert request == parse()


def test_repeated_parameter_keeps_its_first_value_HS3() -> None:
    request = parse(("to", "de"), base=[("api-version", "1.0"), ("from", "en"), ("to", "it")])
    assert request.target_language == "it"


# -- languages (HS5, HS6) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "locale"), [("en-US", "en-US"), ("en-us", "en-US"), ("EN", "en-US"), ("ja", "ja-JP")]
)
def test_from_is_normalised_through_the_catalog_HS5(sent: str, locale: str) -> None:
    assert parse(base=[("api-version", "1.0"), ("from", sent), ("to", "it")]).source_locale == (
        locale
    )


@pytest.mark.parametrize(
    ("sent", "code"), [("it", "it"), ("it-IT", "it"), ("zh-HANS", "zh-Hans"), ("en-US", "en")]
)
def test_to_is_normalised_and_kept_as_sent_HS6(sent: str, code: str) -> None:
    request = parse(base=[("api-version", "1.0"), ("from", "en-US"), ("to", sent)])
    assert (request.target_language, request.target_as_sent) == (code, sent)


@pytest.mark.parametrize(
    ("parameter", "value", "hint"), [("from", "xx-YY", "en-US"), ("to", "klingon", "it")]
)
def test_unsupported_language_is_400_naming_parameter_value_and_hint_HS5_HS6(
    parameter: str, value: str, hint: str
) -> None:
    base = [(n, value if n == parameter else v) for n, v in BASE]
    error = rejected(base=base)
    assert (error.failure, error.parameter) == (Failure.BAD_PARAMETER, parameter)
    assert parameter in error.message and value in error.message and hint in error.message


# -- features (HS7) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "features"),
    [
        ("texttospeech", {Feature.TEXT_TO_SPEECH}),
        ("partial,texttospeech", {Feature.PARTIAL, Feature.TEXT_TO_SPEECH}),
        ("Partial,TextToSpeech", {Feature.PARTIAL, Feature.TEXT_TO_SPEECH}),
        ("TextToSpeech,Partial,TimingInfo", set(Feature)),
        ("timinginfo,partial", {Feature.TIMING_INFO, Feature.PARTIAL}),
        ("TimingInfo", {Feature.TIMING_INFO}),
        (" Partial , TIMINGINFO ", {Feature.PARTIAL, Feature.TIMING_INFO}),
        (",,partial,,", {Feature.PARTIAL}),
        ("", set()),
    ],
)
def test_features_parse_as_trimmed_case_insensitive_comma_list_HS7(
    sent: str, features: set[Feature]
) -> None:
    assert parse(("features", sent)).features == features


def test_unknown_feature_names_are_ignored_HS7() -> None:
    assert parse(("features", "Partial,Final,Speaker")).features == {Feature.PARTIAL}


def test_feature_shortcuts_reflect_the_set_HS7() -> None:
    request = parse(("features", "partial,timinginfo"))
    assert (request.partial, request.timing_info, request.text_to_speech) == (True, True, False)


# -- voice (TS5) ----------------------------------------------------------------------------


@pytest.mark.parametrize("voice_params", [[], [("voice", "")], [("voice", "  ")]])
def test_no_voice_without_text_to_speech_and_no_catalog_lookup_TS5(
    voice_params: list[tuple[str, str]],
) -> None:
    resolver = TableResolver()
    assert parse(*voice_params, resolver=resolver).voice is None
    assert resolver.voice_calls == []


@pytest.mark.parametrize("voice_params", [[], [("voice", "")]])
def test_empty_voice_with_text_to_speech_picks_the_target_default_TS5(
    voice_params: list[tuple[str, str]],
) -> None:
    resolver = TableResolver()
    request = parse(("features", "TextToSpeech"), *voice_params, resolver=resolver)
    assert request.voice == "it-IT-ElsaNeural"
    assert resolver.voice_calls == [("", "it")]


def test_legacy_voice_id_is_resolved_to_a_neural_voice_TS5() -> None:
    request = parse(("features", "texttospeech"), ("voice", "de-DE-Katja"))
    assert request.voice == "de-DE-KatjaNeural"


def test_given_voice_is_validated_even_without_text_to_speech_TS5() -> None:
    assert parse(("voice", "de-DE-Katja")).voice == "de-DE-KatjaNeural"
    error = rejected(("voice", "xx-XX-Nobody"))
    assert (error.failure, error.parameter) == (Failure.BAD_PARAMETER, "voice")
    assert "xx-XX-Nobody" in error.message and "de-DE-Katja" in error.message


def test_text_to_speech_for_a_language_without_voices_is_400_on_voice_TS5() -> None:
    base = [("api-version", "1.0"), ("from", "en-US"), ("to", "tlh")]
    error = rejected(("features", "texttospeech"), base=base)
    assert (error.failure, error.parameter) == (Failure.BAD_PARAMETER, "voice")
    assert "tlh" in error.message


# -- format ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("audio/wav", AudioFormat.WAV),
        ("", AudioFormat.WAV),
        ("AUDIO/WAV", AudioFormat.WAV),
        ("audio/mp3", AudioFormat.MP3),
        ("Audio/MP3", AudioFormat.MP3),
    ],
)
def test_format_accepts_wav_mp3_and_empty_as_default_HS3(sent: str, expected: AudioFormat) -> None:
    assert parse(("format", sent)).audio_format is expected


@pytest.mark.parametrize("sent", ["audio/ogg", "wav", "audio/mpeg", "audio/wav;rate=16000"])
def test_other_format_is_400_naming_format_HS4(sent: str) -> None:
    error = rejected(("format", sent))
    assert (error.failure, error.parameter) == (Failure.BAD_PARAMETER, "format")
    assert "format" in error.message


# -- profanity ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "marker", "profanity"),
    [
        ("NoAction", "", "Raw"),
        ("noaction", "Tag", "Raw"),
        ("Deleted", "", "Removed"),
        ("DELETED", "Tag", "Removed"),
        ("Marked", "", "Masked"),
        ("marked", "asterisk", "Masked"),
        ("Marked", "Tag", "Tagged"),
        ("", "tag", "Tagged"),
        ("", "", "Masked"),
    ],
)
def test_profanity_action_and_marker_map_to_one_profanity_option(
    action: str, marker: str, profanity: str
) -> None:
    request = parse(("ProfanityAction", action), ("ProfanityMarker", marker))
    assert request.profanity == profanity


@pytest.mark.parametrize(
    ("name", "value"), [("ProfanityAction", "Strict"), ("profanitymarker", "Bleep")]
)
def test_bad_profanity_value_is_400_naming_the_parameter_HS4(name: str, value: str) -> None:
    error = rejected((name, value))
    assert error.failure is Failure.BAD_PARAMETER
    assert error.parameter is not None and error.parameter.lower() == name.lower()
    assert value in error.message


# -- client ids (HS8) -----------------------------------------------------------------------


def test_client_ids_come_from_headers_HS8() -> None:
    headers = {
        **KEY_HEADER,
        "X-ClientTraceId": "3f1c",
        "X-CorrelationId": "A1B2C3D4",
        "X-ClientVersion": "2.1.0.123",
        "X-OsPlatform": "Android 5.0",
    }
    request = parse(headers=headers)
    assert request.client_trace_id == "3f1c"
    assert request.correlation_id == "A1B2C3D4"
    assert request.client_version == "2.1.0.123"
    assert request.os_platform == "Android 5.0"


def test_client_ids_come_from_the_query_when_no_header_HS8() -> None:
    request = parse(
        ("X-ClientTraceId", "q-trace"),
        ("x-correlationid", "q.corr_1-2"),
        ("X-ClientVersion", "1.0"),
        ("X-OsPlatform", "iOs 8.1.3"),
    )
    assert request.client_trace_id == "q-trace"
    assert request.correlation_id == "q.corr_1-2"
    assert request.client_version == "1.0"
    assert request.os_platform == "iOs 8.1.3"


def test_header_wins_over_query_for_client_ids_HS8() -> None:
    headers = {**KEY_HEADER, "X-ClientTraceId": "from-header", "X-CorrelationId": "H1"}
    request = parse(("X-ClientTraceId", "from-query"), ("X-CorrelationId", "Q1"), headers=headers)
    assert (request.client_trace_id, request.correlation_id) == ("from-header", "H1")


def test_invalid_query_correlation_id_is_ignored_when_the_header_wins_HS8() -> None:
    headers = {**KEY_HEADER, "X-CorrelationId": "H1"}
    assert parse(("X-CorrelationId", "bad id!"), headers=headers).correlation_id == "H1"


def test_empty_header_falls_back_to_the_query_HS8() -> None:
    headers = {**KEY_HEADER, "X-ClientTraceId": ""}
    assert parse(("X-ClientTraceId", "q"), headers=headers).client_trace_id == "q"


@pytest.mark.parametrize("value", ["a", "A-b_c.9", "x" * 64, "EA66703D"])
def test_valid_correlation_id_is_kept_HS8(value: str) -> None:
    assert parse(("X-CorrelationId", value)).correlation_id == value


@pytest.mark.parametrize("value", ["x" * 65, "has space", "semi;colon", "abc\n", "ümlaut", "a/b"])
def test_invalid_correlation_id_is_400_HS8(value: str) -> None:
    error = rejected(headers={**KEY_HEADER, "X-CorrelationId": value})
    assert (error.failure, error.parameter) == (Failure.BAD_PARAMETER, "X-CorrelationId")


# -- credentials (AU1, AU2, AU4) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "headers", "credential"),
    [
        ([], {"Ocp-Apim-Subscription-Key": "k1"}, Credential("key", "k1", "header")),
        ([("subscription-key", "k2")], {}, Credential("key", "k2", "query")),
        ([], {"Authorization": "Bearer t1"}, Credential("token", "t1", "header")),
        ([], {"Authorization": "bearer  t1 "}, Credential("token", "t1", "header")),
        ([("access_token", "t2")], {}, Credential("token", "t2", "query")),
        ([("access_token", "Bearer t3")], {}, Credential("token", "t3", "query")),
        ([("Subscription-Key", "k3")], {}, Credential("key", "k3", "query")),
    ],
)
def test_each_documented_credential_source_is_accepted_AU1(
    query: list[tuple[str, str]], headers: dict[str, str], credential: Credential
) -> None:
    assert parse(*query, headers=headers).credential == credential


@pytest.mark.parametrize(
    ("query", "headers", "credential"),
    [
        (
            [("subscription-key", "qk")],
            {"Ocp-Apim-Subscription-Key": "hk"},
            Credential("key", "hk", "header"),
        ),
        (
            [("access_token", "qt")],
            {"Authorization": "Bearer ht"},
            Credential("token", "ht", "header"),
        ),
        (
            [("subscription-key", "qk")],
            {"Authorization": "Bearer ht"},
            Credential("token", "ht", "header"),
        ),
        (
            [("access_token", "qt")],
            {"Ocp-Apim-Subscription-Key": "hk"},
            Credential("key", "hk", "header"),
        ),
        (
            [],
            {"Ocp-Apim-Subscription-Key": "hk", "Authorization": "Bearer ht"},
            Credential("token", "ht", "header"),
        ),
    ],
)
def test_header_credential_wins_over_query_AU1(
    query: list[tuple[str, str]], headers: dict[str, str], credential: Credential
) -> None:
    assert parse(*query, headers=headers).credential == credential


def test_empty_header_credential_falls_back_to_the_query_AU1() -> None:
    headers = {"Ocp-Apim-Subscription-Key": "", "Authorization": "Bearer "}
    assert parse(("subscription-key", "qk"), headers=headers).credential == Credential(
        "key", "qk", "query"
    )


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ([], {}),
        ([("subscription-key", ""), ("access_token", "")], {}),
        ([], {"Ocp-Apim-Subscription-Key": "  "}),
        ([], {"Authorization": "Bearer"}),
        ([], {"Authorization": "Basic dXNlcjpwYXNz"}),
    ],
)
def test_missing_credentials_are_401_AU2(
    query: list[tuple[str, str]], headers: dict[str, str]
) -> None:
    error = rejected(*query, headers=headers)
    assert error.failure is Failure.MISSING_CREDENTIALS
    assert http_error(error).status == 401


def test_missing_credentials_are_reported_before_bad_parameters_AU2() -> None:
    error = rejected(base=[("from", "xx")], headers={})
    assert error.failure is Failure.MISSING_CREDENTIALS


def test_headers_are_read_from_a_case_insensitive_multidict_AU1() -> None:
    headers = CIMultiDict([("ocp-apim-subscription-key", "k"), ("x-clienttraceid", "t")])
    request = parse_request(BASE, headers, TableResolver())
    assert (request.credential.value, request.client_trace_id) == ("k", "t")


def test_headers_are_matched_case_insensitively_even_in_a_plain_dict_AU1() -> None:
    request = parse(headers={"OCP-APIM-SUBSCRIPTION-KEY": "k", "x-osplatform": "Windows 8.1"})
    assert (request.credential.value, request.os_platform) == ("k", "Windows 8.1")


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ([], {"Ocp-Apim-Subscription-Key": KEY}),
        ([("access_token", KEY)], {}),
        ([], {"Authorization": f"Bearer {KEY}"}),
    ],
)
def test_repr_and_str_never_show_the_credential_value_AU4(
    query: list[tuple[str, str]], headers: dict[str, str]
) -> None:
    request = parse(*query, headers=headers)
    assert request.credential.value == KEY
    for text in (repr(request), str(request), f"{request}", repr(request.credential)):
        assert KEY not in text
    assert "<redacted>" in repr(request)


def test_session_request_is_frozen() -> None:
    request = parse()
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.voice = "x"  # type: ignore[misc]


# -- error bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "headers", "status"),
    [
        ([("format", "audio/ogg")], KEY_HEADER, 400),
        ([("to", "klingon")], KEY_HEADER, 400),
        ([], {}, 401),
    ],
)
def test_handshake_error_body_matches_the_contract_HS4_AU2(
    extra: list[tuple[str, str]], headers: dict[str, str], status: int
) -> None:
    schema = json.loads((CONTRACTS / "handshake-error.schema.json").read_text())
    base = [p for p in BASE if p[0] not in {n for n, _ in extra}]
    error = rejected(*extra, base=base, headers=headers)
    answer = http_error(error)
    assert answer.status == status
    jsonschema.validate(json.loads(answer.body), schema)
