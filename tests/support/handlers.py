"""The functions' handler modules as Lambda loads them, and invoking them.

A handler is functions/<name>/app.py imported by its file path, which runs its module
init (settings, clients, key stores) with the process's environment at that moment: set
the environment first. The context is the local API's (localapi.runtime.LambdaContext),
the attributes of the Python runtime's context object.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from localapi.queues import sqs_record
from localapi.runtime import LambdaContext
from tests.support.events import (
    body,
    with_bearer,
    with_json_body,
    with_link_token,
    with_session_id,
)
from tests.support.mail import token_in
from tests.support.paths import FUNCTIONS
from tests.support.settings import REGION

if TYPE_CHECKING:
    from tests.support.aws import MotoStack, SentEmail

__all__ = ["LambdaContext", "Stack", "import_handler", "invoke", "stack_in_moto"]


def import_handler(name: str, *, module_name: str | None = None) -> ModuleType:
    """functions/<name>/app.py, imported afresh (a cold start) under ``module_name``
    (default ``handler_<name>``); not put in sys.modules."""
    path = FUNCTIONS / name / "app.py"
    spec = importlib.util.spec_from_file_location(module_name or f"handler_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invoke(handler: ModuleType, event: Mapping[str, Any], *, function_name: str = "") -> Any:
    """``handler.lambda_handler(event, context)`` with a fresh Lambda context."""
    context = LambdaContext(function_name=function_name) if function_name else LambdaContext()
    return handler.lambda_handler(event, context)


@dataclass
class Stack:
    """The functions' handlers, imported against one set of resources (the ``stack``
    fixture of tests/handlers/: moto, from the template)."""

    handlers: dict[str, ModuleType]
    dynamodb: Any
    tables: dict[str, str]
    issuer: str
    aws: MotoStack

    def invoke(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = invoke(self.handlers[name], event)
        return result

    # -- mail --------------------------------------------------------------------------

    def mail_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The SQS event Lambda's event source mapping builds from received messages."""
        url = self.aws.queues["MailQueue"]
        arn = self.aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return {"Records": [sqs_record(message, str(arn), REGION) for message in messages]}

    def run_mailer(self) -> list[dict[str, Any]]:
        """The mailer over MailQueue, as its event source mapping runs it: batches of up
        to 10 received messages until none is left, each batch's handled messages
        deleted. Those in a batch's ``batchItemFailures`` stay; once the queue is empty
        they are made visible again (as if their visibility timeout had passed), so the
        next run retries them, and after MailQueue's maxReceiveCount receives SQS moves
        them to MailDeadLetterQueue. The mailer's replies, one per batch."""
        sqs, url = self.aws.sqs, self.aws.queues["MailQueue"]
        replies: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            reply = self.invoke("mailer", self.mail_event(messages))
            replies.append(reply)
            failures = {item["itemIdentifier"] for item in reply.get("batchItemFailures", [])}
            for message in messages:
                if message["MessageId"] in failures:
                    failed.append(message)
                else:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        for message in failed:
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return replies

    def waiting(self, queue: str = "MailQueue") -> int:
        """How many messages a queue holds, visible or not (without receiving any)."""
        attributes = self.aws.sqs.get_queue_attributes(
            QueueUrl=self.aws.queues[queue],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def mails_to(self, address: str) -> list[SentEmail]:
        """The mails SES accepted for ``address``, oldest first."""
        return self.aws.mail.to(address)

    def link_token(self, address: str, purpose: str) -> str:
        """The token of the newest link of ``purpose`` ("verify_email" or
        "reset_password") mailed to ``address``."""
        page = "/verify-email#" if purpose == "verify_email" else "/reset-password#"
        for mail in reversed(self.mails_to(address)):
            if page in mail.text:
                return token_in(mail.text, purpose)
        raise AssertionError(f"no {purpose} link was mailed to {address}")

    # -- the routes behind the authorizer ----------------------------------------------

    def authorizer_context(self, access_token: str) -> dict[str, Any]:
        """The context the authorizer's decision passes on for the token (it must allow)."""
        decision = self.invoke("authorizer", with_bearer("authorizer_valid.json", access_token))
        assert decision["isAuthorized"] is True, decision
        context: dict[str, Any] = decision["context"]
        return context

    def authorized(
        self,
        name: str,
        access_token: str,
        *,
        payload: Mapping[str, Any] | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """events/<name> as API Gateway hands it to its route once the authorizer allowed
        ``access_token``: the decision's context in requestContext.authorizer.lambda
        (the file's placeholder caller has its shape), ``payload`` as the JSON body,
        ``session_id`` in the path of DELETE /auth/sessions/{session_id}."""
        context = self.authorizer_context(access_token)
        event = (
            with_bearer(name, access_token) if payload is None else with_json_body(name, payload)
        )
        event["headers"] = {**event["headers"], "authorization": f"Bearer {access_token}"}
        placeholder = event["requestContext"]["authorizer"]["lambda"]
        assert set(placeholder) == set(context), (set(placeholder), set(context))
        event["requestContext"] = {**event["requestContext"], "authorizer": {"lambda": context}}
        if session_id is not None:
            event = with_session_id(event, session_id)
        return event

    def call(self, name: str, event_file: str, access_token: str, **kwargs: Any) -> dict[str, Any]:
        """Invoke the function ``name`` with ``authorized(event_file, access_token, ...)``."""
        return self.invoke(name, self.authorized(event_file, access_token, **kwargs))

    def log_in(self, email: str, password: str, **client: str) -> dict[str, Any]:
        """POST /auth/login (events/login_ok.json with these credentials, the tokens in the
        body); ``user_agent``/``ip`` as API Gateway's requestContext.http gives them. Its
        200 body."""
        event = with_json_body(
            "login_ok.json",
            {"email": email, "password": password, "refresh_token_delivery": "body"},
        )
        http = dict(event["requestContext"]["http"])
        if "user_agent" in client:
            http["userAgent"] = client["user_agent"]
            event["headers"] = {**event["headers"], "user-agent": client["user_agent"]}
        if "ip" in client:
            http["sourceIp"] = client["ip"]
        event["requestContext"] = {**event["requestContext"], "http": http}
        reply = self.invoke("login", event)
        assert reply["statusCode"] == 200, reply
        return body(reply)

    # -- accounts ----------------------------------------------------------------------

    def sign_up(self, email: str, password: str) -> dict[str, Any]:
        """POST /auth/signup (events/signup_ok.json with this body): its 202 reply."""
        reply = self.invoke(
            "signup", with_json_body("signup_ok.json", {"email": email, "password": password})
        )
        assert reply["statusCode"] == 202, reply
        return reply

    def sign_up_verified(self, email: str, password: str) -> dict[str, Any]:
        """Sign up, run the mailer and follow the verification link it mailed: the
        verification's body, {"user_id", "email", "email_verified": true}."""
        normalised = body(self.sign_up(email, password))["email"]
        self.run_mailer()
        token = self.link_token(normalised, "verify_email")
        reply = self.invoke("verify_email", with_link_token("verify_email.json", token))
        assert reply["statusCode"] == 200, reply
        return body(reply)


@contextlib.contextmanager
def stack_in_moto(names: tuple[str, ...]) -> Iterator[Stack]:
    """A Stack of the named functions, imported against the template's resources in moto
    (tests.support.aws.moto_stack) under the environment the template gives them."""
    import pytest

    from tests.support.aws import moto_stack
    from tests.support.settings import AUDIENCE

    with moto_stack() as aws, pytest.MonkeyPatch.context() as environment:
        for name, value in {"JWT_AUDIENCE": AUDIENCE, **aws.environment()}.items():
            environment.setenv(name, value)
        yield Stack(
            handlers={name: import_handler(name) for name in names},
            dynamodb=aws.dynamodb,
            tables=aws.tables,
            issuer=aws.issuer,
            aws=aws,
        )
