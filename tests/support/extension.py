"""The Parameters and Secrets Lambda Extension, as the functions reach it: the local API's
stand-in (localapi.extension.ExtensionServer) in front of moto's clients, or in front of
``StaticSecrets`` where a test or the bench wants fixed values and a count of reads.

::

    with ExtensionServer(ssm, secretsmanager) as extension:        # moto behind it
        os.environ.update(extension.environment())

    with serving_secrets({"public-keys": jwks}) as (extension, secrets):
        ...; secrets.calls                                        # reads so far
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from localapi.extension import ExtensionServer
from tests.support.settings import REGION

__all__ = ["ExtensionServer", "StaticSecrets", "serving_secrets"]


class StaticSecrets:
    """A Secrets Manager client that knows only GetSecretValue of fixed secrets, and
    counts each call (per secret in ``reads``)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.calls = 0
        self.reads: dict[str, int] = {}
        self._lock = threading.Lock()

    def get_secret_value(self, **arguments: Any) -> dict[str, Any]:
        secret_id = str(arguments["SecretId"])
        with self._lock:
            self.calls += 1
            self.reads[secret_id] = self.reads.get(secret_id, 0) + 1
        if secret_id not in self.values:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": secret_id}},
                "GetSecretValue",
            )
        return {
            "ARN": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{secret_id}-AbCdEf",
            "Name": secret_id,
            "VersionId": "00000000-0000-4000-8000-000000000001",
            "SecretString": self.values[secret_id],
            "VersionStages": ["AWSCURRENT"],
        }


@contextlib.contextmanager
def serving_secrets(values: Mapping[str, str]) -> Iterator[tuple[ExtensionServer, StaticSecrets]]:
    """The extension stand-in answering for ``values`` ({secret id: SecretString})."""
    secrets = StaticSecrets(values)
    with ExtensionServer(ssm_client=None, secrets_client=secrets) as extension:
        yield extension, secrets
