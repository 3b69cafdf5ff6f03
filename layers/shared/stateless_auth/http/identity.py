"""Who is calling, from what API Gateway hands the route: the authorizer's context (the
access token's `sub`, `email`, `sid`) and, for a login, the client's agent and address."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth.domain.accounts import Caller
from stateless_auth.domain.errors import AuthError
from stateless_auth.http.requests import header


def authorizer_context(event: APIGatewayProxyEventV2) -> Mapping[str, Any]:
    """requestContext.authorizer.lambda, the authorizer's context; {} where the event has
    none or something else than an object there (a direct invoke, not API Gateway)."""
    context = event.raw_event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    identity = authorizer.get("lambda") if isinstance(authorizer, Mapping) else None
    return identity if isinstance(identity, Mapping) else {}


def caller_of(event: APIGatewayProxyEventV2, *, enrolling: bool = False) -> Caller:
    """The caller the authorizer verified; AuthError if the route runs without it (only
    reachable if the route is deployed without the authorizer). `enrolling`: the two
    enrolment routes, whose authorizer also lets through an enrolment token, which has no
    session (its Caller's session_id is "")."""
    identity = authorizer_context(event)
    user_id, email, session_id = identity.get("sub"), identity.get("email"), identity.get("sid")
    no_session_allowed = enrolling and identity.get("mfa_enrollment") is True and session_id == ""
    if not all(isinstance(v, str) and v for v in (user_id, email)) or not (
        (isinstance(session_id, str) and session_id) or no_session_allowed
    ):
        raise AuthError("this route needs the authorizer's context")
    if no_session_allowed:
        psid, epoch = identity.get("psid"), identity.get("epoch")
        if not isinstance(psid, str) or type(epoch) is not int:
            raise AuthError("this route needs the authorizer's context")
        return Caller(
            user_id=str(user_id),
            email=str(email),
            session_id="",
            password_set_id=psid,
            sessions_epoch=epoch,
        )
    return Caller(user_id=str(user_id), email=str(email), session_id=str(session_id))


def client_of(event: APIGatewayProxyEventV2) -> tuple[str, str]:
    """The client's User-Agent and source IP, as API Gateway saw them."""
    http = event.raw_event.get("requestContext", {}).get("http", {})
    agent = http.get("userAgent") or header(event, "User-Agent") or ""
    ip = http.get("sourceIp") or ""
    return str(agent), str(ip)
