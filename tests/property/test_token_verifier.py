"""The access-token verifier (tokens/access.py) and the authorizer's decision with
arbitrary JWT-shaped strings: three base64url segments of arbitrary JSON headers and
claims, alg none/HS256/ES256 and others, signatures by our key, by a wrong key, HMAC with
our public key as the secret, kid games, huge tokens, non-ASCII. The verifier accepts a
token only when it is signed by our key with an acceptable header and the right claims,
and raises nothing but TokenVerificationError; the authorizer allows exactly those and
denies everything else with {"isAuthorized": False}."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm

from stateless_auth.domain.errors import TokenVerificationError
from stateless_auth.tokens.access import (
    ACCEPTED_TOKEN_TYPES,
    LEEWAY_SECONDS,
    MAX_HEADER_SEGMENT,
    MAX_TOKEN_BYTES,
    AccessTokenVerifier,
)
from stateless_auth.tokens.authorizer import DENY, Authorizer
from stateless_auth.tokens.keys import KeySet
from tests.property.strategies import any_text, json_values
from tests.support.settings import AUDIENCE, ISSUER
from tests.support.tokens import store_for

OURS = KeySet.generate()
OTHER = KeySet.generate()  # a well-formed key that is not ours
OUR_KEY = OURS.current
OUR_KID = OUR_KEY.kid
NOW = int(time.time())
ES256 = ECAlgorithm(ECAlgorithm.SHA256)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(value if isinstance(value, bytes) else json.dumps(value).encode())


kids = st.one_of(
    st.just(OUR_KID),
    st.just(OUR_KID),
    st.just(OTHER.current.kid),
    st.sampled_from(["", "../../etc/passwd", OUR_KID + " ", OUR_KID.upper(), "null"]),
    any_text,
    json_values,
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.one_of(
            st.sampled_from(["ES256", "ES256", "ES256", "none", "None", "HS256", "RS256", "ES384"]),
            json_values,
        ),
        "typ": st.one_of(
            st.sampled_from(["at+jwt", "AT+JWT", "application/at+jwt", "JWT", ""]), json_values
        ),
        "kid": kids,
        "crit": json_values,
        "jku": st.just("https://attacker.example/jwks.json"),
        "jwk": st.just(OTHER.current.public_jwk()),
    },
).flatmap(
    lambda h: st.dictionaries(any_text, json_values, max_size=2).map(lambda extra: {**extra, **h})
)
times = st.one_of(
    st.integers(NOW - 4000, NOW + 4000),
    st.sampled_from([NOW, NOW - LEEWAY_SECONDS, NOW + LEEWAY_SECONDS, 0, 2**63]),
    json_values,
    st.integers(NOW, NOW + 900).map(str),
    st.integers(NOW, NOW + 900).map(float),
)
claims = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.one_of(st.just(ISSUER), st.just(ISSUER), st.just(ISSUER + "/"), json_values),
        "aud": st.one_of(st.just(AUDIENCE), st.just(AUDIENCE), st.just([AUDIENCE]), json_values),
        "sub": st.one_of(st.just("u1"), any_text, json_values),
        "exp": times,
        "iat": times,
        "nbf": times,
        "jti": st.one_of(st.just("j1"), json_values),
        "sid": json_values,
        "email": json_values,
        "roles": st.one_of(st.just(["user"]), st.lists(any_text, max_size=2), json_values),
    },
)
payloads = st.one_of(claims, claims, claims, json_values)
GOOD_HEADER = {"alg": "ES256", "typ": "at+jwt", "kid": OUR_KID}
GOOD_CLAIMS = {
    "iss": ISSUER,
    "aud": AUDIENCE,
    "sub": "u1",
    "iat": NOW,
    "exp": NOW + 900,
    "jti": "j1",
    "sid": "s1",
    "roles": ["user"],
}


@st.composite
def nearly_good(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Our header and claims, with at most a couple of entries of each replaced by
    arbitrary ones (so that acceptance and each single refusal are reached)."""
    header: dict[str, Any] = dict(GOOD_HEADER)
    payload: dict[str, Any] = dict(GOOD_CLAIMS)
    drawn_header, drawn_claims = draw(headers), draw(claims)
    for name in draw(st.lists(st.sampled_from(sorted(drawn_header) or ["alg"]), max_size=1)):
        header[name] = drawn_header.get(name)
    for name in draw(st.lists(st.sampled_from(sorted(drawn_claims) or ["sub"]), max_size=2)):
        payload[name] = drawn_claims.get(name)
    return header, payload


def oracle_accepts(header: Any, payload: Any) -> bool:
    """Whether a token with this header and payload, signed by our key with ES256, is one
    docs/tokens.md says must be accepted (written out again, apart from the verifier)."""
    if not isinstance(header, dict) or header.get("alg") != "ES256" or "crit" in header:
        return False
    if str(header.get("typ", "")).lower() not in ACCEPTED_TOKEN_TYPES:
        return False
    if header.get("kid") != OUR_KID or not isinstance(payload, dict):
        return False
    exp, iat, nbf = payload.get("exp"), payload.get("iat"), payload.get("nbf", NOW)
    if type(exp) is not int or type(iat) is not int or type(nbf) is not int:
        return False
    if exp <= NOW - LEEWAY_SECONDS or iat > NOW + LEEWAY_SECONDS or nbf > NOW + LEEWAY_SECONDS:
        return False
    roles = payload.get("roles", [])
    return (
        payload.get("iss") == ISSUER
        and type(payload.get("aud")) is str
        and payload["aud"] == AUDIENCE
        and type(payload.get("sub")) is str
        and payload["sub"] != ""
        and type(payload.get("jti")) is str
        and type(roles) is list
        and all(type(r) is str for r in roles)
    )


@st.composite
def tokens(draw: st.DrawFn) -> tuple[str, bool]:
    """(a JWT-shaped string, whether the verifier must accept it)."""
    kind = draw(
        st.sampled_from(
            ["ours"] * 4
            + ["nearly good"] * 4
            + ["other key", "hmac", "none", "tampered"]
            + ["raw", "huge"]
        )
    )
    if kind == "raw":
        raw = draw(st.one_of(any_text, st.text(".abcXYZ09-_=é", max_size=60)))
        return raw, False
    if kind == "huge":
        size = draw(st.integers(MAX_TOKEN_BYTES - 10, 4 * MAX_TOKEN_BYTES))
        return segment({"alg": "ES256", "kid": OUR_KID}) + "." + "A" * size + ".sig", False
    if kind == "nearly good":
        header, payload = draw(nearly_good())
        kind = draw(st.sampled_from(["ours", "ours", "other key", "hmac", "tampered"]))
    else:
        header, payload = draw(headers), draw(payloads)
    signing_input = f"{segment(header)}.{segment(payload)}".encode()
    if kind in {"ours", "tampered"}:
        signature = ES256.sign(signing_input, OUR_KEY.private_key)
        token = f"{signing_input.decode()}.{b64(signature)}"
        # Size limits (docs/tokens.md): the header segment and the whole token.
        small = len(segment(header)) <= MAX_HEADER_SEGMENT and len(token) <= MAX_TOKEN_BYTES
        if kind == "ours":
            return token, small and oracle_accepts(header, payload)
        position = draw(st.integers(0, len(token) - 1))
        replacement = draw(st.sampled_from("Aa0-_.=é"))
        tampered = token[:position] + replacement + token[position + 1 :]
        return tampered, tampered == token and small and oracle_accepts(header, payload)
    if kind == "other key":
        signature = ES256.sign(signing_input, OTHER.current.private_key)
    elif kind == "hmac":  # alg confusion: our public key as an HMAC secret
        secret = json.dumps(OUR_KEY.public_jwk()).encode()
        signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    else:
        signature = b""
    return f"{signing_input.decode()}.{b64(signature)}", False


def verifier() -> AccessTokenVerifier:
    """A verifier of our keys whose clock stands at NOW, the oracle's (a long run must
    not move the verifier's "now" past a token the oracle judged with NOW)."""
    return AccessTokenVerifier(store_for(OURS), audience=AUDIENCE, clock=lambda: NOW)


def verify(token: str) -> bool:
    try:
        verifier().verify(token, issuer=ISSUER)
    except TokenVerificationError:
        return False
    return True


@given(tokens())
def test_the_verifier_accepts_only_our_signature_with_the_right_claims(
    drawn: tuple[str, bool],
) -> None:
    token, acceptable = drawn
    accepted = verify(token)  # anything but TokenVerificationError fails the test
    event(f"accepted {accepted}")
    assert accepted == acceptable, token


@given(tokens(), st.sampled_from(["Bearer ", "bearer ", "Bearer  ", "Basic ", ""]))
def test_the_authorizer_allows_exactly_the_verified_tokens(
    drawn: tuple[str, bool], scheme: str
) -> None:
    token, acceptable = drawn
    authorizer = Authorizer(verifier(), issuer=lambda: ISSUER)
    decision, reason = authorizer.decide({"headers": {"authorization": scheme + token}})
    assert isinstance(reason, str)
    bearer = scheme.strip().lower() == "bearer" and token.strip() == token and token != ""
    if acceptable and bearer:
        assert decision["isAuthorized"] is True, (reason, token)
        assert set(decision) == {"isAuthorized", "context"}
    else:
        assert decision == DENY, (reason, token)
