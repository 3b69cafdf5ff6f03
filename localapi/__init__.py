"""A development stand-in for API Gateway HTTP API + Lambda: ``python -m localapi``.

Kept light on purpose: importing ``localapi`` (or ``localapi.testing``) imports neither
moto nor boto3. See ``localapi.server`` for the start-up sequence.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["KeysBootstrapError", "rotate_keys"]


class KeysBootstrapError(Exception):
    """The development signing keys could not be created or rotated."""


def rotate_keys(
    secretsmanager_client: Any, secret_id: str, public_secret_id: str
) -> dict[str, str]:
    """One signing-key rotation through the code that rotates the keys in AWS.

    Calls ``stateless_auth.rotation.rotate_now(secretsmanager_client, secret_id,
    public_secret_id, force=True)``: the four steps of the Secrets Manager rotation
    protocol (createSecret, setSecret, testSecret, finishSecret) with a fresh token, the
    public half published to the public key secret. On the template's placeholder secret
    (at start-up) it creates the first key set. Returns the kids of the new set:
    ``{"previous": ..., "current": ..., "next": ...}``.

    ``force=True`` on purpose: in AWS, createSecret refuses to rotate again sooner than
    the access-token lifetime plus the key caches after the last rotation (tokens still
    being signed with the outgoing key would be cut off). The local API is a development
    tool: its start-up rotation and ``POST /_localapi/rotate-keys`` rotate back to back,
    so that a developer can watch keys leave the set without waiting half an hour.
    """
    try:
        rotation = importlib.import_module("stateless_auth.rotation")
    except ModuleNotFoundError as exc:
        if exc.name not in ("stateless_auth", "stateless_auth.rotation"):
            raise
        raise KeysBootstrapError(
            "the template declares SigningKeysSecret, but stateless_auth.rotation cannot be "
            "imported, so no development signing keys can be created (is the shared layer "
            "installed into the virtualenv? run `make install`)"
        ) from exc
    rotate_now = getattr(rotation, "rotate_now", None)
    if not callable(rotate_now):
        raise KeysBootstrapError(
            "stateless_auth.rotation has no rotate_now(secretsmanager_client, secret_id, "
            "public_secret_id, *, force), which the local API calls to create and rotate the "
            "development signing keys"
        )
    key_set = rotate_now(secretsmanager_client, secret_id, public_secret_id, force=True)
    return {status: key.kid for status, key in key_set.entries()}
