"""Client of the AWS Parameters and Secrets Lambda Extension (HTTP on localhost).

Functions read keys through it so that no boto3 import sits on the authorizer's
path; the local API serves the same HTTP interface from its embedded moto.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.parse
from typing import Any

from stateless_auth.domain.errors import KeySetError

DEFAULT_PORT = 2773
TIMEOUT_SECONDS = 2.0
RETRY_DELAYS = (0.05, 0.2)


class ExtensionClient:
    """Reads SSM parameters and Secrets Manager secrets through the extension."""

    def __init__(self, port: int | None = None, token: str | None = None) -> None:
        self.port = port or int(
            os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") or DEFAULT_PORT
        )
        self.token = token if token is not None else os.environ.get("AWS_SESSION_TOKEN", "")

    def _get(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        # The extension may still be starting during a cold start: retry briefly.
        for delay in RETRY_DELAYS:
            try:
                return self._get_once(path, query)
            except KeySetError:
                time.sleep(delay)
        return self._get_once(path, query)

    def _get_once(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        url = f"{path}?{urllib.parse.urlencode(query)}"
        conn = http.client.HTTPConnection("localhost", self.port, timeout=TIMEOUT_SECONDS)
        try:
            conn.request("GET", url, headers={"X-Aws-Parameters-Secrets-Token": self.token})
            reply = conn.getresponse()
            payload = reply.read()
        except (OSError, http.client.HTTPException) as exc:  # refused, timed out, cut short
            raise KeySetError(
                f"the parameters and secrets extension is unreachable: {exc}"
            ) from exc
        finally:
            conn.close()
        if reply.status != 200:
            raise KeySetError(f"the extension answered {reply.status} for {path}")
        try:
            document = json.loads(payload)
        except ValueError:
            raise KeySetError(f"the extension answered non-JSON for {path}") from None
        if not isinstance(document, dict):
            raise KeySetError(f"the extension answered an unexpected shape for {path}")
        return document

    def get_parameter(self, name: str) -> str:
        """The value of an SSM parameter."""
        document = self._get("/systemsmanager/parameters/get", {"name": name})
        try:
            return str(document["Parameter"]["Value"])
        except (KeyError, TypeError):
            raise KeySetError(f"parameter {name} has no value") from None

    def get_secret(self, secret_id: str, version_stage: str = "AWSCURRENT") -> str:
        """The SecretString of a secret's version stage."""
        document = self._get(
            "/secretsmanager/get", {"secretId": secret_id, "versionStage": version_stage}
        )
        value = document.get("SecretString")
        if not isinstance(value, str):
            raise KeySetError(f"secret {secret_id} has no SecretString")
        return value
