"""ES256 signing keys: the private key set (a secret) and its public JWKS.

The set holds three keys, previous, current and next (the standby model, docs/keys.md
"Keys"): tokens are signed with current, and verifiers accept all three, so a rotation
never invalidates a token or surprises a cached verifier.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from jwt import PyJWK
from jwt.algorithms import ECAlgorithm

from stateless_auth.domain.errors import KeySetError
from stateless_auth.tokens.refreshing import Refreshing

ALGORITHM = "ES256"
STATUSES = ("previous", "current", "next")
# After an unknown kid forces a re-read, further unknown kids wait this long.
UNKNOWN_KID_COOLDOWN_SECONDS = 30.0


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of an EC public key."""
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]},
        separators=(",", ":"),
        sort_keys=True,
    )
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _public_members(jwk: dict[str, Any]) -> dict[str, Any]:
    return {"kty": jwk["kty"], "crv": jwk["crv"], "x": jwk["x"], "y": jwk["y"]}


@dataclass(frozen=True)
class SigningKey:
    """One private ES256 key and its stable key id."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey
    created_at: int

    @classmethod
    def generate(cls, now: float | None = None) -> SigningKey:
        private_key = ec.generate_private_key(ec.SECP256R1())
        jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        created = int(time.time() if now is None else now)
        return cls(kid=thumbprint(jwk), private_key=private_key, created_at=created)

    def private_jwk(self) -> dict[str, Any]:
        return ECAlgorithm.to_jwk(self.private_key, as_dict=True)

    def public_jwk(self) -> dict[str, Any]:
        jwk = _public_members(ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True))
        return {**jwk, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}


@dataclass(frozen=True)
class KeySet:
    """The previous, current and next signing keys."""

    previous: SigningKey
    current: SigningKey
    next: SigningKey

    @classmethod
    def generate(cls, now: float | None = None) -> KeySet:
        return cls(SigningKey.generate(now), SigningKey.generate(now), SigningKey.generate(now))

    def rotated(self, now: float | None = None) -> KeySet:
        """next becomes current, current becomes previous, a new next is made."""
        return KeySet(previous=self.current, current=self.next, next=SigningKey.generate(now))

    def entries(self) -> list[tuple[str, SigningKey]]:
        return [("previous", self.previous), ("current", self.current), ("next", self.next)]

    def to_secret_string(self) -> str:
        return json.dumps(
            {
                "keys": [
                    {
                        "status": status,
                        "kid": key.kid,
                        "created_at": key.created_at,
                        "jwk": key.private_jwk(),
                    }
                    for status, key in self.entries()
                ]
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_secret_string(cls, secret: str) -> KeySet:
        try:
            document = json.loads(secret)
            by_status: dict[str, SigningKey] = {}
            for entry in document["keys"]:
                loaded = ECAlgorithm.from_jwk(entry["jwk"])
                if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                    raise KeySetError("the signing key set holds a public key")
                key = SigningKey(
                    kid=str(entry["kid"]), private_key=loaded, created_at=int(entry["created_at"])
                )
                by_status[str(entry["status"])] = key
            return cls(by_status["previous"], by_status["current"], by_status["next"])
        except KeySetError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise KeySetError(f"the signing key set is malformed: {type(exc).__name__}") from None

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS document: public members only, newest first."""
        return {
            "keys": [self.next.public_jwk(), self.current.public_jwk(), self.previous.public_jwk()]
        }

    def public_jwks_string(self) -> str:
        return json.dumps(self.public_jwks(), separators=(",", ":"))


def parse_public_jwks(document: str) -> dict[str, PyJWK]:
    """kid -> verification key, built once; ES256 P-256 public keys only."""
    try:
        jwks = json.loads(document)
        entries = jwks["keys"]
        if not isinstance(entries, list):
            raise TypeError("keys is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise KeySetError(f"the public key set is malformed: {type(exc).__name__}") from None
    keys: dict[str, PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict) or "d" in entry:
            continue  # never accept private material in the public set
        if (
            entry.get("kty") != "EC"
            or entry.get("crv") != "P-256"
            or not isinstance(entry.get("kid"), str)
        ):
            continue
        try:
            keys[entry["kid"]] = PyJWK(
                {**_public_members(entry), "kid": entry["kid"]}, algorithm=ALGORITHM
            )
        except Exception:  # noqa: S112 - a bad entry must not hide the good ones
            continue
    return keys


class PublicKeyStore:
    """The verifier's view of the public key set, loaded once and re-read on a schedule.

    Re-read every `refresh_seconds`, and early when a token names an unknown kid, but
    at most once per `cooldown_seconds` for unknown kids, so a flood of made-up kids
    cannot become a flood of fetches. A failed re-read keeps the keys it had (and is
    retried after the cooldown, or after `refresh_seconds` if that is shorter).
    """

    def __init__(
        self,
        fetch: Callable[[], str],
        *,
        refresh_seconds: float = 300.0,
        cooldown_seconds: float = UNKNOWN_KID_COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_seconds = refresh_seconds
        self._cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, PyJWK] = {}
        self._jwks: dict[str, Any] = {"keys": []}
        self._loaded_at: float | None = None
        self._last_attempt: float | None = None
        self._version = 0
        self.fetches = 0

    def _reload(self, now: float) -> None:
        self._last_attempt = now
        self.fetches += 1
        try:
            document = self._fetch()
            keys = parse_public_jwks(document)
        except KeySetError:
            if self._loaded_at is None:
                raise
            return  # keep serving the keys we have; try again after the cooldown
        if set(keys) != set(self._keys):
            self._version += 1
        self._keys = keys
        self._jwks = {"keys": [self._public_entry(key) for key in keys.values()]}
        self._loaded_at = now

    def _due(self, now: float, kid: str | None = None) -> bool:
        """Whether to re-read now: the set is stale, or kid is unknown (and cooled down)."""
        if self._loaded_at is None or self._last_attempt is None:
            return True
        since_attempt = now - self._last_attempt
        stale = now - self._loaded_at >= self._refresh_seconds and since_attempt >= min(
            self._cooldown_seconds, self._refresh_seconds
        )
        unknown = kid is not None and kid not in self._keys
        return stale or (unknown and since_attempt >= self._cooldown_seconds)

    @staticmethod
    def _public_entry(key: PyJWK) -> dict[str, Any]:
        jwk = _public_members(ECAlgorithm.to_jwk(key.key, as_dict=True))
        return {**jwk, "kid": key.key_id, "alg": ALGORITHM, "use": "sig"}

    @property
    def version(self) -> int:
        """Bumps whenever the set of kids changes; caches of verified tokens key off it.

        Reading it re-reads a stale set first, so a cache that consults only the version
        still notices, on schedule, that a key has left the set.
        """
        now = self._clock()
        loaded_at = self._loaded_at
        if loaded_at is not None and now - loaded_at < self._refresh_seconds:
            return self._version  # fresh: nothing can be due (the common case, lock-free)
        with self._lock:
            if self._loaded_at is not None and self._due(now):
                self._reload(now)
            return self._version

    @property
    def loaded_version(self) -> int:
        """The version of the set as last read, without re-reading a stale set."""
        return self._version

    def load(self) -> None:
        """Read the set now (cold start)."""
        with self._lock:
            self._reload(self._clock())

    def get(self, kid: str) -> PyJWK | None:
        """The key for kid, re-reading the set when it is stale or kid is new."""
        now = self._clock()
        key = self._keys.get(kid)
        loaded_at = self._loaded_at
        if key is not None and loaded_at is not None and now - loaded_at < self._refresh_seconds:
            return key  # a known kid in a fresh set: nothing can be due (lock-free)
        with self._lock:
            if self._due(now, kid):
                self._reload(now)  # nothing loaded yet: no cooldown applies
            return self._keys.get(kid)

    def jwks(self) -> dict[str, Any]:
        """The public key set as a JWKS document, re-read when stale."""
        now = self._clock()
        with self._lock:
            if self._due(now):
                self._reload(now)
            return self._jwks

    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)


class SigningKeyProvider:
    """The current private key for issuing tokens, re-read every `refresh_seconds`."""

    def __init__(
        self,
        fetch: Callable[[], str],
        *,
        refresh_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key_set = Refreshing(
            fetch, KeySet.from_secret_string, refresh_seconds=refresh_seconds, clock=clock
        )

    def current(self) -> SigningKey:
        return self._key_set.get().current
