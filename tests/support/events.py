"""Events as API Gateway and Secrets Manager send them, from the files in events/ (the
ones `sam local invoke -e` takes), with the tokens a test has; and readers of replies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.support.paths import EVENTS

PLACEHOLDER = "REPLACE_WITH_REFRESH_TOKEN"  # where the events/ files want a refresh token
LINK_PLACEHOLDER = "REPLACE_WITH_LINK_TOKEN"  # where they want a verification or reset token
SESSION_ID_PLACEHOLDER = "REPLACE_WITH_SESSION_ID"  # events/sessions_delete.json's path
ROTATION_STEPS = {
    "createSecret": "create_secret",
    "setSecret": "set_secret",
    "testSecret": "test_secret",
    "finishSecret": "finish_secret",
}


def load_event(name: str) -> dict[str, Any]:
    """events/<name>, a fresh copy."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def with_bearer(source: str | Mapping[str, Any], token: str) -> dict[str, Any]:
    """The event (an events/ file, or a shallow copy of the event given) carrying
    ``Authorization: Bearer <token>``, in its identity source too where it has one."""
    event = load_event(source) if isinstance(source, str) else dict(source)
    event["headers"] = {**event["headers"], "authorization": f"Bearer {token}"}
    if "identitySource" in event:
        event["identitySource"] = [f"Bearer {token}"]
    return event


def with_refresh_cookie(name: str, token: str) -> dict[str, Any]:
    """events/<name> with the refresh token in its cookie."""
    event = load_event(name)
    event["cookies"] = [cookie.replace(PLACEHOLDER, token) for cookie in event["cookies"]]
    return event


def with_refresh_token_in_body(name: str, token: str) -> dict[str, Any]:
    """events/<name> with the refresh token in its JSON body."""
    event = load_event(name)
    event["body"] = event["body"].replace(PLACEHOLDER, token)
    return event


def with_link_token(name: str, token: str) -> dict[str, Any]:
    """events/<name> (verify_email.json, password_reset*.json) carrying a link's token."""
    event = load_event(name)
    assert LINK_PLACEHOLDER in event["body"]
    event["body"] = event["body"].replace(LINK_PLACEHOLDER, token)
    return event


def with_json_body(name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """events/<name> with ``payload`` as its JSON body."""
    event = load_event(name)
    event["body"] = json.dumps(payload)
    event["isBase64Encoded"] = False
    return event


def with_session_id(source: str | Mapping[str, Any], session_id: str) -> dict[str, Any]:
    """The event (events/sessions_delete.json, or a shallow copy of the event given) for
    DELETE /auth/sessions/<session_id>."""
    event = load_event(source) if isinstance(source, str) else dict(source)
    event["pathParameters"] = {"session_id": session_id}
    event["rawPath"] = event["rawPath"].replace(SESSION_ID_PLACEHOLDER, session_id)
    event["requestContext"] = {
        **event["requestContext"],
        "http": {**event["requestContext"]["http"], "path": event["rawPath"]},
    }
    return event


def load_rotation_event(step: str) -> dict[str, Any]:
    """events/rotation_<step>.json, as Secrets Manager invokes the rotation function."""
    event = load_event(f"rotation_{ROTATION_STEPS.get(step, 'create_secret')}.json")
    event["Step"] = step
    return event


# --- a handler's reply ----------------------------------------------------------------


def body(reply: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of a handler's reply."""
    result: dict[str, Any] = json.loads(reply["body"])
    return result


def cookie_token(reply: Mapping[str, Any]) -> str:
    """The refresh token of the reply's one Set-Cookie."""
    (cookie,) = reply["cookies"]
    return str(cookie.split(";")[0].split("=", 1)[1])


def error_of(reply: Mapping[str, Any]) -> tuple[int, str]:
    """(status, error code) of an error reply, which must carry a message too."""
    payload = body(reply)
    assert payload["message"]
    return reply["statusCode"], payload["error"]
