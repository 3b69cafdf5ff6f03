"""The authorizer's hot path against the raw signature check, and against the peers a
user might pick instead, all in this process and interleaved round by round.

- floor: the raw cryptography ES256 verify of the token: split it, base64url-decode the
  signature, convert it to DER and call EllipticCurvePublicKey.verify(ECDSA(SHA256))
  over the signing input; what any verifier of the token must do, and nothing else
  (no header, no claims). Its bare C call alone is reported too ("signature check only").
- handler, new token: functions/authorizer/app.py's lambda_handler on an API Gateway
  event (events/authorizer_valid.json) carrying a token it has never seen, so every
  check runs (header, kid lookup, signature, claims).
- handler, verified token: the same handler on one token it has verified before.
- peers, on the same new tokens: pyjwt's jwt.decode with the PEM passed per call,
  a PyJWKClient-style authorizer (the JWKS fetched from a loopback URL, pyjwt's default
  caching), and joserfc with a KeySet and a claims registry.

The authorizer reads its keys as in Lambda, through the extension: here the tests'
stand-in (localapi's ExtensionServer, tests/support/extension.py), which counts the reads
and also answers, for the PyJWKClient peer, as the API's JWKS endpoint.

Each round times every contender over its own batch of tokens (N calls), rotating the
order from round to round; a contender's figure is the median over rounds of its time
per call divided by a peer's in the same round. The budgets are relative to stock
jwt.decode(token, key) of the same tokens, measured alongside (the ratio to the floor
drifts with the machine's state from run to run; the order of the contenders holds): a
new token no slower than the library used plainly, a token seen before at most 5% of
it. The ratios to the floor and to joserfc are shown for information.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import ECAlgorithm
from werkzeug.wrappers import Response

from bench.common import Row, apply_environment, median, time_per_call, us
from tests.support.events import load_event, with_bearer
from tests.support.extension import ExtensionServer, StaticSecrets
from tests.support.handlers import LambdaContext, import_handler
from tests.support.settings import AUDIENCE, PUBLIC_KEYS_SECRET_ID
from tests.support.tokens import mint_fresh, verifier_for

SECTION = "authorizer"
FRESH_BUDGET = 1.0  # x stock jwt.decode of the same tokens, in the same round
CACHED_BUDGET = 0.05  # x stock jwt.decode
_DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - the handlers' loggers keep it for the run


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def floor_inputs(token: str) -> tuple[bytes, bytes]:
    """(DER signature, signing input) of a compact ES256 JWS."""
    header, payload, signature = token.split(".")
    raw = _b64decode(signature)
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:], "big")
    return encode_dss_signature(r, s), f"{header}.{payload}".encode("ascii")


class ExtensionAndJwks(ExtensionServer):
    """The extension stand-in over fixed secrets, also serving ``jwks_url`` (no token)."""

    JWKS_PATH = "/.well-known/jwks.json"

    def __init__(self, secrets: StaticSecrets, jwks_document: str) -> None:
        super().__init__(ssm_client=None, secrets_client=secrets)
        self.jwks_document = jwks_document

    @property
    def jwks_url(self) -> str:
        return self.url + self.JWKS_PATH

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == self.JWKS_PATH:
            document = Response(self.jwks_document, mimetype="application/json")
            return document(environ, start_response)
        return super().wsgi_app(environ, start_response)


def collect(function: Callable[[Any], Any], sink: list[Any]) -> Callable[[Any], None]:
    """function, keeping what it returns (every contender pays the same for this)."""
    append = sink.append

    def call(item: Any) -> None:
        append(function(item))

    return call


def run(
    *, rounds: int = 12, batch: int = 250, cached_calls: int = 3000, full_rounds: int = 7
) -> list[Row]:
    from contextlib import redirect_stdout

    from stateless_auth.http.cross_site import api_origin
    from stateless_auth.tokens.keys import KeySet

    key_set = KeySet.generate()
    jwks_document = key_set.public_jwks_string()
    base_event = load_event("authorizer_valid.json")
    issuer = api_origin(base_event)
    signing_key = key_set.current

    def mint() -> str:
        return mint_fresh(signing_key, issuer=issuer)

    rows: list[Row] = []
    key_reads = StaticSecrets({PUBLIC_KEYS_SECRET_ID: jwks_document})
    extension = ExtensionAndJwks(key_reads, jwks_document)
    with extension:
        apply_environment(extension.environment())
        with redirect_stdout(_DEVNULL):
            module = import_handler("authorizer", module_name="bench_handler_authorizer")
        handler: Callable[[dict[str, Any], Any], dict[str, Any]] = module.lambda_handler
        context = LambdaContext(function_name="authorizer")

        # The first call of an execution environment reads the key set (one request).
        first = with_bearer(base_event, mint())
        started = time.perf_counter()
        first_decision = handler(first, context)
        first_call = time.perf_counter() - started
        if not first_decision.get("isAuthorized"):
            raise RuntimeError(f"the authorizer denied a valid token: {first_decision}")

        # Peers, built once as their users would build them.
        public_key = ECAlgorithm.from_jwk(json.dumps(signing_key.public_jwk()))
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        pem = public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        jwk_client = jwt.PyJWKClient(extension.jwks_url)

        from joserfc import jwt as jose_jwt
        from joserfc.jwk import KeySet as JoseKeySet

        jose_keys = JoseKeySet.import_key_set(json.loads(jwks_document))
        jose_claims = jose_jwt.JWTClaimsRegistry(
            leeway=30,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": AUDIENCE},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        )
        verifier = verifier_for(key_set)

        signature_algorithm = ec.ECDSA(hashes.SHA256())
        verify_signature = public_key.verify

        def signature_only(item: tuple[bytes, bytes]) -> None:
            verify_signature(item[0], item[1], signature_algorithm)

        def floor(token: str) -> None:
            signing_input, _, signature = token.rpartition(".")
            raw = _b64decode(signature)
            der = encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )
            verify_signature(der, signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))

        def stock_pyjwt(token: str) -> dict[str, Any]:
            claims: dict[str, Any] = jwt.decode(
                token, public_key, algorithms=["ES256"], audience=AUDIENCE, issuer=issuer
            )
            return claims

        def pem_per_call(token: str) -> dict[str, Any]:
            claims: dict[str, Any] = jwt.decode(
                token, pem, algorithms=["ES256"], audience=AUDIENCE, issuer=issuer
            )
            return claims

        def pyjwk_client(token: str) -> dict[str, Any]:
            signing = jwk_client.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, signing.key, algorithms=["ES256"], audience=AUDIENCE, issuer=issuer
            )
            return claims

        def joserfc_decode(token: str) -> dict[str, Any]:
            decoded = jose_jwt.decode(token, jose_keys, algorithms=["ES256"])
            jose_claims.validate(decoded.claims)
            return decoded.claims

        def library(token: str) -> dict[str, Any]:
            return verifier.verify(token, issuer=issuer)

        def call_handler(event: dict[str, Any]) -> dict[str, Any]:
            return handler(event, context)

        # Warm every contender once (imports, lazy tables, the PyJWKClient's first fetch).
        spare = mint()
        for peer in (pem_per_call, pyjwk_client, joserfc_decode, library):
            peer(spare)
        floor(spare)
        signature_only(floor_inputs(spare))
        stock_pyjwt(spare)
        handler(with_bearer(base_event, mint()), context)

        fetches_before = key_reads.calls
        per_round: dict[str, list[float]] = {}
        outcomes: dict[str, list[Any]] = {}
        for index in range(rounds):
            tokens = [mint() for _ in range(batch)]
            cached_event = with_bearer(base_event, mint())
            handler(cached_event, context)  # verified once: later calls may use the cache
            plan: list[tuple[str, Callable[[Any], Any], list[Any]]] = [
                ("floor", floor, tokens),
                ("signature_only", signature_only, [floor_inputs(token) for token in tokens]),
                ("stock_pyjwt", stock_pyjwt, tokens),
                ("handler_new", call_handler, [with_bearer(base_event, t) for t in tokens]),
                ("handler_cached", call_handler, [cached_event] * cached_calls),
                ("library_verify", library, tokens),
                ("peer_pem_per_call", pem_per_call, tokens),
                ("peer_pyjwkclient", pyjwk_client, tokens),
                ("peer_joserfc", joserfc_decode, tokens),
            ]
            shift = index % len(plan)
            for name, function, items in plan[shift:] + plan[:shift]:
                sink = outcomes.setdefault(name, [])
                per_round.setdefault(name, []).append(time_per_call(collect(function, sink), items))
        seen = rounds * (batch + 1) + 2

        # A busy execution environment: as many live verified tokens as the cache holds
        # (its default size), then new tokens keep arriving.
        from stateless_auth.tokens import authorizer as authorization

        capacity = int(getattr(authorization, "DEFAULT_CACHE_SIZE", 4096))
        for _ in range(capacity):
            handler(with_bearer(base_event, mint()), context)
        full: dict[str, list[float]] = {}
        for index in range(full_rounds):
            tokens = [mint() for _ in range(batch)]
            trio: list[tuple[str, Callable[[Any], Any], list[Any]]] = [
                ("floor", floor, tokens),
                ("stock_pyjwt", stock_pyjwt, tokens),
                ("handler_new", call_handler, [with_bearer(base_event, t) for t in tokens]),
            ]
            shift = index % len(trio)
            for name, function, items in trio[shift:] + trio[:shift]:
                sink = outcomes.setdefault(f"{name}_full", [])
                full.setdefault(name, []).append(time_per_call(collect(function, sink), items))
        warm_fetches = key_reads.calls - fetches_before
        warm_calls = seen + capacity + full_rounds * batch + rounds * cached_calls

    denied = sum(1 for d in outcomes["handler_new"] if not d.get("isAuthorized"))
    denied_full = sum(1 for d in outcomes["handler_new_full"] if not d.get("isAuthorized"))
    cached_denied = sum(1 for d in outcomes["handler_cached"] if not d.get("isAuthorized"))

    def ratio(
        name: str, unit: str = "floor", rounds_of: dict[str, list[float]] = per_round
    ) -> float:
        """Median over rounds of name's time per call / unit's in the same round."""
        return median(
            value / base for value, base in zip(rounds_of[name], rounds_of[unit], strict=True)
        )

    floor_time = median(per_round["floor"])
    timings = {name: median(values) for name, values in per_round.items()}
    new_ratio = ratio("handler_new", "stock_pyjwt")
    full_ratio = ratio("handler_new", "stock_pyjwt", full)
    cached_ratio = ratio("handler_cached", "stock_pyjwt")
    common = {
        "rounds": rounds,
        "batch": batch,
        "per_round_seconds": per_round,
        "full_cache_rounds_seconds": full,
        "cache_capacity": capacity,
    }

    rows.append(
        Row(
            SECTION,
            "ES256 verify floor (raw cryptography verify of the token)",
            floor_time,
            us(floor_time),
            note=f"the raw signature check; median of {rounds} rounds of {batch} tokens",
            data=common,
        )
    )
    stock_floor = ratio("stock_pyjwt")
    rows.append(
        Row(
            SECTION,
            "stock jwt.decode(token, key) with pyjwt's claim checks",
            timings["stock_pyjwt"],
            f"{us(timings['stock_pyjwt'])} ({stock_floor:.2f}x floor)",
            note="the unit of the budgets below, measured in the same rounds",
        )
    )
    rows.append(
        Row(
            SECTION,
            "authorizer handler, new token, full checks",
            new_ratio,
            f"{new_ratio:.2f}x stock ({us(timings['handler_new'])})",
            budget=f"≤ {FRESH_BUDGET}x stock",
            passed=new_ratio <= FRESH_BUDGET and denied == 0,
            note=(f"denied {denied}; " if denied else "")
            + f"{seen} tokens through a token cache of {capacity}",
        )
    )
    rows.append(
        Row(
            SECTION,
            "authorizer handler, new token, token cache full",
            full_ratio,
            f"{full_ratio:.2f}x stock ({us(median(full['handler_new']))})",
            budget=f"≤ {FRESH_BUDGET}x stock",
            passed=full_ratio <= FRESH_BUDGET and denied_full == 0,
            note=(f"denied {denied_full}; " if denied_full else "")
            + f"after {capacity} more live tokens; {full_rounds} rounds of {batch}",
        )
    )
    rows.append(
        Row(
            SECTION,
            "authorizer handler, token already verified",
            cached_ratio,
            f"{cached_ratio:.3f}x stock ({us(timings['handler_cached'])})",
            budget=f"≤ {CACHED_BUDGET}x stock",
            passed=cached_ratio <= CACHED_BUDGET and cached_denied == 0,
            note=f"denied {cached_denied}" if cached_denied else "",
        )
    )
    rows.append(
        Row(
            SECTION,
            "authorizer key-set fetches during warm calls",
            float(warm_fetches),
            str(warm_fetches),
            budget="0",
            passed=warm_fetches == 0,
            note=f"over {warm_calls} warm calls",
        )
    )
    rows.append(
        Row(
            SECTION,
            "authorizer first call (key-set read + verify)",
            first_call,
            f"{first_call * 1e3:.2f} ms",
            note="one GET to a loopback stand-in of the extension, then a full verify",
        )
    )
    against_floor = ratio("handler_new")
    against_joserfc = ratio("handler_new", "peer_joserfc")
    rows.append(
        Row(
            SECTION,
            "authorizer handler, new token, against the raw verify",
            against_floor,
            f"{against_floor:.2f}x floor",
        )
    )
    rows.append(
        Row(
            SECTION,
            "authorizer handler, new token, against joserfc",
            against_joserfc,
            f"{against_joserfc:.2f}x joserfc",
        )
    )
    for name, label in (
        ("signature_only", "signature check only (bare C verify, DER and input prepared)"),
        ("library_verify", "AccessTokenVerifier.verify alone (no handler, no cache)"),
        ("peer_pem_per_call", "peer: jwt.decode with the PEM passed per call"),
        ("peer_pyjwkclient", "peer: PyJWKClient(url).get_signing_key_from_jwt + jwt.decode"),
        ("peer_joserfc", "peer: joserfc jwt.decode(KeySet) + JWTClaimsRegistry"),
    ):
        value = ratio(name)
        rows.append(Row(SECTION, label, value, f"{value:.2f}x floor ({us(timings[name])})"))
    return rows
