"""Credentials (AU1, AU2, AU4), tokens (AU3) and the per-key session limit."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import jsonschema
import jwt
import pytest

from shim.auth import (
    Authenticator,
    AuthMode,
    BackendCredentials,
    ClientKeys,
    Grant,
    InvalidToken,
    KeyFileError,
    TokenIssuer,
    fingerprint,
)
from shim.legacy.errors import Failure, HandshakeError, http_error
from shim.legacy.request import Credential

pytestmark = pytest.mark.unit

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
SECRET = "a-token-secret-shared-by-all-replicas"
ALPHA, BETA, GAMMA = "alpha-client-key", "beta-client-key", "gamma-client-key"
AZURE_KEY = "0123456789abcdef0123456789abcdef"
KEYS_FILE = f"""
# client keys of the test deployment
{ALPHA}
sha256:{hashlib.sha256(BETA.encode()).hexdigest().upper()}

{GAMMA}={AZURE_KEY}@WestEurope
"""


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(claims: dict[str, object]) -> str:
    """An ``alg: none`` JWT built by hand, as an attacker would."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(SECRET)


def authenticator(mode: str, issuer: TokenIssuer, **kwargs: object) -> Authenticator:
    if mode == "keys":
        kwargs.setdefault("keys", ClientKeys.parse(KEYS_FILE))
    if mode == "passthrough":
        kwargs.setdefault("region", "westeurope")
    return Authenticator(mode, issuer, **kwargs)  # type: ignore[arg-type]


def refused(auth: Authenticator, credential: Credential | None) -> HandshakeError:
    with pytest.raises(HandshakeError) as caught:
        auth.authenticate(credential)
    return caught.value


# ---------------------------------------------------------------------- keys file


def test_keys_file_accepts_plain_sha256_and_mapped_entries_and_skips_comments() -> None:
    keys = ClientKeys.parse(KEYS_FILE)
    assert len(keys) == 3
    alpha, beta, gamma = (keys.match(k) for k in (ALPHA, BETA, GAMMA))
    assert alpha is not None and alpha.backend is None
    assert beta is not None and beta.backend is None
    assert gamma is not None and gamma.backend == BackendCredentials(AZURE_KEY, "westeurope")
    assert keys.match("alpha") is None
    assert keys.match(ALPHA.upper()) is None


def test_keys_are_stored_only_as_digests_and_never_shown() -> None:
    keys = ClientKeys.parse(KEYS_FILE)
    shown = repr(keys)
    for secret in (ALPHA, BETA, GAMMA, AZURE_KEY):
        assert secret not in shown
    assert fingerprint(ALPHA) in shown
    assert fingerprint(ALPHA) == sha256_hex(ALPHA)[:8]
    assert all(len(entry.digest) == 32 for entry in keys.entries)


def test_keys_file_keeps_base64_padding_as_part_of_a_plain_key() -> None:
    keys = ClientKeys.parse("c2VjcmV0a2V5==\nsecret==azure@eastus2\n")
    assert keys.match("c2VjcmV0a2V5==") is not None
    mapped = keys.match("secret=")
    assert mapped is not None and mapped.backend == BackendCredentials("azure", "eastus2")


def test_keys_from_env_split_on_commas_and_newlines() -> None:
    keys = ClientKeys.from_env(f"{ALPHA},{GAMMA}={AZURE_KEY}@westus\n{BETA}")
    assert len(keys) == 3
    assert keys.match(BETA) is not None


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("ok\nsha256:abc\n", "line 2"),
        ("sha256:" + "g" * 64, "line 1"),
        ("# c\n\nkey with space", "line 3"),
        (f"{ALPHA}\n{ALPHA}={AZURE_KEY}@westus", "line 2"),
    ],
)
def test_malformed_keys_file_names_the_line_but_not_its_content(text: str, line: str) -> None:
    with pytest.raises(KeyFileError) as caught:
        ClientKeys.parse(text)
    assert str(caught.value).startswith(line)
    assert "abc" not in str(caught.value) and ALPHA not in str(caught.value)


def test_keys_file_loads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "client-keys"
    path.write_text(KEYS_FILE, encoding="utf-8")
    assert ClientKeys.load(path).match(GAMMA) is not None


# ---------------------------------------------------------------------- tokens (AU3)


def test_au3_token_is_hs256_valid_600_s_with_the_legacy_claims(issuer: TokenIssuer) -> None:
    subject = issuer.subject_for(hashlib.sha256(ALPHA.encode()).digest())
    token = issuer.issue(subject)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, options={"verify_signature": False})
    schema = json.loads((CONTRACTS / "token-claims.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator(schema).validate(claims)
    assert claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["subscription-id"] == subject
    verified = issuer.verify(token)
    assert verified.subject == subject and verified.expires_at == claims["exp"]


def test_au4_token_carries_a_keyed_hash_of_the_key_never_the_key(issuer: TokenIssuer) -> None:
    grant = authenticator("keys", issuer).authenticate(Credential("key", ALPHA))
    token = issuer.issue(grant.subject)
    payload = base64.urlsafe_b64decode(token.split(".")[1] + "==").decode()
    assert ALPHA not in payload and sha256_hex(ALPHA) not in payload
    assert grant.subject not in sha256_hex(ALPHA)


def test_token_expired_beyond_the_30_s_leeway_is_refused() -> None:
    past = TokenIssuer(SECRET, clock=lambda: time.time() - 600 - 31 - 5)
    token = past.issue("0" * 32)
    with pytest.raises(InvalidToken):
        TokenIssuer(SECRET).verify(token)


def test_token_expired_within_the_leeway_is_accepted() -> None:
    past = TokenIssuer(SECRET, clock=lambda: time.time() - 600 - 10)
    assert TokenIssuer(SECRET).verify(past.issue("0" * 32)).subject == "0" * 32


def test_replicas_sharing_a_secret_accept_each_other_s_tokens() -> None:
    assert TokenIssuer(SECRET).verify(TokenIssuer(SECRET).issue("s")).subject == "s"
    with pytest.raises(InvalidToken):
        TokenIssuer("another-secret").verify(TokenIssuer(SECRET).issue("s"))


def test_without_a_secret_a_random_one_is_used_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="shim.auth.tokens"):
        first, second = TokenIssuer(None), TokenIssuer("")
        assert not first.shared and TokenIssuer(SECRET).shared
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "replicas" in warnings[0].getMessage()
    with pytest.raises(InvalidToken):
        second.verify(first.issue("s"))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda t: unsigned_token(jwt.decode(t, options={"verify_signature": False})),
            id="alg-none",
        ),
        pytest.param(lambda t: t.rsplit(".", 1)[0] + ".", id="signature-stripped"),
        pytest.param(
            lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),
            id="signature-changed",
        ),
        pytest.param(lambda t: "not-a-jwt", id="garbage"),
        pytest.param(lambda t: t + "x" * 5000, id="oversized"),
    ],
)
def test_forged_tokens_are_refused(issuer: TokenIssuer, tamper: object) -> None:
    token = issuer.issue("0" * 32)
    with pytest.raises(InvalidToken):
        issuer.verify(tamper(token))  # type: ignore[operator]


@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")  # HS384 with our key
def test_only_hs256_and_our_audience_issuer_and_scope_are_accepted(issuer: TokenIssuer) -> None:
    good = jwt.decode(issuer.issue("s"), options={"verify_signature": False})
    key = issuer._signing_key  # the real key: only the algorithm or a claim is wrong
    forged = [
        jwt.encode(good, key, algorithm="HS384"),
        jwt.encode(good | {"aud": "urn:other"}, key, algorithm="HS256"),
        jwt.encode(good | {"iss": "urn:other"}, key, algorithm="HS256"),
        jwt.encode(good | {"scope": "https://other/"}, key, algorithm="HS256"),
        jwt.encode({k: v for k, v in good.items() if k != "exp"}, key, algorithm="HS256"),
        jwt.encode({k: v for k, v in good.items() if k != "subscription-id"}, key, "HS256"),
    ]
    assert issuer.verify(jwt.encode(good, key, algorithm="HS256")).subject == "s"
    for token in forged:
        with pytest.raises(InvalidToken):
            issuer.verify(token)


# ---------------------------------------------------------------------- modes (AU1, AU2)


def test_open_mode_accepts_any_non_empty_key_or_token(issuer: TokenIssuer) -> None:
    auth = authenticator("open", issuer)
    key_grant = auth.authenticate(Credential("key", "anything"))
    assert key_grant.backend is None and key_grant.fingerprint == fingerprint("anything")
    token_grant = auth.authenticate(Credential("token", issuer.issue(key_grant.subject)))
    assert token_grant.subject == key_grant.subject
    assert auth.authenticate(Credential("token", "stale-or-foreign")).via == "token"


def test_keys_mode_accepts_listed_keys_and_maps_backend_credentials(issuer: TokenIssuer) -> None:
    auth = authenticator("keys", issuer)
    assert auth.authenticate(Credential("key", ALPHA)).backend is None
    assert auth.authenticate(Credential("key", BETA)).fingerprint == fingerprint(BETA)
    gamma = auth.authenticate(Credential("key", GAMMA))
    assert gamma.backend == BackendCredentials(AZURE_KEY, "westeurope")


def test_keys_mode_accepts_a_token_minted_from_a_listed_key(issuer: TokenIssuer) -> None:
    auth = authenticator("keys", issuer)
    gamma = auth.authenticate(Credential("key", GAMMA))
    grant = auth.authenticate(Credential("token", issuer.issue(gamma.subject)))
    assert grant == Grant(gamma.subject, "token", fingerprint(GAMMA), gamma.backend)


def test_a_key_may_name_a_pool_instead_of_azure_credentials_and_its_tokens_keep_it(
    issuer: TokenIssuer,
) -> None:
    keys = ClientKeys.parse(f"{ALPHA}=pool:kiosks\nsha256:{sha256_hex(BETA)}=pool:west-1\n{GAMMA}")
    assert keys.pools() == {"kiosks", "west-1"}
    auth = authenticator("keys", issuer, keys=keys)
    alpha = auth.authenticate(Credential("key", ALPHA))
    assert (alpha.pool, alpha.backend) == ("kiosks", None)
    assert auth.authenticate(Credential("key", BETA)).pool == "west-1"
    assert auth.authenticate(Credential("key", GAMMA)).pool is None
    token = auth.authenticate(Credential("token", issuer.issue(alpha.subject)))
    assert token.pool == "kiosks"
    assert refused(auth, Credential("key", f"{ALPHA}=pool:kiosks"))  # the entry is not a key
    (both,) = ClientKeys.parse(f"{ALPHA}=pool:kiosks capture=never").entries
    assert (both.pool, both.capture) == ("kiosks", "never")


def test_keys_mode_refuses_tokens_of_a_key_no_longer_listed(issuer: TokenIssuer) -> None:
    before = authenticator("keys", issuer)
    token = issuer.issue(before.authenticate(Credential("key", ALPHA)).subject)
    after = authenticator("keys", issuer, keys=ClientKeys.parse(BETA))
    assert refused(after, Credential("token", token)).failure is Failure.INVALID_CREDENTIALS


def test_passthrough_mode_uses_the_client_key_as_azure_subscription(issuer: TokenIssuer) -> None:
    auth = authenticator("passthrough", issuer)
    grant = auth.authenticate(Credential("key", AZURE_KEY))
    assert grant.backend == BackendCredentials(AZURE_KEY, "westeurope")
    token = issuer.issue(grant.subject)
    assert auth.authenticate(Credential("token", token)).backend == grant.backend
    assert AZURE_KEY not in token
    # Another process never saw the key behind the token: it cannot use it.
    other = authenticator("passthrough", issuer)
    assert refused(other, Credential("token", token)).failure is Failure.INVALID_CREDENTIALS


def test_passthrough_forgets_a_key_once_its_tokens_expired(issuer: TokenIssuer) -> None:
    now = [1000.0]
    auth = authenticator("passthrough", issuer, clock=lambda: now[0])
    token = issuer.issue(auth.authenticate(Credential("key", AZURE_KEY)).subject)
    now[0] += 600 + 30 + 1
    assert refused(auth, Credential("token", token)).failure is Failure.INVALID_CREDENTIALS


def test_modes_refuse_to_start_without_what_they_need(issuer: TokenIssuer) -> None:
    with pytest.raises(ValueError):
        Authenticator(AuthMode.KEYS, issuer)
    with pytest.raises(ValueError):
        Authenticator("nobody", issuer)
    with pytest.raises(ValueError):
        Authenticator("open", issuer, max_sessions_per_key=0)


@pytest.mark.parametrize("mode", ["open", "keys", "passthrough"])
@pytest.mark.parametrize(
    "credential",
    [None, Credential("key", ""), Credential("key", "   "), Credential("token", "")],
    ids=["none", "empty-key", "blank-key", "empty-token"],
)
def test_au2_missing_credentials_answer_401(
    issuer: TokenIssuer, mode: str, credential: Credential | None
) -> None:
    error = refused(authenticator(mode, issuer), credential)
    assert error.failure is Failure.MISSING_CREDENTIALS
    assert http_error(error).status == 401


def _bad_tokens(issuer: TokenIssuer, subject: str) -> dict[str, str]:
    claims = jwt.decode(issuer.issue(subject), options={"verify_signature": False})
    return {
        "expired": TokenIssuer(SECRET, clock=lambda: time.time() - 3600).issue(subject),
        "other-secret": TokenIssuer("not-our-secret").issue(subject),
        "alg-none": unsigned_token(claims),
        "garbage": "garbage",
    }


@pytest.mark.parametrize("mode", ["keys", "passthrough"])
@pytest.mark.parametrize("case", ["expired", "other-secret", "alg-none", "garbage"])
def test_au2_bad_tokens_answer_401(issuer: TokenIssuer, mode: str, case: str) -> None:
    auth = authenticator(mode, issuer)
    subject = auth.authenticate(Credential("key", GAMMA if mode == "keys" else AZURE_KEY)).subject
    error = refused(auth, Credential("token", _bad_tokens(issuer, subject)[case]))
    assert error.failure is Failure.INVALID_CREDENTIALS
    assert http_error(error).status == 401


def test_au2_wrong_key_answers_401_revealing_nothing(issuer: TokenIssuer) -> None:
    auth = authenticator("keys", issuer)
    wrong_key = refused(auth, Credential("key", ALPHA + "x"))
    bad_token = refused(auth, Credential("token", "garbage"))
    assert wrong_key.failure is Failure.INVALID_CREDENTIALS
    assert http_error(wrong_key) == http_error(bad_token)  # same status, same body
    for secret in (ALPHA, fingerprint(ALPHA), fingerprint(ALPHA + "x")):
        assert secret not in wrong_key.message


def test_au1_credentials_from_the_request_parser_are_understood(issuer: TokenIssuer) -> None:
    from shim.legacy.request import Credential as ParsedCredential

    auth = authenticator("keys", issuer)
    grant = auth.authenticate(ParsedCredential("key", ALPHA, "query"))
    token = issuer.issue(grant.subject)
    assert auth.authenticate(ParsedCredential("token", token, "header")).subject == grant.subject


# ---------------------------------------------------------------------- session limit


def test_session_limit_answers_429_beyond_n_and_frees_a_slot_when_a_session_ends(
    issuer: TokenIssuer,
) -> None:
    auth = authenticator("keys", issuer, max_sessions_per_key=2)
    by_key = auth.authenticate(Credential("key", ALPHA))
    by_token = auth.authenticate(Credential("token", issuer.issue(by_key.subject)))
    first = auth.open_session(by_key)
    with auth.open_session(by_token):  # a token counts against the key it came from
        with pytest.raises(HandshakeError) as caught:
            auth.open_session(by_key)
        assert caught.value.failure is Failure.TOO_MANY_SESSIONS
        assert http_error(caught.value).status == 429
        # Other keys have their own budget.
        auth.open_session(auth.authenticate(Credential("key", BETA))).release()
    assert auth.open_sessions(by_key) == 1
    first.release()
    first.release()  # idempotent
    assert auth.open_sessions(by_key) == 0
    with auth.open_session(by_key), auth.open_session(by_key):
        assert auth.open_sessions(by_key) == 2


def test_without_a_limit_sessions_are_only_counted(issuer: TokenIssuer) -> None:
    auth = authenticator("open", issuer)
    grant = auth.authenticate(Credential("key", "k"))
    slots = [auth.open_session(grant) for _ in range(50)]
    assert auth.open_sessions(grant) == 50
    for slot in slots:
        slot.release()
    assert auth.open_sessions(grant) == 0


def test_au4_credentials_and_grants_never_show_a_secret(issuer: TokenIssuer) -> None:
    grant = authenticator("passthrough", issuer).authenticate(Credential("key", AZURE_KEY))
    for shown in (repr(grant), repr(Credential("key", AZURE_KEY)), grant.log_label):
        assert AZURE_KEY not in shown
    assert grant.log_label == f"key {fingerprint(AZURE_KEY)}"


def test_shared_counts_let_a_chooser_see_every_subject_and_take_a_lease(tmp_path: Path) -> None:
    from shim.auth.shared import SharedSessionCounts

    counts = SharedSessionCounts(tmp_path / "pool")
    seen: list[dict[str, int]] = []

    def least_loaded(load: Mapping[str, int]) -> str | None:
        seen.append(dict(load))
        free = [n for n in ("a", "b") if load.get(n, 0) < 1]
        return min(free, key=lambda n: load.get(n, 0)) if free else None

    first, second = counts.open_chosen(least_loaded), counts.open_chosen(least_loaded)
    assert counts.open_chosen(least_loaded) is None  # both at their limit of one
    assert seen == [{}, {"a": 1}, {"a": 1, "b": 1}]
    assert first is not None and second is not None
    (tmp_path / "pool" / "a.999999999.0").touch()  # a lease of a process that is gone
    first()
    assert counts.counts() == {"b": 1}
