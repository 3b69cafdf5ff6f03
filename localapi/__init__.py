"""A development stand-in for API Gateway HTTP API + Lambda: ``python -m localapi``.

Its own distribution (``localapi/pyproject.toml``), never part of the product's: it knows
the product only by the handler files ``template.yaml`` names and by the rotation module
below. Importing ``localapi`` (or ``localapi.testing``) imports neither moto nor boto3.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ROTATION_MODULE", "KeysBootstrapError", "rotate_keys"]

# Where the product's rotation code lives; only its rotate_now is called.
ROTATION_MODULE = "stateless_auth.tokens.rotation"


class KeysBootstrapError(Exception):
    """The development signing keys could not be created or rotated."""


def rotate_keys(
    secretsmanager_client: Any, secret_id: str, public_secret_id: str
) -> dict[str, str]:
    """One signing-key rotation through the code that rotates the keys in AWS.

    Calls ``rotate_now(secretsmanager_client, secret_id, public_secret_id, force=True)``
    of ``ROTATION_MODULE``: the four steps of the Secrets Manager rotation protocol with a
    fresh token, the public half published to the public key secret; on the template's
    placeholder (at start-up) it creates the first key set. Returns the kids of the new
    set: ``{"previous": ..., "current": ..., "next": ...}``.

    ``force=True`` on purpose: in AWS a rotation sooner than the token lifetime plus the
    key caches after the last one is refused. The local API is a development tool: its
    start-up rotation and ``POST /_localapi/rotate-keys`` rotate back to back.
    """
    try:
        rotation = importlib.import_module(ROTATION_MODULE)
    except ModuleNotFoundError as exc:
        if not (exc.name and f"{ROTATION_MODULE}.".startswith(f"{exc.name}.")):
            raise
        raise KeysBootstrapError(
            f"the template declares SigningKeysSecret, but {ROTATION_MODULE} cannot be "
            "imported, so no development signing keys can be created (is the shared layer "
            "installed into the virtualenv? run `make install`)"
        ) from exc
    rotate_now = getattr(rotation, "rotate_now", None)
    if not callable(rotate_now):
        raise KeysBootstrapError(
            f"{ROTATION_MODULE} has no rotate_now(secretsmanager_client, secret_id, "
            "public_secret_id, *, force), which the local API calls to create and rotate the "
            "development signing keys"
        )
    key_set = rotate_now(secretsmanager_client, secret_id, public_secret_id, force=True)
    return {status: key.kid for status, key in key_set.entries()}
