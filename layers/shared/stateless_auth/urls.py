"""The API's own origin, computed the same way by the issuing functions and the authorizer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def api_origin(event: Mapping[str, Any]) -> str:
    """`<X-Forwarded-Proto>://<host>` of a payload 2.0 event, as the client addressed the API.

    The host is API Gateway's requestContext.domainName (not the client's Host header)
    where present.
    """
    headers = event.get("headers") or {}
    proto = str(headers.get("x-forwarded-proto") or "https").split(",")[0].strip().lower()
    host = (event.get("requestContext") or {}).get("domainName") or headers.get("host") or ""
    return f"{proto}://{str(host).lower()}"
