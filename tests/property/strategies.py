"""Hypothesis strategies for API Gateway payload 2.0 events, SQS events and JWT-shaped
strings: arbitrary where API Gateway lets a client choose (headers, cookies, query
strings, path parameters, the body and its encoding), and now and then a shape API
Gateway never sends (a direct invoke); the route itself is always one of the function's.

``Case`` is what a test needs back: the event and the secrets it carries (passwords,
tokens, cookie values), which no log line may contain.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from tests.support.events import load_event

# Field names the handlers read, and those that carry a secret.
FIELDS = (
    "email",
    "password",
    "token",
    "refresh_token",
    "refresh_token_delivery",
    "current_password",
    "new_password",
)
SECRET_FIELDS = frozenset(
    {"password", "token", "refresh_token", "current_password", "new_password"}
)
# A secret shorter than this could match a log line by chance ("info", "true").
MIN_SECRET_LENGTH = 12
HEADERS_THAT_MATTER = (
    "content-type",
    "Content-Type",
    "origin",
    "sec-fetch-site",
    "authorization",
    "cookie",
    "host",
    "x-forwarded-proto",
    "user-agent",
    "x-forwarded-for",
)

# Text of every kind: ASCII, non-ASCII, control characters, lone surrogates excluded
# (a JSON string from json.dumps cannot hold them unescaped; escaped ones are below).
any_text = st.text(st.characters(codec="utf-8"), max_size=40)
short_text = st.text(max_size=12)
huge_text = st.integers(min_value=1_000, max_value=40_000).map(lambda n: "é" * (n // 2) + "x" * n)
odd_text = st.one_of(
    any_text,
    st.sampled_from(["", " ", "\x00", "\ud800", "null", "[]", "{}", "0", "-1", "1e999", "☃"]),
    huge_text,
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=12,
)
# A value for one of the handlers' fields: mostly a string, else any JSON (wrong types).
field_values = st.one_of(
    any_text,
    any_text,
    st.sampled_from(["ann@example.com", "ANN@Example.COM", "body", "cookie"]),
    st.text(min_size=15, max_size=80),  # long enough to pass the length rule
    huge_text,
    json_values,
)


# Values each field could well have: the handlers' logic past parsing (signups that
# are accepted, logins with a wrong password, unknown tokens) is reached too.
PLAUSIBLE = {
    "email": st.one_of(st.emails(), st.sampled_from(["ann@example.com", "Ann@Example.com"])),
    "password": st.text(min_size=15, max_size=70),
    "current_password": st.text(min_size=15, max_size=70),
    "new_password": st.text(min_size=15, max_size=70),
    "token": st.text(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", max_size=90
    ),
    "refresh_token": st.text(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", max_size=90
    ),
    "refresh_token_delivery": st.sampled_from(["body", "cookie", "body", None]),
}


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in ``n`` draws (hypothesis favours the ends of an integer range, so
    not ``integers(0, n - 1) == 0``)."""
    return st.integers(0, n - 1).map(lambda drawn: drawn == n // 2)


@dataclass
class Case:
    """An event and the secrets it carries."""

    event: dict[str, Any]
    secrets: set[str] = field(default_factory=set)

    def remember(self, value: Any) -> None:
        if isinstance(value, str) and len(value.strip()) >= MIN_SECRET_LENGTH:
            self.secrets.add(value)


@st.composite
def json_bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(JSON text, the object it encodes or {}): objects with the handlers' fields of
    every type, other JSON values, deep nesting, odd escapes and huge bodies."""
    kind = draw(
        st.sampled_from(["plausible"] * 4 + ["fields"] * 3 + ["any", "deep", "escapes", "huge"])
    )
    if kind == "plausible":
        plausible: dict[str, Any] = {name: draw(s) for name, s in PLAUSIBLE.items()}
        if draw(st.booleans()):  # one field wrong
            plausible[draw(st.sampled_from(FIELDS))] = draw(field_values)
        return json.dumps(plausible, ensure_ascii=draw(st.booleans())), plausible
    if kind == "fields":
        names = draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=len(FIELDS)))
        value: dict[str, Any] = {name: draw(field_values) for name in names}
        value.update(draw(st.dictionaries(any_text, json_values, max_size=3)))
        return json.dumps(value, ensure_ascii=draw(st.booleans())), value
    if kind == "any":
        any_value = draw(json_values)
        return json.dumps(any_value), any_value if isinstance(any_value, dict) else {}
    if kind == "deep":
        depth = draw(st.integers(min_value=10, max_value=5_000))
        opener = draw(st.sampled_from(['{"email":', "[", '{"a":[']))
        return opener * depth, {}
    if kind == "escapes":
        name = draw(st.sampled_from(FIELDS))
        escape = draw(st.sampled_from(["\\ud800", "\\u0000", "\\udfff\\ud800", "\\uffff"]))
        return f'{{"{name}": "x{escape}y", "email": "a@b.example"}}', {}
    size = draw(st.integers(min_value=15_000, max_value=70_000))
    return json.dumps({"email": "ann@example.com", "password": "p" * size}), {}


@st.composite
def bodies(draw: st.DrawFn, case: Case) -> None:
    """Set the event's body and isBase64Encoded: JSON, text, bytes, base64 or not."""
    event = case.event
    kind = draw(st.sampled_from(["json"] * 6 + ["none", "text", "bytes"]))
    if kind == "none":
        event.pop("body", None)
        if draw(st.booleans()):
            event["body"] = draw(st.sampled_from([None, "", 0, [], {"a": 1}]))
        return
    if kind == "json":
        text, value = draw(json_bodies())
        for name in SECRET_FIELDS & set(value):
            case.remember(value[name])
        data = text.encode("utf-8")
    elif kind == "text":
        text = draw(odd_text)
        data = text.encode("utf-8", "surrogatepass")
    else:
        data = draw(st.binary(max_size=200))
        text = data.decode("latin-1")
    encoding = draw(st.sampled_from(["plain"] * 5 + ["base64"] * 3 + ["bad base64", "flag only"]))
    if encoding == "plain":
        event["body"], event["isBase64Encoded"] = text, False
    elif encoding == "base64":
        event["body"], event["isBase64Encoded"] = base64.b64encode(data).decode(), True
    elif encoding == "bad base64":
        event["body"] = draw(st.sampled_from(["%%%", "abc", "a===", "é", text]))
        event["isBase64Encoded"] = True
    else:  # not base64, but says so (or a truthy non-boolean)
        event["body"], event["isBase64Encoded"] = text, draw(st.sampled_from([True, 1, "yes"]))


@st.composite
def headers(draw: st.DrawFn, case: Case) -> None:
    """Add, replace or drop headers: odd names, huge and non-ASCII values."""
    event = case.event
    current: dict[str, Any] = dict(event.get("headers") or {})
    if draw(st.booleans()):
        current.pop("content-type", None)
    if draw(one_in(5)):
        current["content-type"] = draw(
            st.sampled_from(
                [
                    "text/plain",
                    "application/json; charset=utf-8",
                    "APPLICATION/JSON",
                    "application/jsonx",
                    "",
                ]
            )
        )
    else:
        current["content-type"] = "application/json"
    extra = draw(
        st.dictionaries(
            st.one_of(st.sampled_from(HEADERS_THAT_MATTER), any_text),
            st.one_of(any_text, huge_text, st.sampled_from(["cross-site", "same-origin", "null"])),
            max_size=4,
        )
    )
    for name, value in extra.items():
        if name.lower() in {"authorization", "cookie"}:
            case.remember(value)
            if name.lower() == "authorization":
                case.remember(value.partition(" ")[2])
        current[name] = value
    event["headers"] = current


@st.composite
def cookies(draw: st.DrawFn, case: Case) -> None:
    values: list[str] = draw(st.lists(st.one_of(any_text, huge_text), max_size=3))
    items: list[str] = []
    for value in values:
        name = draw(st.sampled_from(["__Host-refresh_token", "__Host-refresh_token ", "other", ""]))
        item = draw(st.sampled_from([f"{name}={value}", value, f"{name}= {value} "]))
        case.remember(value)
        items.append(item)
    empty_list_too: bool = draw(st.booleans())
    if items or empty_list_too:
        case.event["cookies"] = items


@st.composite
def query_and_path(draw: st.DrawFn, case: Case) -> None:
    event = case.event
    if draw(st.booleans()):
        params = draw(st.dictionaries(any_text, any_text, max_size=3))
        event["queryStringParameters"] = params
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in params.items())
    if draw(st.booleans()):
        event["pathParameters"] = draw(
            st.one_of(
                st.dictionaries(st.just("session_id"), st.one_of(any_text, huge_text)),
                st.dictionaries(any_text, any_text, max_size=2),
            )
        )


@st.composite
def client_context(draw: st.DrawFn, case: Case) -> None:
    """requestContext.http: method, source IP and agent as a client could make them."""
    context = dict(case.event.get("requestContext") or {})
    http = dict(context.get("http") or {})
    if draw(one_in(6)):
        http["method"] = draw(st.sampled_from(["get", "HEAD", "OPTIONS", "PATCH", "", "BREW"]))
    if draw(st.booleans()):
        http["userAgent"] = draw(st.one_of(any_text, huge_text))
    if draw(one_in(4)):
        http["sourceIp"] = draw(st.sampled_from(["", "::1", "not an ip", "203.0.113.7"]))
    context["http"] = http
    case.event["requestContext"] = context


def authorizer_contexts(
    real: list[dict[str, Any]],
) -> st.SearchStrategy[dict[str, Any] | None]:
    """requestContext.authorizer for a protected route: missing, empty, wrong types, a
    context of an unknown user, or one of ``real`` (what the authorizer passed on for a
    real session)."""
    wrong = st.dictionaries(
        st.sampled_from(["sub", "sid", "email", "roles", "email_verified", "jti", "exp"]),
        json_values,
        max_size=7,
    )
    unknown = st.fixed_dictionaries(
        {
            "sub": st.uuids().map(str),
            "sid": st.uuids().map(str),
            "email": st.emails(),
            "roles": st.lists(any_text, max_size=2),
        }
    )
    lambda_context = st.one_of(wrong, unknown, *([st.sampled_from(real)] if real else []))
    return st.one_of(
        st.none(),
        st.just({}),
        st.just({"lambda": None}),
        st.builds(lambda c: {"lambda": c}, lambda_context),
        st.builds(lambda c: {"lambda": c}, lambda_context),
        json_values.map(lambda v: {"lambda": v}),
    )


@st.composite
def http_events(
    draw: st.DrawFn,
    template: str,
    *,
    route_key: str | None = None,
    authorizers: st.SearchStrategy[dict[str, Any] | None] | None = None,
) -> Case:
    """An arbitrary payload 2.0 event for the route of events/<template> (or
    ``route_key``, another route of the same function)."""
    event = load_event(template)
    if route_key is not None:
        method, path = route_key.split(" ", 1)
        event["routeKey"] = route_key
        event["requestContext"] = {
            **event["requestContext"],
            "routeKey": route_key,
            "http": {**event["requestContext"]["http"], "method": method, "path": path},
        }
        event["rawPath"] = path
    case = Case(event)
    draw(headers(case))
    draw(bodies(case))
    draw(cookies(case))
    draw(query_and_path(case))
    draw(client_context(case))
    if authorizers is not None:
        context = dict(event["requestContext"])
        authorizer = draw(authorizers)
        if authorizer is None:
            context.pop("authorizer", None)
        else:
            context["authorizer"] = authorizer
        event["requestContext"] = context
    if draw(one_in(16)):  # a shape API Gateway never sends
        name = draw(st.sampled_from(["headers", "cookies", "requestContext", "rawPath"]))
        event[name] = draw(st.sampled_from([None, 7, "text", ["a", 1], {"a": 1}]))
    return case
