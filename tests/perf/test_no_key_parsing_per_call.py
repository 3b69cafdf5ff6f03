"""Verifying a token parses no PEM and no JWK: key objects are built once, when the key
set is read, and every later verification reuses them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jwt.algorithms
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from jwt.api_jwk import PyJWK, PyJWKSet

from stateless_auth.http.cross_site import api_origin
from stateless_auth.tokens.keys import KeySet
from tests.support.events import load_event, with_bearer
from tests.support.extension import StaticSecrets, serving_secrets
from tests.support.handlers import import_handler
from tests.support.settings import AUDIENCE, ISSUER, PUBLIC_KEYS_SECRET_ID
from tests.support.tokens import mint_fresh, verifier_for


@contextmanager
def counting_key_parsers() -> Iterator[Counter[str]]:
    """Counts every call that turns a PEM, DER, SSH key, point or JWK into a key object."""
    calls: Counter[str] = Counter()

    def counted(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    with pytest.MonkeyPatch.context() as patch:
        for module in (jwt.algorithms, serialization):
            for name in (
                "load_pem_public_key",
                "load_pem_private_key",
                "load_der_public_key",
                "load_ssh_public_key",
            ):
                if hasattr(module, name):
                    label = f"{module.__name__}.{name}"
                    patch.setattr(module, name, counted(label, getattr(module, name)))
        patch.setattr(
            ECAlgorithm, "from_jwk", staticmethod(counted("from_jwk", ECAlgorithm.from_jwk))
        )
        from_point = ec.EllipticCurvePublicKey.from_encoded_point
        patch.setattr(
            ec.EllipticCurvePublicKey,
            "from_encoded_point",
            classmethod(lambda cls, *args: counted("from_encoded_point", from_point)(*args)),
        )
        patch.setattr(PyJWK, "__init__", counted("PyJWK", PyJWK.__init__))
        patch.setattr(PyJWKSet, "__init__", counted("PyJWKSet", PyJWKSet.__init__))
        yield calls


def test_the_counters_see_a_pem_parsed_per_call() -> None:
    # The guard guards: pyjwt's plain jwt.decode with a PEM string parses it every time.
    key_set = KeySet.generate()
    token = mint_fresh(key_set)
    pem = (
        key_set.current.private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with counting_key_parsers() as parses:
        for _ in range(2):
            jwt.decode(token, pem, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER)
    assert sum(parses.values()) == 2


def test_verifying_tokens_parses_no_key() -> None:
    key_set = KeySet.generate()
    verifier = verifier_for(key_set)  # reads and parses the key set once
    first, second = mint_fresh(key_set), mint_fresh(key_set)
    with counting_key_parsers() as parses:
        claims = [verifier.verify(t, issuer=ISSUER) for t in (first, first, second)]
    assert dict(parses) == {}
    assert claims[0]["sub"] == claims[1]["sub"] != claims[2]["sub"]


@pytest.fixture
def authorizer(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, StaticSecrets, KeySet]]:
    """The authorizer, reading the public key set through the extension stand-in."""
    key_set = KeySet.generate()
    with serving_secrets({PUBLIC_KEYS_SECRET_ID: key_set.public_jwks_string()}) as (
        extension,
        secrets,
    ):
        for name, value in {
            "JWT_AUDIENCE": AUDIENCE,
            "JWT_ISSUER": "https://api.example.test",
            "PUBLIC_KEYS_SECRET_ID": PUBLIC_KEYS_SECRET_ID,
            **extension.environment(),
        }.items():
            monkeypatch.setenv(name, value)
        module = import_handler("authorizer", module_name="perf_guard_authorizer")
        yield module, secrets, key_set


def test_the_authorizer_handler_parses_no_key_and_fetches_nothing_when_warm(
    authorizer: tuple[Any, StaticSecrets, KeySet],
) -> None:
    module, secrets, key_set = authorizer
    base = load_event("authorizer_valid.json")
    issuer = api_origin(base)

    def event(token: str) -> dict[str, Any]:
        return with_bearer(base, token)

    first = module.lambda_handler(
        event(mint_fresh(key_set, issuer=issuer)), None
    )  # reads the key set
    assert first["isAuthorized"] is True
    fetched = secrets.calls
    tokens = [mint_fresh(key_set, issuer=issuer) for _ in range(2)]
    with counting_key_parsers() as parses:
        decisions = [module.lambda_handler(event(t), None) for t in (*tokens, tokens[0])]
    assert [d["isAuthorized"] for d in decisions] == [True, True, True]
    assert dict(parses) == {}
    assert secrets.calls == fetched
