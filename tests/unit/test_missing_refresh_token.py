"""The 400 message of a refresh that presents no token (issue 12 item 6): from an allowed
cross-origin Origin it names the likely cause, the refused SameSite=Strict cookie; from
anywhere else it stays the plain one."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth.http.token_delivery import NO_REFRESH_TOKEN, missing_refresh_token_message

ALLOWED = frozenset({"https://app.example.com"})


def event(origin: str | None) -> APIGatewayProxyEventV2:
    headers = {"host": "auth.example.net", "x-forwarded-proto": "https"}
    if origin is not None:
        headers["origin"] = origin
    raw: dict[str, Any] = {
        "version": "2.0",
        "headers": headers,
        "requestContext": {"domainName": "auth.example.net", "http": {"method": "POST"}},
    }
    return APIGatewayProxyEventV2(raw)


def test_an_allowed_origin_without_the_cookie_is_told_why() -> None:
    message = missing_refresh_token_message(event("https://app.example.com/"), ALLOWED)
    assert message != NO_REFRESH_TOKEN
    assert "https://app.example.com" in message
    assert "SameSite=Strict" in message
    assert "localStorage" in message  # ... never there
    assert missing_refresh_token_message(event("https://APP.example.com"), lambda: ALLOWED) == (
        message
    )


@pytest.mark.parametrize("origin", [None, "", "https://auth.example.net", "https://evil.example"])
def test_other_callers_get_the_plain_message(origin: str | None) -> None:
    assert missing_refresh_token_message(event(origin), ALLOWED) == NO_REFRESH_TOKEN
