"""The legacy handshake request: every query parameter and credential form (spec §1.2, §6)."""

from __future__ import annotations

import urllib.parse

import pytest

from shim.harness.session.request import (
    MASK,
    Credential,
    build_headers,
    build_url,
    requested_features,
)
from shim.redaction import redact_url

pytestmark = pytest.mark.unit


def _query(url: str) -> list[tuple[str, str]]:
    return urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True)


def test_every_documented_parameter_in_order_with_slashes_and_commas_unescaped() -> None:
    url = build_url(
        "http://127.0.0.1:5000",
        from_="en-US",
        to="zh-Hans",
        features=["Partial", "TextToSpeech", "TimingInfo"],
        voice="zh-CN-Yaoyao",
        format="audio/mp3",
        profanity_action="Marked",
        profanity_marker="Tag",
        extra_query={"profanity": "Strict", "flight": "experimental"},
    )
    assert url == (
        "ws://127.0.0.1:5000/speech/translate?api-version=1.0&from=en-US&to=zh-Hans"
        "&features=Partial,TextToSpeech,TimingInfo&voice=zh-CN-Yaoyao&format=audio/mp3"
        "&ProfanityAction=Marked&ProfanityMarker=Tag&profanity=Strict&flight=experimental"
    )


def test_https_becomes_wss_and_an_empty_voice_is_sent_empty() -> None:
    url = build_url("https://example.test", from_="en", to="it", voice="", format="")
    assert url.startswith("wss://example.test/speech/translate?")
    assert ("voice", "") in _query(url) and ("format", "") in _query(url)
    assert "features" not in dict(_query(url))


def test_a_full_endpoint_urls_own_parameters_win() -> None:
    url = build_url(
        "wss://dev.example/speech/translate?api-version=1.0&from=ja-JP&to=en&features=partial",
        from_="en-US",
        to="es",
        features="texttospeech",
    )
    assert _query(url) == [
        ("api-version", "1.0"),
        ("from", "ja-JP"),
        ("to", "en"),
        ("features", "partial"),
    ]


@pytest.mark.parametrize(
    ("credential", "form", "header", "query"),
    [
        (Credential("key", "k1"), "header", ("Ocp-Apim-Subscription-Key", "k1"), None),
        (Credential("key", "k1"), "query", None, ("subscription-key", "k1")),
        (Credential("token", "t.j.w"), "header", ("Authorization", "Bearer t.j.w"), None),
        (Credential("token", "Bearer t.j.w"), "query", None, ("access_token", "t.j.w")),
    ],
)
def test_each_credential_form(
    credential: Credential,
    form: str,
    header: tuple[str, str] | None,
    query: tuple[str, str] | None,
) -> None:
    url = build_url("ws://h", from_="en-US", to="de", credential=credential, credential_form=form)  # type: ignore[arg-type]
    headers = build_headers(credential=credential, credential_form=form)  # type: ignore[arg-type]
    assert headers == ([header] if header else [])
    secret_params = [p for p in _query(url) if p[0] in ("subscription-key", "access_token")]
    assert secret_params == ([query] if query else [])
    assert credential.value not in repr(credential)


def test_client_info_goes_to_headers_or_query() -> None:
    info = {
        "X-ClientTraceId": "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
        "X-CorrelationId": "ABCD1234",
    }
    assert build_headers(client_info=info) == list(info.items())
    url = build_url("ws://h", from_="en-US", to="de", client_info=info, client_info_form="query")
    assert [p for p in _query(url) if p[0].startswith("X-")] == list(info.items())
    assert build_headers(client_info=info, client_info_form="query") == []


def test_secrets_are_redacted_and_features_are_read_case_insensitively() -> None:
    url = build_url(
        "ws://h",
        from_="en-US",
        to="de",
        features=" Partial , TextToSpeech",
        credential=Credential("key", "secret-key"),
        credential_form="query",
    )
    assert "secret-key" not in redact_url(url, mask=MASK)
    assert "subscription-key=***" in redact_url(url, mask=MASK)
    assert requested_features(url.replace("features", "FEATURES")) == {"partial", "texttospeech"}
