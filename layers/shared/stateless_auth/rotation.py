"""Signing-key rotation: the Secrets Manager rotation protocol on the private key set.

Secrets Manager rotates a secret by invoking the rotation function four times with the
same ClientRequestToken, which names the new secret version (the AWS rotation function
templates follow the same shape):

* createSecret: put the next key set as the AWSPENDING version of the secret: the
  current set rotated (next becomes current, current becomes previous, the old previous
  is dropped, a new next is generated), or a fresh set when the secret still holds the
  template's placeholder ``{"keys":[]}`` (the stack's first rotation).
* setSecret: publish the pending set's public half (the JWKS) to the SSM parameter that
  the authorizer and the jwks function read. Every key verifiers need keeps verifying:
  the outgoing current key stays in the set as previous, and the key that will sign after
  the *next* rotation is announced now, one whole rotation period ahead.
* testSecret: sign a probe token with the pending current key and verify it against the
  published set, exactly as a verifier would; check that the key signing today (the
  AWSCURRENT set's current key) is still published.
* finishSecret: move AWSCURRENT to the pending version (AWSPREVIOUS follows the old one)
  and remove AWSPENDING.

Each step is idempotent, because Secrets Manager retries a failed rotation with the same
token, and each step leaves the service working if the rotation stops after it.
``rotate_now`` runs the four steps with a fresh token, for the local API and the tests;
in AWS, ``aws secretsmanager rotate-secret`` starts a rotation.

This module uses boto3 clients (passed in); only the rotation function imports it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stateless_auth.errors import KeySetError, TokenVerificationError
from stateless_auth.keys import KeySet, PublicKeyStore, thumbprint
from stateless_auth.tokens import AccessTokenVerifier, issue_access_token

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
PROBE_ISSUER = "urn:stateless-auth:key-rotation"
PROBE_AUDIENCE = "urn:stateless-auth:key-rotation"
PROBE_TTL_SECONDS = 60


class RotationError(Exception):
    """A rotation step refused to run or found the new key set unusable."""


@dataclass(frozen=True)
class RotationTarget:
    """The secret that holds the private key set and the parameter that publishes it."""

    secrets: Any  # a boto3 Secrets Manager client
    ssm: Any  # a boto3 SSM client
    secret_id: str
    parameter_name: str


# ------------------------------------------------------------------- reading


def _secret_string(target: RotationTarget, *, stage: str, version_id: str | None = None) -> str:
    arguments: dict[str, str] = {"SecretId": target.secret_id, "VersionStage": stage}
    if version_id is not None:
        arguments["VersionId"] = version_id
    value = target.secrets.get_secret_value(**arguments).get("SecretString")
    if not isinstance(value, str):
        raise RotationError(f"the {stage} version of the signing key secret has no SecretString")
    return value


def _pending_key_set(target: RotationTarget, token: str) -> KeySet:
    return KeySet.from_secret_string(_secret_string(target, stage=PENDING, version_id=token))


def live_key_set(secret_string: str) -> KeySet | None:
    """The key set in a secret value; None for the template's empty placeholder.

    Anything else that is not a key set raises KeySetError: a rotation never replaces a
    damaged secret with fresh keys on its own (that would silently cut off every token
    in flight). To start over on purpose, put ``{"keys":[]}`` into the secret and rotate.
    """
    try:
        document = json.loads(secret_string)
    except ValueError:
        raise KeySetError("the signing key secret is not JSON") from None
    if isinstance(document, dict) and document.get("keys") == []:
        return None
    return KeySet.from_secret_string(secret_string)


def _published(target: RotationTarget) -> str | None:
    try:
        reply = target.ssm.get_parameter(Name=target.parameter_name)
    except target.ssm.exceptions.ParameterNotFound:
        return None
    value = reply["Parameter"]["Value"]
    return value if isinstance(value, str) else None


def _published_store(target: RotationTarget) -> PublicKeyStore:
    """The published set as a verifier sees it (a failed parse raises KeySetError)."""
    document = _published(target)
    if document is None:
        raise RotationError(f"parameter {target.parameter_name} does not exist")
    store = PublicKeyStore(lambda: document, cooldown_seconds=0)
    store.load()
    return store


# --------------------------------------------------------------------- steps


def run_create_secret(target: RotationTarget, token: str) -> KeySet:
    """Put the next key set as the AWSPENDING version `token` (once: a retry keeps it)."""
    try:
        existing = _secret_string(target, stage=PENDING, version_id=token)
    except target.secrets.exceptions.ResourceNotFoundException:
        existing = None  # the version has no value yet (or, outside AWS, does not exist)
    if existing is not None:
        return KeySet.from_secret_string(existing)
    live = live_key_set(_secret_string(target, stage=CURRENT))
    pending = KeySet.generate() if live is None else live.rotated()
    target.secrets.put_secret_value(
        SecretId=target.secret_id,
        ClientRequestToken=token,
        SecretString=pending.to_secret_string(),
        VersionStages=[PENDING],
    )
    return pending


def run_set_secret(target: RotationTarget, token: str) -> None:
    """Publish the pending set's public keys (unchanged when they are already published)."""
    document = _pending_key_set(target, token).public_jwks_string()
    if _published(target) == document:
        return  # a retry: writing again would only add a parameter version
    target.ssm.put_parameter(
        Name=target.parameter_name, Value=document, Type="String", Overwrite=True
    )


def run_test_secret(target: RotationTarget, token: str) -> None:
    """Check the pending set end to end against what verifiers will read."""
    pending = _pending_key_set(target, token)
    for status, key in pending.entries():
        if thumbprint(key.public_jwk()) != key.kid:
            raise RotationError(f"the pending {status} key's kid is not its RFC 7638 thumbprint")
    store = _published_store(target)
    missing = [status for status, key in pending.entries() if key.kid not in store.kids()]
    if missing:
        raise RotationError(f"the published key set lacks the pending {', '.join(missing)} key")
    probe = issue_access_token(
        pending.current,
        subject="key-rotation-probe",
        email="",
        roles=[],
        issuer=PROBE_ISSUER,
        audience=PROBE_AUDIENCE,
        ttl=PROBE_TTL_SECONDS,
        session_id=token,
    )
    try:
        AccessTokenVerifier(store, audience=PROBE_AUDIENCE).verify(probe.token, issuer=PROBE_ISSUER)
    except TokenVerificationError as exc:
        raise RotationError(f"a token signed by the pending current key fails: {exc}") from exc
    live = live_key_set(_secret_string(target, stage=CURRENT))
    if live is not None and live.current.kid not in store.kids():
        raise RotationError("the key signing tokens today is missing from the published set")


def run_finish_secret(target: RotationTarget, token: str) -> None:
    """Make version `token` AWSCURRENT and drop its AWSPENDING label (both at most once)."""
    pending = _pending_key_set_any_stage(target, token)
    if pending.current.kid not in _published_store(target).kids():
        raise RotationError("the pending current key is not published: run setSecret first")
    versions = _versions(target)
    current_version = next((v for v, stages in versions.items() if CURRENT in stages), None)
    if current_version != token:
        arguments = {
            "SecretId": target.secret_id,
            "VersionStage": CURRENT,
            "MoveToVersionId": token,
        }
        if current_version is not None:
            arguments["RemoveFromVersionId"] = current_version
        target.secrets.update_secret_version_stage(**arguments)
    if PENDING in versions.get(token, []):
        target.secrets.update_secret_version_stage(
            SecretId=target.secret_id, VersionStage=PENDING, RemoveFromVersionId=token
        )


def _pending_key_set_any_stage(target: RotationTarget, token: str) -> KeySet:
    """The key set of version `token`, pending or (on a retried finishSecret) current."""
    value = target.secrets.get_secret_value(SecretId=target.secret_id, VersionId=token).get(
        "SecretString"
    )
    if not isinstance(value, str):
        raise RotationError(f"version {token} of the signing key secret has no SecretString")
    return KeySet.from_secret_string(value)


def _versions(target: RotationTarget) -> dict[str, list[str]]:
    metadata = target.secrets.describe_secret(SecretId=target.secret_id)
    versions = metadata.get("VersionIdsToStages") or {}
    return {str(v): list(stages) for v, stages in versions.items()}


STEP_FUNCTIONS: dict[str, Callable[[RotationTarget, str], object]] = {
    "createSecret": run_create_secret,
    "setSecret": run_set_secret,
    "testSecret": run_test_secret,
    "finishSecret": run_finish_secret,
}


# ------------------------------------------------------------- entry points


def handle(event: Mapping[str, Any], target: RotationTarget) -> str:
    """Run the step a Secrets Manager rotation event asks for; return what happened.

    As the AWS rotation templates do, the event must name the configured secret, the
    secret must have rotation turned on, and the token must be a version staged for this
    rotation (AWSPENDING); a version that is already AWSCURRENT has nothing left to do.
    """
    step, secret_id, token = _event_fields(event)
    metadata = target.secrets.describe_secret(SecretId=target.secret_id)
    if secret_id not in (target.secret_id, metadata.get("ARN"), metadata.get("Name")):
        raise RotationError("the event names a secret this function does not rotate")
    if not metadata.get("RotationEnabled"):
        raise RotationError("rotation is not turned on for the signing key secret")
    stages = (metadata.get("VersionIdsToStages") or {}).get(token)
    if stages is None:
        raise RotationError(f"version {token} has no stage for rotation of the signing keys")
    if CURRENT in stages and step != "finishSecret":
        return "already current"
    if CURRENT not in stages and PENDING not in stages:
        raise RotationError(f"version {token} is not AWSPENDING for rotation of the signing keys")
    STEP_FUNCTIONS[step](target, token)
    return "done"


def _event_fields(event: Mapping[str, Any]) -> tuple[str, str, str]:
    if not isinstance(event, Mapping):
        raise RotationError("the rotation event is not a JSON object")
    fields = [event.get(name) for name in ("Step", "SecretId", "ClientRequestToken")]
    if not all(isinstance(value, str) and value for value in fields):
        raise RotationError("the rotation event needs Step, SecretId and ClientRequestToken")
    step, secret_id, token = (str(value) for value in fields)
    if step not in STEPS:
        raise RotationError(f"unknown rotation step {step!r}")
    return step, secret_id, token


def rotate_now(secrets: Any, ssm: Any, secret_id: str, parameter_name: str) -> KeySet:
    """One whole rotation with a fresh token; returns the new AWSCURRENT key set.

    What Secrets Manager does on `rotate-secret`, minus the scheduling: for the local API
    (start-up and POST /_localapi/rotate-keys) and the tests. The first call on the
    template's placeholder creates the initial set.
    """
    target = RotationTarget(secrets, ssm, secret_id, parameter_name)
    token = str(uuid.uuid4())
    run_create_secret(target, token)
    run_set_secret(target, token)
    run_test_secret(target, token)
    run_finish_secret(target, token)
    current = live_key_set(_secret_string(target, stage=CURRENT))
    if current is None:  # pragma: no cover - finish_secret just made a key set current
        raise RotationError("the rotation left no key set current")
    return current


def kids(key_set: KeySet) -> dict[str, str]:
    """``{"previous": kid, "current": kid, "next": kid}``."""
    return {status: key.kid for status, key in key_set.entries()}
