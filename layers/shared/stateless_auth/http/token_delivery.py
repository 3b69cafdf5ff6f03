"""How refresh tokens travel, both ways: in the `__Host-refresh_token` cookie (the
default) or in the JSON body, as the client asks (docs/routes.md, docs/tokens.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth.domain.errors import InvalidRequest, InvalidToken
from stateless_auth.domain.sessions import TokenGrant
from stateless_auth.http.cross_site import Origins, api_origin, check_same_site
from stateless_auth.http.errors import CrossSiteRequest
from stateless_auth.http.requests import cookie, header, json_body, optional_string_field
from stateless_auth.http.responses import response

REFRESH_COOKIE = "__Host-refresh_token"
MAX_REFRESH_TOKEN_LENGTH = 512
COOKIE = "cookie"
BODY = "body"


def delivery_field(body: Mapping[str, Any]) -> str:
    """Where the client wants its refresh token: "cookie" (default) or "body"."""
    delivery = optional_string_field(body, "refresh_token_delivery") or COOKIE
    if delivery not in (COOKIE, BODY):
        raise InvalidRequest("'refresh_token_delivery' must be 'cookie' or 'body'")
    return delivery


def presented_refresh_token(
    event: APIGatewayProxyEventV2, allowed_origins: Origins
) -> tuple[str | None, str]:
    """The refresh token the caller sent and how: the cookie counts where both are sent.

    None when none is presented (no cookie, no or a null or empty `refresh_token`);
    a presented token that is malformed or too long is InvalidToken. A cookie-carrying
    call from another site is refused before anything else (the handler decorator
    already refuses every cross-site state-changing call; this stays as a second line
    for the cookie).
    """
    from_cookie = cookie(event, REFRESH_COOKIE)
    if from_cookie:
        check_same_site(event, allowed_origins)
        # A browser never sends the SameSite=Strict cookie in a cross-site context, even
        # for a listed origin: a cross-site call carrying it was not made by a browser
        # that follows the rules, so this line refuses it whatever the origin.
        if (header(event, "sec-fetch-site") or "").strip().lower() == "cross-site":
            raise CrossSiteRequest("cross-site requests may not send the refresh cookie")
        return _token_value(from_cookie), COOKIE
    body = json_body(event, required=False)
    token = body.get("refresh_token")
    if token is None or token == "":
        return None, BODY
    if not isinstance(token, str):
        raise InvalidToken("the refresh token is malformed")
    return _token_value(token), BODY


NO_REFRESH_TOKEN = 'no refresh token: send the cookie or {"refresh_token": ...}'  # noqa: S105
# What a browser app sees whose login passed (its origin is allowed) in a context the
# browser counts as cross-site (a browser without Sec-Fetch-Site, or the app framed by
# another site): the browser refused to store the SameSite=Strict cookie of that
# response, so it has nothing to send (docs/browser-apps.md).
NO_COOKIE_FROM_ALLOWED_ORIGIN = (
    "no refresh token: this call came from the allowed origin {origin} without the "
    "refresh cookie. The likely cause: the browser refused the SameSite=Strict cookie of "
    "the login response because it was cross-site (the app and the API on different "
    "sites, or the app framed by another site). "
    "Serve the API on the app's own site (e.g. auth.example.com for app.example.com; "
    "locally, localhost with localhost), or have a server-side component use "
    '"refresh_token_delivery": "body" (never localStorage); see docs/browser-apps.md'
)


def missing_refresh_token_message(event: APIGatewayProxyEventV2, allowed_origins: Origins) -> str:
    """The 400 message for a refresh or logout that presents no token: it names the likely
    cause when the call comes cross-origin from an allowed origin (a browser app)."""
    origin = (header(event, "origin") or "").strip().rstrip("/").lower()
    if not origin or origin == api_origin(event.raw_event):
        return NO_REFRESH_TOKEN
    allowed = allowed_origins() if callable(allowed_origins) else allowed_origins
    if origin not in allowed:
        return NO_REFRESH_TOKEN
    return NO_COOKIE_FROM_ALLOWED_ORIGIN.format(origin=origin[:200])


def _token_value(token: str) -> str:
    if len(token) > MAX_REFRESH_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        raise InvalidToken("the refresh token is malformed")
    return token


def refresh_cookie(token: str, max_age: int) -> str:
    """The Set-Cookie value that delivers a refresh token to a browser."""
    return f"{REFRESH_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age}"


def cleared_refresh_cookie() -> str:
    """The Set-Cookie value that removes the refresh cookie."""
    return f"{REFRESH_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"


def token_response(grant: TokenGrant, delivery: str) -> dict[str, Any]:
    """The token response (docs/routes.md), the refresh token where the client asked."""
    body: dict[str, Any] = {
        "access_token": grant.access_token,
        "token_type": "Bearer",
        "expires_in": grant.expires_in,
    }
    if delivery == BODY:
        body["refresh_token"] = grant.refresh_token
        body["refresh_expires_in"] = grant.refresh_expires_in
        return response(200, body)
    return response(
        200, body, cookies=[refresh_cookie(grant.refresh_token, grant.refresh_expires_in)]
    )
