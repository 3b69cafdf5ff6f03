"""Access-token verification (docs/tokens.md, "Access token"): every forgery, confusion and
malformed token below is denied."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from stateless_auth.domain.errors import TokenVerificationError
from stateless_auth.tokens.access import MAX_TOKEN_BYTES
from stateless_auth.tokens.keys import KeySet, SigningKey
from stateless_auth.tokens.refresh_tokens import hash_refresh_token, new_refresh_token
from tests.support.settings import AUDIENCE, ISSUER
from tests.support.tokens import mint, verifier_for


@pytest.fixture(scope="module")
def key_set() -> KeySet:
    return KeySet.generate()


def issue(key: SigningKey, *, issuer: str = ISSUER, email_verified: bool = False) -> str:
    return mint(key, subject="user-1", issuer=issuer, email_verified=email_verified)


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + 900,
        "jti": "j1",
        "roles": ["user"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: SigningKey, payload: dict[str, object], **header: object) -> str:
    headers: dict[str, object] = {"typ": "at+jwt", "kid": key.kid}
    headers.update(header)
    return jwt.encode(payload, key.private_key, algorithm="ES256", headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_valid_token_verifies_with_its_claims(key_set: KeySet) -> None:
    token = issue(key_set.current)
    result = verifier_for(key_set).verify(token, issuer=ISSUER)
    assert result["sub"] == "user-1"
    assert result["roles"] == ["user"]
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": key_set.current.kid}


@pytest.mark.parametrize("status", ["previous", "current", "next"])
def test_every_key_of_the_published_set_is_accepted(key_set: KeySet, status: str) -> None:
    token = issue(getattr(key_set, status))
    assert verifier_for(key_set).verify(token, issuer=ISSUER)["sub"] == "user-1"


def test_standard_library_verifies_with_the_jwks(key_set: KeySet) -> None:
    token = issue(key_set.current)
    jwks = jwt.PyJWKSet.from_dict(key_set.public_jwks())
    key = next(k for k in jwks.keys if k.key_id == key_set.current.kid)
    assert jwt.decode(token, key, algorithms=["ES256"], audience=AUDIENCE)["sub"] == "user-1"


def deny(key_set: KeySet, token: str, issuer: str = ISSUER) -> None:
    with pytest.raises(TokenVerificationError):
        verifier_for(key_set).verify(token, issuer=issuer)


def test_alg_none_is_denied(key_set: KeySet) -> None:
    header = b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": key_set.current.kid}).encode())
    deny(key_set, f"{header}.{b64(json.dumps(claims()).encode())}.")


def test_hs256_signed_with_the_public_key_is_denied(key_set: KeySet) -> None:
    pem = key_set.current.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": key_set.current.kid}).encode())
    body = b64(json.dumps(claims()).encode())
    import hashlib
    import hmac

    signature = b64(hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    deny(key_set, f"{header}.{body}.{signature}")


def test_tampered_claims_are_denied(key_set: KeySet) -> None:
    header, _, signature = issue(key_set.current).split(".")
    forged = b64(json.dumps(claims(sub="admin", roles=["admin"])).encode())
    deny(key_set, f"{header}.{forged}.{signature}")


def test_foreign_key_with_our_kid_is_denied(key_set: KeySet) -> None:
    foreign = SigningKey.generate()
    deny(key_set, sign(foreign, claims(), kid=key_set.current.kid))


def test_unknown_kid_is_denied(key_set: KeySet) -> None:
    deny(key_set, sign(SigningKey.generate(), claims()))


def test_embedded_jwk_and_jku_headers_are_ignored(key_set: KeySet) -> None:
    attacker = SigningKey.generate()
    token = sign(
        attacker,
        claims(),
        kid=attacker.kid,
        jwk=attacker.public_jwk(),
        jku="https://attacker.example/jwks.json",
        x5u="https://attacker.example/cert.pem",
    )
    deny(key_set, token)
    # our kid with the attacker's key embedded still needs our key's signature
    deny(key_set, sign(attacker, claims(), kid=key_set.current.kid, jwk=attacker.public_jwk()))


def test_crit_header_is_denied(key_set: KeySet) -> None:
    deny(key_set, sign(key_set.current, claims(), crit=["exp"]))


@pytest.mark.parametrize("typ", ["JWT", "jwt", None, "at+jwt2"])
def test_wrong_typ_is_denied(key_set: KeySet, typ: str | None) -> None:
    deny(key_set, sign(key_set.current, claims(), typ=typ))


def test_wrong_issuer_is_denied(key_set: KeySet) -> None:
    deny(key_set, issue(key_set.current, issuer="https://evil.example"))
    deny(key_set, issue(key_set.current), issuer="https://other.example.test")


@pytest.mark.parametrize("aud", ["someone-else", ["someone-else"], [AUDIENCE, "x"]])
def test_wrong_audience_is_denied(key_set: KeySet, aud: object) -> None:
    deny(key_set, sign(key_set.current, claims(aud=aud)))


def test_expired_is_denied_beyond_30s_leeway(key_set: KeySet) -> None:
    now = int(time.time())
    deny(key_set, sign(key_set.current, claims(iat=now - 1000, exp=now - 31)))
    verifier_for(key_set).verify(
        sign(key_set.current, claims(iat=now - 1000, exp=now - 20)), issuer=ISSUER
    )


def test_iat_in_the_future_is_denied(key_set: KeySet) -> None:
    now = int(time.time())
    deny(key_set, sign(key_set.current, claims(iat=now + 120, exp=now + 1000)))


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "iat", "exp", "jti"])
def test_missing_claims_are_denied(key_set: KeySet, missing: str) -> None:
    payload = claims()
    payload.pop(missing)
    deny(key_set, sign(key_set.current, payload))


def test_empty_or_non_string_sub_is_denied(key_set: KeySet) -> None:
    deny(key_set, sign(key_set.current, claims(sub="")))
    deny(key_set, sign(key_set.current, claims(roles="admin")))


def test_oversized_token_is_denied(key_set: KeySet) -> None:
    token = sign(key_set.current, claims(padding="x" * MAX_TOKEN_BYTES))
    assert len(token) > MAX_TOKEN_BYTES
    deny(key_set, token)


def test_refresh_token_is_not_an_access_token(key_set: KeySet) -> None:
    deny(key_set, new_refresh_token())


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "...", "\x00", "é.é.é"])
def test_garbage_is_denied(key_set: KeySet, garbage: str) -> None:
    deny(key_set, garbage)


def test_a_key_that_left_the_set_is_refused() -> None:
    old = KeySet.generate()
    twice = old.rotated().rotated().rotated()
    deny(twice, issue(old.current))


def test_refresh_tokens_are_256_bit_random_and_hashed() -> None:
    tokens = {new_refresh_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert len(hash_refresh_token(token)) == 64
    assert token not in hash_refresh_token(token)


BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.parametrize("segment", [0, 1, 2])
@pytest.mark.parametrize("change", ["foreign", "non_canonical", "padding"])
def test_segments_pyjwt_refuses_are_denied(key_set: KeySet, segment: int, change: str) -> None:
    """The base64url rules are pyjwt's own (through its public decode): the alphabet, the
    canonical encoding only, at most two '=' and only on a multiple of four."""
    parts = issue(key_set.current).split(".")
    part = parts[segment]
    if change == "foreign":
        part = part[:5] + "!" + part[6:]
    elif change == "non_canonical":
        if len(part) % 4 == 0:
            pytest.skip("this segment has no unused bits")
        # An unused low bit of the last character set: the same bytes, another encoding.
        part = part[:-1] + BASE64URL[BASE64URL.index(part[-1]) | 1]
    else:
        part += "==="
    parts[segment] = part
    deny(key_set, ".".join(parts))


# --- issue 8, finding 6 -----------------------------------------------------------------


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+JWT"])
def test_both_rfc_9068_type_spellings_are_accepted(key_set: KeySet, typ: str) -> None:
    token = sign(key_set.current, claims(), typ=typ)
    assert verifier_for(key_set).verify(token, issuer=ISSUER)["sub"] == "user-1"


@pytest.mark.parametrize("typ", ["jwt", "JWT", "application/jwt", "at+jwt; x=y", "mfa+jwt"])
def test_other_types_are_denied(key_set: KeySet, typ: str) -> None:
    with pytest.raises(TokenVerificationError):
        verifier_for(key_set).verify(sign(key_set.current, claims(), typ=typ), issuer=ISSUER)


@pytest.mark.parametrize("claim", ["exp", "iat"])
@pytest.mark.parametrize("kind", [str, float, bool])
def test_exp_and_iat_must_be_json_integers(key_set: KeySet, claim: str, kind: type) -> None:
    now = int(time.time())
    value = {"exp": now + 900, "iat": now}[claim]
    odd: object = True if kind is bool else kind(value)
    token = sign(key_set.current, claims(**{claim: odd}))
    with pytest.raises(TokenVerificationError):
        verifier_for(key_set).verify(token, issuer=ISSUER)


def test_issued_tokens_say_whether_the_email_is_verified(key_set: KeySet) -> None:
    verifier = verifier_for(key_set)
    assert verifier.verify(issue(key_set.current), issuer=ISSUER)["email_verified"] is False
    proven = issue(key_set.current, email_verified=True)
    assert verifier.verify(proven, issuer=ISSUER)["email_verified"] is True


@pytest.mark.parametrize("payload", [b"[" * 5000, b'{"a":' * 5000, b"[" * 700])
def test_a_deeply_nested_header_is_denied_not_a_crash(key_set: KeySet, payload: bytes) -> None:
    # Review of issue 8: "[" * 5000 raised RecursionError out of the authorizer (a 500).
    token = f"{b64(payload)}.e30.x"
    with pytest.raises(TokenVerificationError):
        verifier_for(key_set).verify(token, issuer=ISSUER)
