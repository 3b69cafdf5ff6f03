"""The local API over real HTTP, serving the toy template (docs/local-api.md)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localapi.testing import LocalApiFailed, LocalApiUrl, running_local_api, wait_until_ready
from tests.support import http_client
from tests.support.paths import TOY_TEMPLATE

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("localapi")]


class Reply(http_client.Reply):
    @property
    def body(self) -> bytes:
        return self.raw

    @property
    def event(self) -> dict[str, Any]:
        """The event the toy function was called with (it answers with it)."""
        return dict(self.json()["event"])


def call(
    base_url: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Reply:
    reply = http_client.Client(base_url).send(method, path, body, headers)
    return Reply(reply.status, reply.headers, reply.raw)


@pytest.fixture(scope="module")
def authorizer_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("authorizer") / "calls.jsonl"
    path.touch()
    return path


@pytest.fixture(scope="module")
def api(authorizer_log: Path) -> Iterator[LocalApiUrl]:
    env = {"AUTHORIZER_LOG_FILE": str(authorizer_log), "TOY_TTL_SECONDS": "5"}
    with running_local_api(env, template=TOY_TEMPLATE) as base_url:
        yield base_url


def authorizer_calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line]


# -- routing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nowhere"),
        ("DELETE", "/public/echo"),
        ("GET", "/public/echo/"),
        ("POST", "/private/echo"),
        ("GET", "/"),
    ],
)
def test_unknown_route_or_method_is_404(api: str, method: str, path: str) -> None:
    reply = call(api, method, path)
    assert reply.status == 404
    assert reply.json() == {"message": "Not Found"}
    assert reply.headers["content-type"] == "application/json"


def test_path_parameters_and_most_specific_route(api: str) -> None:
    assert call(api, "GET", "/items/42").event["pathParameters"] == {"id": "42"}
    special = call(api, "GET", "/items/special").event
    assert special["routeKey"] == "GET /items/special"
    assert "pathParameters" not in special


# -- the event -----------------------------------------------------------------------


def test_event_looks_like_api_gateway_payload_2(api: str) -> None:
    reply = call(
        api,
        "GET",
        "/public/echo?b=2&a=1&a=3",
        headers={"X-Custom": "Value", "User-Agent": "toy-agent"},
    )
    assert reply.status == 200
    event = reply.event
    host = urllib.parse.urlsplit(api).netloc
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /public/echo"
    assert event["rawPath"] == "/public/echo"
    assert event["rawQueryString"] == "b=2&a=1&a=3"
    assert event["queryStringParameters"] == {"a": "1,3", "b": "2"}
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    headers = event["headers"]
    assert headers["x-custom"] == "Value"
    assert headers["host"] == host
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-port"] == host.rsplit(":", 1)[1]
    assert all(name == name.lower() for name in headers)
    context = event["requestContext"]
    assert context["domainName"] == host
    assert context["stage"] == "$default"
    assert context["routeKey"] == "GET /public/echo"
    assert context["http"] == {
        "method": "GET",
        "path": "/public/echo",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "toy-agent",
    }
    assert isinstance(context["timeEpoch"], int)
    assert "authorizer" not in context
    assert reply.headers["x-toy"] == "echo"
    assert reply.headers["apigw-requestid"] == context["requestId"]


def test_cookies_are_split_out_of_the_headers(api: str) -> None:
    event = call(api, "GET", "/public/echo", headers={"Cookie": "a=1; b=2"}).event
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]


def test_cookies_in_the_response_become_set_cookie_headers(api: str) -> None:
    reply = call(api, "GET", "/public/echo?mode=cookies")
    assert reply.headers.get_all("Set-Cookie") == ["first=1; Path=/; HttpOnly", "second=2; Path=/"]


def test_json_body_is_text_and_form_body_is_base64(api: str) -> None:
    as_json = call(
        api, "POST", "/public/echo", headers={"Content-Type": "application/json"}, body=b'{"a":1}'
    ).event
    assert as_json["body"] == '{"a":1}'
    assert as_json["isBase64Encoded"] is False
    as_form = call(
        api,
        "POST",
        "/public/echo",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"a=1",
    ).event
    assert as_form["body"] == "YT0x"
    assert as_form["isBase64Encoded"] is True


def test_result_shapes(api: str) -> None:
    assert call(api, "GET", "/public/echo?mode=binary").body == b"\x00\x01binary"
    assert call(api, "GET", "/public/echo?status=418").status == 418


def test_body_over_10_mb_is_413(api: str) -> None:
    reply = call(
        api,
        "POST",
        "/public/echo",
        headers={"Content-Type": "application/json"},
        body=b"x" * (10 * 1024 * 1024 + 1),
    )
    assert reply.status == 413
    assert reply.json() == {"message": "Request Entity Too Large"}


# -- the authorizer ------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}])
def test_no_authorization_is_401_without_calling_the_authorizer(
    api: str, authorizer_log: Path, headers: dict[str, str]
) -> None:
    before = len(authorizer_calls(authorizer_log))
    reply = call(api, "GET", "/private/echo", headers=headers)
    assert reply.status == 401
    assert reply.json() == {"message": "Unauthorized"}
    assert len(authorizer_calls(authorizer_log)) == before


def test_denied_is_403(api: str) -> None:
    reply = call(api, "GET", "/private/echo", headers={"Authorization": "Bearer bad"})
    assert reply.status == 403
    assert reply.json() == {"message": "Forbidden"}


def test_allowed_context_reaches_the_handler(api: str, authorizer_log: Path) -> None:
    reply = call(api, "GET", "/private/echo?x=1", headers={"Authorization": "Bearer good"})
    assert reply.status == 200
    assert reply.event["requestContext"]["authorizer"] == {
        "lambda": {"sub": "u1", "roles": ["user"]}
    }
    request = authorizer_calls(authorizer_log)[-1]
    assert request["version"] == "2.0"
    assert request["type"] == "REQUEST"
    assert request["identitySource"] == ["Bearer good"]
    assert request["routeKey"] == "GET /private/echo"
    assert request["routeArn"] == (
        "arn:aws:execute-api:us-east-1:123456789012:localapi/$default/GET/private/echo"
    )
    assert request["rawQueryString"] == "x=1"
    assert request["headers"]["authorization"] == "Bearer good"
    assert "body" not in request


def test_no_caching_of_authorizer_results(api: str, authorizer_log: Path) -> None:
    before = len(authorizer_calls(authorizer_log))
    for _ in range(2):
        call(api, "GET", "/private/echo", headers={"Authorization": "Bearer good"})
    assert len(authorizer_calls(authorizer_log)) == before + 2


def test_a_route_is_guarded_by_its_own_authorizer(api: str, authorizer_log: Path) -> None:
    """Two authorizers of one API (template.yaml's TokenAuthorizer and
    MfaEnrollmentAuthorizer): each route calls the one it names, each its own function,
    though both run the same code with different variables."""
    enrolling = {"Authorization": "Bearer enrolling"}
    reply = call(api, "POST", "/enrolling/echo", headers=enrolling)
    assert reply.status == 200
    assert reply.event["requestContext"]["authorizer"] == {
        "lambda": {"sub": "u1", "enrolling": True}
    }
    assert authorizer_calls(authorizer_log)[-1]["routeKey"] == "POST /enrolling/echo"
    # the default authorizer's function was loaded without the variable: it denies
    denied = call(api, "GET", "/private/echo", headers=enrolling)
    assert (denied.status, denied.json()) == (403, {"message": "Forbidden"})
    # what the default one allows, the second one allows too (the same code)
    good = call(api, "POST", "/enrolling/echo", headers={"Authorization": "Bearer good"})
    assert good.event["requestContext"]["authorizer"] == {
        "lambda": {"sub": "u1", "roles": ["user"]}
    }
    before = len(authorizer_calls(authorizer_log))
    missing = call(api, "POST", "/enrolling/echo")
    assert (missing.status, missing.json()) == (401, {"message": "Unauthorized"})
    assert len(authorizer_calls(authorizer_log)) == before
    bad = call(api, "POST", "/enrolling/echo", headers={"Authorization": "Bearer bad"})
    assert (bad.status, bad.json()) == (403, {"message": "Forbidden"})


@pytest.mark.parametrize("token", ["Bearer raise", "Bearer malformed"])
def test_failing_authorizer_is_500(api: LocalApiUrl, token: str) -> None:
    reply = call(api, "GET", "/private/echo", headers={"Authorization": token})
    assert reply.status == 500
    assert reply.json() == {"message": "Internal Server Error"}


# -- failures ------------------------------------------------------------------------


def test_raising_handler_is_500_with_traceback_on_stderr(api: LocalApiUrl) -> None:
    reply = call(api, "GET", "/boom")
    assert reply.status == 500
    assert reply.json() == {"message": "Internal Server Error"}
    stderr = api.stderr()
    assert "BoomFunction raised ValueError" in stderr
    assert "toy failure for the local API tests" in stderr
    assert "Traceback" in stderr


def test_unusable_response_is_500(api: LocalApiUrl) -> None:
    reply = call(api, "GET", "/unusable")
    assert reply.status == 500
    assert reply.json() == {"message": "Internal Server Error"}
    assert "returned an unusable response" in api.stderr()


# -- environment, context, embedded AWS ----------------------------------------------


def test_environment_from_template_with_process_values_winning(api: str) -> None:
    body = call(api, "GET", "/public/echo").json()
    env = body["env"]  # what the module saw when it was imported
    assert env["TOY_TTL_SECONDS"] == "5"  # from the caller's environment
    assert env["GREETING"] == "hello"  # the parameter's Default
    assert body["greeting_at_call"] is None  # the function's variables: at import only
    assert env["TOY_AUDIENCE"] == "stateless-auth-local"  # !If on a condition
    assert env["TOY_SUB"] == "stateless-auth-local/us-east-1/hello"
    assert env["TOY_JOIN"] == "a-hello-b"
    assert env["TOY_NO_VALUE"] is None
    assert env["TOY_TABLE"] == "ToyTable"
    assert env["TOY_PARAMETER"] == "ToyParameter"
    assert env["TOY_SECRET_ID"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:")
    assert env["ONLY_ON_ECHO"] == "echo-only"
    assert env["ONLY_ON_STORE"] is None  # another function's variable
    assert env["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] not in (None, "2773")
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"


def test_context_object(api: str) -> None:
    context = call(api, "GET", "/public/echo").json()["context"]
    assert context["function_name"] == "stateless-auth-local-EchoFunction"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:stateless-auth-local-EchoFunction"
    )
    assert context["memory_limit_in_mb"] == "256"
    assert context["log_group_name"] == "/aws/lambda/stateless-auth-local-EchoFunction"
    assert 0 < context["remaining_ms"] <= 3000
    assert context["aws_request_id"]


def test_concurrent_conditional_puts_through_http_succeed_once(api: str) -> None:
    start = threading.Barrier(20)
    statuses: list[int] = []
    lock = threading.Lock()

    def put() -> None:
        start.wait()
        status = call(api, "POST", "/items/race").status
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=put) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201] + [409] * 19


def test_handlers_reach_the_extension_emulator(api: str) -> None:
    reply = call(api, "GET", "/extension")
    assert reply.status == 200
    assert reply.json()["Parameter"]["Value"] == "toy-value"


# -- process life cycle --------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_ready_line_then_clean_exit_on_signal(tmp_path: Path, signum: signal.Signals) -> None:
    stdout_path, stderr_path = tmp_path / "stdout", tmp_path / "stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "localapi", "--port", "0", "--template", str(TOY_TEMPLATE)],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    try:
        url = wait_until_ready(process, stdout_path, stderr_path, timeout=60)
        assert stdout_path.read_text().startswith("Stateless Auth local API listening on http://")
        assert call(url, "GET", "/public/echo").status == 200
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
        assert "stopped" in stderr_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_configuration_error_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text(
        TOY_TEMPLATE.read_text()
        .replace("CodeUri: functions/echo/", "CodeUri: functions/missing/")
        .replace("CodeUri: functions/", f"CodeUri: {TOY_TEMPLATE.parent}/functions/")
    )
    with (
        pytest.raises(LocalApiFailed, match=r"EchoFunction: handler 'app.lambda_handler' needs"),
        running_local_api(template=broken, timeout=60),
    ):
        pass
