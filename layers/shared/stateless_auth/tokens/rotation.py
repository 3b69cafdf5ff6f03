"""Signing-key rotation: the Secrets Manager rotation protocol on the private key set.

Secrets Manager rotates a secret by invoking the rotation function four times with the
same ClientRequestToken, which names the new secret version (the AWS rotation function
templates follow the same shape):

* createSecret: put the next key set as the AWSPENDING version of the secret: the
  current set rotated (next becomes current, current becomes previous, the old previous
  is dropped, a new next is generated), or a fresh set when the secret still holds the
  template's placeholder ``{"keys":[]}`` (the stack's first rotation). The new set
  records when it was made (``rotated_at``), and createSecret refuses to rotate again
  before the minimum interval has passed since the last rotation finished (see
  ``minimum_interval`` and ``ROTATED_AT_TAG``), unless the operator allows it with the
  tag ``EARLY_ROTATION_TAG``. A set that does not say when it was made counts as too
  recent.
* setSecret: check that the pending set continues the published one (every kid is its
  key's RFC 7638 thumbprint; the pending previous and current keys are already
  published, as after every rotation this function made), then publish its public half
  (the JWKS) as the new AWSCURRENT value of the public key secret, which the authorizer
  and the jwks function read and only the rotation function may write. Every key
  verifiers need keeps verifying: the outgoing current key stays in the set as previous,
  and the key that will sign after the *next* rotation is announced now, one whole
  rotation period ahead.
* testSecret: sign a probe token with the pending current key and verify it against the
  published set, exactly as a verifier would; check that the key signing today (the
  AWSCURRENT set's current key) is still published.
* finishSecret: move AWSCURRENT to the pending version (AWSPREVIOUS follows the old one),
  remove AWSPENDING, and record when the rotation finished in the tag
  ``ROTATED_AT_TAG`` of the signing key secret.

Every step first checks that the signing key secret is still encrypted with the stack's
KMS key (``RotationTarget.kms_key_id``): a principal that could re-encrypt it under a key
of its own could also have written a key set of its own, which setSecret would otherwise
publish.

Each step is idempotent, because Secrets Manager retries a failed rotation with the same
token, and each step leaves the service working if the rotation stops after it.
``rotate_now`` runs the four steps with a fresh token, for the local API and the tests;
in AWS, ``aws secretsmanager rotate-secret`` starts a rotation.

It is handed a boto3 Secrets Manager client and imports no AWS SDK itself; only the
rotation function and the local API import it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stateless_auth.config import ACCESS_TOKEN_TTL, JWKS_MAX_AGE, KEYS_REFRESH_SECONDS
from stateless_auth.domain.errors import KeySetError, TokenVerificationError
from stateless_auth.tokens.access import LEEWAY_SECONDS, AccessTokenVerifier, issue_access_token
from stateless_auth.tokens.keys import KeySet, PublicKeyStore, thumbprint

# Secrets Manager version stages (not the key statuses previous/current/next).
CURRENT_STAGE = "AWSCURRENT"
PENDING_STAGE = "AWSPENDING"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
PROBE_ISSUER = "urn:stateless-auth:key-rotation"
PROBE_AUDIENCE = "urn:stateless-auth:key-rotation"
PROBE_TTL_SECONDS = 60

# How long the AWS Parameters and Secrets Lambda Extension caches a secret: its
# SECRETS_MANAGER_TTL, 300 s unless a function sets it (the template sets none). A login
# function may hold the old key set this long on top of its own KEYS_REFRESH_SECONDS.
EXTENSION_CACHE_SECONDS = 300
# Set by the operator (`make rotate-keys FORCE=1`) on the signing key secret: until this
# time (epoch seconds), createSecret rotates even sooner than the minimum interval. Only
# a time in the future and at most EARLY_ROTATION_MAX_AHEAD_SECONDS ahead counts: a time
# far ahead would switch the rule off for good, so it is ignored (and logged).
EARLY_ROTATION_TAG = "stateless-auth:allow-early-rotation-until"
EARLY_ROTATION_MAX_AHEAD_SECONDS = 3600
# Set by finishSecret on the signing key secret: when the last rotation finished (epoch
# seconds). The minimum interval runs from the later of this and the set's rotated_at.
ROTATED_AT_TAG = "stateless-auth:rotated-at"
PLACEHOLDER: dict[str, list[Any]] = {"keys": []}

_logger = logging.getLogger(__name__)

Log = Callable[[str, Mapping[str, Any]], None]


def _log_warning(message: str, fields: Mapping[str, Any]) -> None:
    _logger.warning(message, extra=dict(fields))


def minimum_interval(
    *,
    access_token_ttl: int,
    keys_refresh_seconds: int,
    jwks_max_age: int,
    leeway_seconds: int = LEEWAY_SECONDS,
    extension_cache_seconds: int = EXTENSION_CACHE_SECONDS,
) -> int:
    """The shortest safe time between two rotations, in seconds: the longer of two waits.

    * Tokens signed with the outgoing key. After a rotation, a login or refresh function
      may keep signing with the outgoing current key (now "previous") for as long as it
      caches the key set: its own KEYS_REFRESH_SECONDS plus the extension's cache. Such
      a token is accepted for its lifetime plus the verifier's leeway. The next rotation
      drops "previous" from the published set, so it must wait for all of that.
    * Verifiers outside the stack that cache the JWKS. A rotation makes current the key
      the rotation before it announced as next; a verifier learns that announcement only
      once the jwks function has it (KEYS_REFRESH_SECONDS plus the extension's cache)
      and its own cached copy has expired (JWKS_MAX_AGE_SECONDS, the Cache-Control
      max-age). Rotating sooner lets the new current key sign tokens such a verifier
      has never seen.
    """
    signed_with_the_outgoing_key = (
        access_token_ttl + leeway_seconds + keys_refresh_seconds + extension_cache_seconds
    )
    announced_to_cached_verifiers = jwks_max_age + keys_refresh_seconds + extension_cache_seconds
    return max(signed_with_the_outgoing_key, announced_to_cached_verifiers)


# With the default settings: max(900 + 30 + 300 + 300, 3600 + 300 + 300) = 4200 s (70 min).
DEFAULT_MIN_INTERVAL_SECONDS = minimum_interval(
    access_token_ttl=ACCESS_TOKEN_TTL.default,
    keys_refresh_seconds=KEYS_REFRESH_SECONDS.default,
    jwks_max_age=JWKS_MAX_AGE.default,
)


class RotationError(Exception):
    """A rotation step refused to run or found the new key set unusable."""


class RotationTooSoon(RotationError):
    """createSecret refused: the last rotation is more recent than the minimum interval
    (``rotated_at`` and ``earliest`` are None when the live set does not say when it
    was made)."""

    def __init__(self, message: str, *, rotated_at: int | None, earliest: int | None) -> None:
        super().__init__(message)
        self.rotated_at = rotated_at
        self.earliest = earliest


@dataclass(frozen=True)
class RotationTarget:
    """The secret that holds the private key set, the secret that publishes its public
    half, and the rule for how often it may rotate.

    ``min_interval_seconds`` comes from the caller (the rotation function computes it
    from its settings with ``minimum_interval``); ``clock`` is wall-clock time in epoch
    seconds; ``log`` receives a message and fields for each refused or early rotation.
    ``kms_key_id`` is the KMS key the signing key secret must be encrypted with (key id
    or key ARN; SIGNING_KEYS_KMS_KEY_ID in the rotation function); empty skips that
    check (the local API and tests, where no KMS key exists).
    """

    secrets: Any  # a boto3 Secrets Manager client
    secret_id: str
    public_secret_id: str
    min_interval_seconds: int
    clock: Callable[[], float] = time.time
    log: Log = _log_warning
    kms_key_id: str = ""


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
    return KeySet.from_secret_string(_secret_string(target, stage=PENDING_STAGE, version_id=token))


def live_key_set(secret_string: str) -> KeySet | None:
    """The key set in a secret value; None for the template's empty placeholder.

    Anything else that is not a key set raises KeySetError: a rotation never replaces a
    damaged secret with fresh keys on its own (that would silently cut off every token
    in flight). To start over on purpose, put ``{"keys":[]}`` into both secrets and
    rotate: setSecret publishes a fresh set only over the public placeholder. In AWS the
    secrets' resource policies let only CloudFormation do that (a stack change).
    """
    try:
        document = json.loads(secret_string)
    except ValueError:
        raise KeySetError("the signing key secret is not JSON") from None
    if isinstance(document, dict) and document.get("keys") == []:
        return None
    return KeySet.from_secret_string(secret_string)


def rotated_at(secret_string: str) -> int | None:
    """When the rotation that made the key set in a secret value ran (epoch seconds,
    recorded by createSecret; finishSecret makes the set current moments later and
    records that in ROTATED_AT_TAG); None for a set that does not say, which counts as
    too recent to rotate (only the operator's EARLY_ROTATION_TAG rotates it)."""
    try:
        document = json.loads(secret_string)
    except ValueError:
        raise KeySetError("the signing key secret is not JSON") from None
    value = document.get("rotated_at") if isinstance(document, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise KeySetError("the signing key set's rotated_at is not a whole number")
    return value


def _with_rotated_at(key_set: KeySet, when: int) -> str:
    document = json.loads(key_set.to_secret_string())
    document["rotated_at"] = when
    return json.dumps(document, separators=(",", ":"))


def _published(target: RotationTarget) -> str | None:
    try:
        reply = target.secrets.get_secret_value(SecretId=target.public_secret_id)
    except target.secrets.exceptions.ResourceNotFoundException:
        return None
    value = reply.get("SecretString")
    return value if isinstance(value, str) else None


def _published_store(target: RotationTarget) -> PublicKeyStore:
    """The published set as a verifier sees it (a failed parse raises KeySetError)."""
    document = _published(target)
    if document is None:
        raise RotationError(f"the public key secret {target.public_secret_id} has no value")
    store = PublicKeyStore(lambda: document, cooldown_seconds=0)
    store.load()
    return store


# --------------------------------------------------------------------- steps


def run_create_secret(target: RotationTarget, token: str, *, force: bool = False) -> KeySet:
    """Put the next key set as the AWSPENDING version `token` (once: a retry keeps it).

    Refuses (RotationTooSoon, and nothing written) when the last rotation finished less
    than ``target.min_interval_seconds`` ago (the later of the live set's ``rotated_at``
    and the secret's ROTATED_AT_TAG), or the live set records no ``rotated_at`` at all,
    unless ``force`` (the local API only) or the secret's EARLY_ROTATION_TAG names a time
    in the next EARLY_ROTATION_MAX_AHEAD_SECONDS. The first rotation (the placeholder) is
    never refused.
    """
    try:
        existing = _secret_string(target, stage=PENDING_STAGE, version_id=token)
    except target.secrets.exceptions.ResourceNotFoundException:
        existing = None  # the version has no value yet (or, outside AWS, does not exist)
    if existing is not None:
        return KeySet.from_secret_string(existing)
    current = _secret_string(target, stage=CURRENT_STAGE)
    live = live_key_set(current)
    now = target.clock()
    if live is not None and not force:
        tags = _tags(target)
        _check_interval(target, token, _last_rotation(target, current, tags), now, tags)
    pending = KeySet.generate(now) if live is None else live.rotated(now)
    target.secrets.put_secret_value(
        SecretId=target.secret_id,
        ClientRequestToken=token,
        SecretString=_with_rotated_at(pending, int(now)),
        VersionStages=[PENDING_STAGE],
    )
    return pending


def _tags(target: RotationTarget) -> dict[str, str]:
    metadata = target.secrets.describe_secret(SecretId=target.secret_id)
    return {
        str(tag.get("Key", "")): str(tag.get("Value", "")).strip()
        for tag in metadata.get("Tags") or []
    }


def _epoch_seconds(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() else None


def _last_rotation(target: RotationTarget, current: str, tags: Mapping[str, str]) -> int | None:
    """When the last rotation finished: the later of the live set's rotated_at and the
    ROTATED_AT_TAG; None when the live set does not say when it was made."""
    made = rotated_at(current)
    if made is None:
        return None
    raw = tags.get(ROTATED_AT_TAG)
    if raw is None:
        return made
    finished = _epoch_seconds(raw)
    if finished is None:
        target.log(
            f"ignoring the tag {ROTATED_AT_TAG}={raw!r}: not epoch seconds",
            {"tag": ROTATED_AT_TAG, "reason": "unreadable tag"},
        )
        return made
    return max(made, finished)


def _check_interval(
    target: RotationTarget,
    token: str,
    last: int | None,
    now: float,
    tags: Mapping[str, str],
) -> None:
    """Raise RotationTooSoon if rotating at `now` could cut off tokens still being issued
    (or signed by a key cached verifiers do not know yet)."""
    earliest = None if last is None else last + target.min_interval_seconds
    if earliest is not None and now >= earliest:
        return
    fields = {
        "version": token,
        "rotated_at": last,
        "earliest_rotation_at": earliest,
        "min_interval_seconds": target.min_interval_seconds,
    }
    allowed_until, tag_problem = _early_rotation_allowed_until(tags, now)
    if allowed_until is not None:
        target.log(
            "early key rotation allowed by the operator's tag",
            {**fields, "allowed_until": allowed_until, "tag": EARLY_ROTATION_TAG},
        )
        return
    if last is None:
        when = (
            "the live key set does not record when it was made (rotated_at), so it counts "
            "as too recent;"
        )
        after = "rotate it only after setting"
    else:
        when = f"the last rotation was {int(now - last)} s ago and"
        after = f"rotate again after {earliest} (epoch seconds), or set"
    message = (
        f"refusing to rotate the signing keys: {when} rotations must be at least "
        f"{target.min_interval_seconds} s apart (the longer of access-token lifetime + "
        "leeway + the key caches, and JWKS max-age + the key caches), or tokens signed "
        "with the outgoing key would be cut off and cached verifiers would not know the "
        f"new one; {after} the tag {EARLY_ROTATION_TAG} to a time at most "
        f"{EARLY_ROTATION_MAX_AHEAD_SECONDS} s ahead (make rotate-keys FORCE=1)"
    )
    if tag_problem:
        message = f"{message}; {tag_problem}"
    target.log(message, {**fields, "reason": "too soon"})
    raise RotationTooSoon(message, rotated_at=last, earliest=earliest)


def _early_rotation_allowed_until(tags: Mapping[str, str], now: float) -> tuple[int | None, str]:
    """The EARLY_ROTATION_TAG of the secret (epoch seconds) if it allows a rotation at
    `now`; else None and what is wrong with it (empty when there is no tag)."""
    raw = tags.get(EARLY_ROTATION_TAG)
    if raw is None:
        return None, ""
    until = _epoch_seconds(raw)
    if until is None:
        return None, f"the tag {EARLY_ROTATION_TAG}={raw!r} is not epoch seconds"
    if until <= now:
        return None, f"the tag {EARLY_ROTATION_TAG} allowed it only until {until}"
    if until > now + EARLY_ROTATION_MAX_AHEAD_SECONDS:
        return None, (
            f"the tag {EARLY_ROTATION_TAG}={until} is ignored: it is {int(until - now)} s "
            f"ahead, more than the {EARLY_ROTATION_MAX_AHEAD_SECONDS} s an allowance may "
            "last (a time far ahead would switch the rule off for good)"
        )
    return until, ""


def run_set_secret(target: RotationTarget, token: str) -> None:
    """Publish the pending set's public keys (unchanged when they are already published),
    once the pending set is known to continue the published one (``_check_continuity``).
    """
    pending = _pending_key_set(target, token)
    published = _published(target)
    _check_continuity(pending, published)
    document = pending.public_jwks_string()
    if published == document:
        return  # a retry: writing again would only add a version of the public secret
    # No ClientRequestToken: a retry after someone else wrote the secret must make a new
    # AWSCURRENT version, not be ignored as a repeat of an earlier request.
    target.secrets.put_secret_value(SecretId=target.public_secret_id, SecretString=document)


def _check_thumbprints(pending: KeySet) -> None:
    for status, key in pending.entries():
        if thumbprint(key.public_jwk()) != key.kid:
            raise RotationError(f"the pending {status} key's kid is not its RFC 7638 thumbprint")


def _check_continuity(pending: KeySet, published: str | None) -> None:
    """Refuse (RotationError) to publish a pending set that does not follow the published
    one.

    A rotation this function made always does: the pending current key was published as
    "next" by the rotation before, and the pending previous key as "current". A pending
    set made from a key set someone else wrote into AWSCURRENT does not, and publishing
    it would let that someone mint tokens. Keys are compared by their RFC 7638
    thumbprints, so a kid copied from the published set onto another key does not pass.
    Only over the template's placeholder (the stack's first keys) is any set accepted.
    """
    _check_thumbprints(pending)
    if published is None:
        raise RotationError("the public key secret has no value to continue from")
    try:
        document = json.loads(published)
        if document == PLACEHOLDER:
            return
        known = {thumbprint(entry) for entry in document["keys"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise RotationError(
            f"the published key set is not a JWKS ({type(exc).__name__}): refusing to "
            "publish over it"
        ) from None
    missing = [
        status
        for status, key in (("previous", pending.previous), ("current", pending.current))
        if key.kid not in known
    ]
    if missing:
        raise RotationError(
            f"refusing to publish: the pending {' and '.join(missing)} key is not in the "
            "published set, so the live signing key set is not one this function rotated "
            "(was the signing key secret written by someone else?)"
        )


def run_test_secret(target: RotationTarget, token: str) -> None:
    """Check the pending set end to end against what verifiers will read."""
    pending = _pending_key_set(target, token)
    _check_thumbprints(pending)
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
    live = live_key_set(_secret_string(target, stage=CURRENT_STAGE))
    if live is not None and live.current.kid not in store.kids():
        raise RotationError("the key signing tokens today is missing from the published set")


def run_finish_secret(target: RotationTarget, token: str) -> None:
    """Make version `token` AWSCURRENT and drop its AWSPENDING label (both at most once),
    then record when the rotation finished in ROTATED_AT_TAG (once per rotation: a retry
    that finds the tag no older than the set leaves it)."""
    value = _version_value(target, token)
    pending = KeySet.from_secret_string(value)
    _check_thumbprints(pending)  # a kid copied from the published set names no other key
    if pending.current.kid not in _published_store(target).kids():
        raise RotationError("the pending current key is not published: run setSecret first")
    versions = _versions(target)
    current_version = next((v for v, stages in versions.items() if CURRENT_STAGE in stages), None)
    if current_version != token:
        arguments = {
            "SecretId": target.secret_id,
            "VersionStage": CURRENT_STAGE,
            "MoveToVersionId": token,
        }
        if current_version is not None:
            arguments["RemoveFromVersionId"] = current_version
        target.secrets.update_secret_version_stage(**arguments)
    if PENDING_STAGE in versions.get(token, []):
        target.secrets.update_secret_version_stage(
            SecretId=target.secret_id, VersionStage=PENDING_STAGE, RemoveFromVersionId=token
        )
    made = rotated_at(value)
    recorded = _epoch_seconds(_tags(target).get(ROTATED_AT_TAG, ""))
    if made is None or recorded is None or recorded < made:
        target.secrets.tag_resource(
            SecretId=target.secret_id,
            Tags=[{"Key": ROTATED_AT_TAG, "Value": str(int(target.clock()))}],
        )


def _version_value(target: RotationTarget, token: str) -> str:
    """The value of version `token`, pending or (on a retried finishSecret) current."""
    value = target.secrets.get_secret_value(SecretId=target.secret_id, VersionId=token).get(
        "SecretString"
    )
    if not isinstance(value, str):
        raise RotationError(f"version {token} of the signing key secret has no SecretString")
    return value


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
    _check_kms_key(target, metadata)
    if not metadata.get("RotationEnabled"):
        raise RotationError("rotation is not turned on for the signing key secret")
    stages = (metadata.get("VersionIdsToStages") or {}).get(token)
    if stages is None:
        raise RotationError(f"version {token} has no stage for rotation of the signing keys")
    if CURRENT_STAGE in stages and step != "finishSecret":
        return "already current"
    if CURRENT_STAGE not in stages and PENDING_STAGE not in stages:
        raise RotationError(f"version {token} is not AWSPENDING for rotation of the signing keys")
    STEP_FUNCTIONS[step](target, token)
    return "done"


def _check_kms_key(target: RotationTarget, metadata: Mapping[str, Any]) -> None:
    """Refuse (RotationError) when the secret is not encrypted with ``target.kms_key_id``.

    DescribeSecret names the key as it was set (the template sets the key ARN) and omits
    it for the AWS managed key; ``kms_key_id`` may be the key id or the key ARN. Any
    other key, an alias included, is refused: the stack never sets one.
    """
    expected = target.kms_key_id.strip()
    if not expected:
        return
    actual = str(metadata.get("KmsKeyId") or "").strip()
    if actual and _same_kms_key(expected, actual):
        return
    raise RotationError(
        "refusing to rotate: the signing key secret is encrypted with "
        f"{actual or 'the AWS managed key aws/secretsmanager'}, not the stack's key "
        f"{expected}; whoever changed its key could also have written its keys"
    )


def _same_kms_key(expected: str, actual: str) -> bool:
    if expected.startswith("arn:") and actual.startswith("arn:"):
        return expected == actual
    ids = [_kms_key_id(value) for value in (expected, actual)]
    return ids[0] is not None and ids[0] == ids[1]


def _kms_key_id(value: str) -> str | None:
    """The key id of a key id or key ARN; None for an alias (name or ARN)."""
    if value.startswith("arn:"):
        resource = value.split(":", 5)[-1]
        return resource.removeprefix("key/") if resource.startswith("key/") else None
    return None if value.startswith("alias/") else value


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


def rotate_now(
    secrets: Any,
    secret_id: str,
    public_secret_id: str,
    *,
    force: bool,
    min_interval_seconds: int = DEFAULT_MIN_INTERVAL_SECONDS,
    clock: Callable[[], float] = time.time,
) -> KeySet:
    """One whole rotation with a fresh token; returns the new AWSCURRENT key set.

    What Secrets Manager does on `rotate-secret`, minus the scheduling: for the local API
    (start-up and POST /_localapi/rotate-keys) and the tests. The first call on the
    template's placeholder creates the initial set. ``force`` must be said: True skips
    the minimum-interval rule (the local API, a development tool, rotates back to back);
    False applies it as the rotation function does (and honours EARLY_ROTATION_TAG).
    """
    target = RotationTarget(secrets, secret_id, public_secret_id, min_interval_seconds, clock)
    token = str(uuid.uuid4())
    run_create_secret(target, token, force=force)
    run_set_secret(target, token)
    run_test_secret(target, token)
    run_finish_secret(target, token)
    current = live_key_set(_secret_string(target, stage=CURRENT_STAGE))
    if current is None:  # pragma: no cover - finish_secret just made a key set current
        raise RotationError("the rotation left no key set current")
    return current


def kids(key_set: KeySet) -> dict[str, str]:
    """``{"previous": kid, "current": kid, "next": kid}``."""
    return {status: key.kid for status, key in key_set.entries()}
