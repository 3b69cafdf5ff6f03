"""Verifying a token parses no PEM and no JWK: key objects are built once, when the key
set is read, and every later verification reuses them."""

from __future__ import annotations

import importlib.util
import uuid
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

from localapi.extension import ExtensionServer
from stateless_auth.http.cross_site import api_origin
from stateless_auth.tokens.access import issue_access_token
from stateless_auth.tokens.keys import KeySet
from tests.conftest import ROOT, load_event
from tests.keyfixtures import AUDIENCE, ISSUER, verifier_for

PUBLIC_KEYS_SECRET = "stateless-auth-test-public-keys"


def mint(key_set: KeySet, issuer: str = ISSUER) -> str:
    return issue_access_token(
        key_set.current,
        subject=str(uuid.uuid4()),
        email="ann@example.com",
        roles=["user"],
        issuer=issuer,
        audience=AUDIENCE,
        ttl=900,
        session_id=str(uuid.uuid4()),
    ).token


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
    token = mint(key_set)
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
    first, second = mint(key_set), mint(key_set)
    with counting_key_parsers() as parses:
        claims = [verifier.verify(t, issuer=ISSUER) for t in (first, first, second)]
    assert dict(parses) == {}
    assert claims[0]["sub"] == claims[1]["sub"] != claims[2]["sub"]


class FakeSecrets:
    """What the extension emulator asks of Secrets Manager: the public key set."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.calls = 0

    def get_secret_value(self, **arguments: Any) -> dict[str, Any]:
        self.calls += 1
        assert arguments["SecretId"] == PUBLIC_KEYS_SECRET
        return {"Name": PUBLIC_KEYS_SECRET, "SecretString": self.value}


@pytest.fixture
def authorizer(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, FakeSecrets, KeySet]]:
    key_set = KeySet.generate()
    secrets = FakeSecrets(key_set.public_jwks_string())
    with ExtensionServer(ssm_client=None, secrets_client=secrets) as extension:
        for name, value in {
            "JWT_AUDIENCE": AUDIENCE,
            "JWT_ISSUER": "https://api.example.test",
            "PUBLIC_KEYS_SECRET_ID": PUBLIC_KEYS_SECRET,
            **extension.environment(),
        }.items():
            monkeypatch.setenv(name, value)
        path = ROOT / "functions" / "authorizer" / "app.py"
        spec = importlib.util.spec_from_file_location("perf_guard_authorizer", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module, secrets, key_set


def test_the_authorizer_handler_parses_no_key_and_fetches_nothing_when_warm(
    authorizer: tuple[Any, FakeSecrets, KeySet],
) -> None:
    module, secrets, key_set = authorizer
    base = load_event("authorizer_valid.json")
    issuer = api_origin(base)

    def event(token: str) -> dict[str, Any]:
        return {**base, "headers": {**base["headers"], "authorization": f"Bearer {token}"}}

    first = module.lambda_handler(event(mint(key_set, issuer)), None)  # reads the key set
    assert first["isAuthorized"] is True
    fetched = secrets.calls
    tokens = [mint(key_set, issuer) for _ in range(2)]
    with counting_key_parsers() as parses:
        decisions = [module.lambda_handler(event(t), None) for t in (*tokens, tokens[0])]
    assert [d["isAuthorized"] for d in decisions] == [True, True, True]
    assert dict(parses) == {}
    assert secrets.calls == fetched
