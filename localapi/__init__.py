"""A development stand-in for API Gateway HTTP API + Lambda: ``python -m localapi``.

Kept light on purpose: importing ``localapi`` (or ``localapi.testing``) imports neither
moto nor boto3. See ``localapi.server`` for the start-up sequence.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["KeysBootstrapError", "keys_bootstrap"]


class KeysBootstrapError(Exception):
    """The development signing keys could not be created."""


def keys_bootstrap(
    secretsmanager_client: Any, ssm_client: Any, secret_id: str, parameter_name: str
) -> None:
    """Create the development key set through the code that rotates keys in AWS.

    Calls ``stateless_auth.keys.bootstrap_key_set(secretsmanager_client, ssm_client,
    secret_id=..., parameter_name=...)``, which writes the private key set to the secret
    and the public JWKS to the parameter.
    """
    try:
        keys = importlib.import_module("stateless_auth.keys")
    except ModuleNotFoundError as exc:
        if exc.name not in ("stateless_auth", "stateless_auth.keys"):
            raise
        raise KeysBootstrapError(
            "the template declares SigningKeysSecret, but stateless_auth.keys cannot be "
            "imported, so no development signing keys can be created (is the shared layer "
            "installed into the virtualenv? run `make install`)"
        ) from exc
    bootstrap = getattr(keys, "bootstrap_key_set", None)
    if not callable(bootstrap):
        raise KeysBootstrapError(
            "stateless_auth.keys has no bootstrap_key_set(secretsmanager_client, ssm_client, "
            "secret_id=..., parameter_name=...), which the local API calls to create the "
            "development signing keys"
        )
    bootstrap(secretsmanager_client, ssm_client, secret_id=secret_id, parameter_name=parameter_name)
