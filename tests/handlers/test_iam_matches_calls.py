"""Every AWS call a handler makes is granted to its function in template.yaml: DynamoDB,
SQS and SES for the functions behind the routes and the mailer, Secrets Manager for the
rotation function.

moto does not enforce IAM, so a grant that is missing would only show in AWS. These tests
record each handler's calls (transaction and batch items included) across its paths and
hold them to the function's policy statements, action by action and resource by resource
(table, queue, SES identity, secret), and each item's partition key to the statement's
dynamodb:LeadingKeys where it has one.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError

from localapi.template import Resolver
from stateless_auth.tokens.rotation import EARLY_ROTATION_TAG, RotationTooSoon
from tests.support.aws import MotoStack, moto_stack, project_template
from tests.support.events import (
    body,
    cookie_token,
    load_event,
    with_bearer,
    with_refresh_cookie,
)
from tests.support.handlers import import_handler, invoke
from tests.support.mfa import Authenticator
from tests.support.rotation import rotation_aws
from tests.support.settings import AUDIENCE

pytestmark = pytest.mark.xdist_group("handlers")
# functions/<folder> -> logical id
FUNCTIONS = {
    "signup": "SignupFunction",
    "login": "LoginFunction",
    "refresh": "RefreshFunction",
    "logout": "LogoutFunction",
    "verify_email": "VerifyEmailFunction",
    "password_reset": "PasswordResetFunction",
    "mailer": "MailerFunction",
    "sessions": "SessionsFunction",
    "account": "AccountFunction",
    "mfa": "MfaFunction",
    "mfa_verify": "MfaVerifyFunction",
}
# Imported beside them to put its context on the events of the routes behind it, as API
# Gateway does; it reads keys through the extension and makes no call recorded here.
AUTHORIZER = "authorizer"
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
# What the mailer's event source mapping (MailerEventSource) does with the mailer's role:
# granted for Lambda's poller, never called by the handler itself.
EVENT_SOURCE_MAPPING_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
}
SINGLE_ITEM_OPERATIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}
SERVICES = ("dynamodb", "sqs", "sesv2")  # the clients recorded (SES v2's IAM prefix: ses)
EMAIL_FROM = "no-reply@iam.example.com"
APP_URL = "https://app.example.com"
PASSWORD = "an iam test passphrase"
NEW_PASSWORD = "a new iam test passphrase"
LINK_TOKEN = re.compile(r"/(verify-email|reset-password)#token=([A-Za-z0-9_~.-]+)")


def _resolver() -> Resolver:
    return Resolver(project_template(), parameter_values={"EmailFrom": EMAIL_FROM})


def _target(resource: Any) -> str:
    """A table or queue by its logical id (what !GetAtt X.Arn names); anything else (the
    SES identities) as the ARN it resolves to."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        target = resource["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return _resolver().resolve_string(resource)


def _statements(function: str) -> Iterator[dict[str, Any]]:
    for policy in project_template()["Resources"][function]["Properties"].get("Policies", []):
        yield from policy.get("Statement", []) if isinstance(policy, dict) else []


def granted(function: str) -> set[tuple[str, str]]:
    """(action, table or queue logical id, or SES identity ARN) pairs the function's policy
    allows, for DynamoDB, SQS and SES."""
    grants: set[tuple[str, str]] = set()
    for statement in _statements(function):
        assert statement["Effect"] == "Allow", statement
        resources = statement["Resource"]
        for action in statement["Action"]:
            if action.split(":", 1)[0] in {"dynamodb", "sqs", "ses"}:
                for resource in resources if isinstance(resources, list) else [resources]:
                    grants.add((action, _target(resource)))
    return grants


def ses_identities(address: str) -> set[str]:
    """The SES identities a send from ``address`` is authorised against: the address's,
    or its domain's (whichever the account has verified)."""
    arn = f"arn:aws:ses:{_resolver().region}:{_resolver().account_id}:identity/"
    return {arn + address, arn + address.split("@", 1)[1]}


def ses_condition_allows(function: str, from_address: str) -> bool:
    """The condition of the function's ses:SendEmail statement, for that From address."""
    (statement,) = [s for s in _statements(function) if "ses:SendEmail" in s["Action"]]
    condition = _resolver().resolve(statement.get("Condition", {}))
    assert set(condition) == {"StringEquals"}, condition
    return all(
        key == "ses:FromAddress" and from_address == value
        for key, value in condition["StringEquals"].items()
    )


@dataclass
class Recorder:
    """The calls of the handler being invoked: (action, target) per function, and the
    mails the mailer sent (for their links)."""

    aws: MotoStack
    handlers: dict[str, ModuleType]
    calls: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    from_addresses: set[str] = field(default_factory=set)
    mails: list[dict[str, Any]] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    # (dynamodb action, table logical id, partition key) per function, for the
    # dynamodb:LeadingKeys rules.
    keys: dict[str, set[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(set))

    def _record_key(self, action: str, table: str, item: dict[str, Any]) -> None:
        assert "pk" in item, (action, table, item)  # every item is named by its key
        self.keys[self.current[0]].add((action, table, item["pk"]["S"]))

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if not self.current:
            return  # the test's own calls
        service = model.service_model.service_name
        operation = model.name
        calls = self.calls[self.current[0]]
        if service == "dynamodb":
            by_table = {name: logical for logical, name in self.aws.tables.items()}
            if operation in ("TransactWriteItems", "TransactGetItems"):
                for item in params["TransactItems"]:
                    ((kind, spec),) = item.items()
                    action, table = (
                        f"dynamodb:{TRANSACT_ACTIONS[kind]}",
                        by_table[spec["TableName"]],
                    )
                    calls.add((action, table))
                    self._record_key(action, table, spec.get("Key") or spec["Item"])
            elif operation == "BatchGetItem":
                for name, request in params["RequestItems"].items():
                    calls.add((f"dynamodb:{operation}", by_table[name]))
                    for key in request["Keys"]:
                        self._record_key(f"dynamodb:{operation}", by_table[name], key)
            elif operation == "BatchWriteItem":
                raise AssertionError("no handler batches writes; record their keys first")
            else:
                # a Query or Scan would need its own reading of dynamodb:LeadingKeys
                assert operation in SINGLE_ITEM_OPERATIONS, f"unexpected dynamodb:{operation}"
                action, table = f"dynamodb:{operation}", by_table[params["TableName"]]
                calls.add((action, table))
                self._record_key(action, table, params.get("Key") or params["Item"])
        elif service == "sqs":
            by_url = {url: logical for logical, url in self.aws.queues.items()}
            calls.add((f"sqs:{operation}", by_url[params["QueueUrl"]]))
        elif service == "sesv2":
            assert operation == "SendEmail", operation
            source = params["FromEmailAddress"]
            self.from_addresses.add(source)
            calls.add(("ses:SendEmail", f"identity of {source}"))
            self.mails.append(params)
        else:
            raise AssertionError(f"unexpected {service} call {operation}")

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        self.current[:] = [name]
        try:
            return invoke(self.handlers[name], event)
        finally:
            self.current.clear()

    @contextlib.contextmanager
    def unrecorded(self) -> Iterator[None]:
        """The test's own calls in the middle of a handler's (an interleaving)."""
        saved = self.current[:]
        self.current.clear()
        try:
            yield
        finally:
            self.current[:] = saved

    def deliver_mail(self) -> None:
        """The mail jobs on MailQueue, handed to the mailer as its event source mapping
        would (a batch of up to 10), and deleted when done: every one must succeed."""
        url = self.aws.queues["MailQueue"]
        arn = self.aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        while True:
            messages = self.aws.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return
            template = load_event("mailer_sqs.json")["Records"][0]
            records = [
                {
                    **template,
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "md5OfBody": message["MD5OfBody"],
                    "attributes": {**template["attributes"], **message.get("Attributes", {})},
                    "eventSourceARN": arn,
                }
                for message in messages
            ]
            reply = self.invoke("mailer", {"Records": records})
            assert reply == {"batchItemFailures": []}, reply
            for message in messages:
                self.aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def link_token(self, kind: str, to: str) -> str:
        """The token of the newest link of that kind (verify-email, reset-password)
        mailed to ``to``."""
        for mail in reversed(self.mails):
            if mail["Destination"]["ToAddresses"] != [to]:
                continue
            text = mail["Content"]["Simple"]["Body"]["Text"]["Data"]
            for found, token in LINK_TOKEN.findall(text):
                if found == kind:
                    return str(token)
        raise AssertionError(f"no {kind} link was mailed to {to}")


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    """The handlers imported against moto resources from the template, their clients
    (made from boto3's default session at import) recording every call."""
    with moto_stack() as aws, pytest.MonkeyPatch.context() as environment:
        variables = {
            "JWT_AUDIENCE": AUDIENCE,
            **aws.environment(),
            "MAIL_QUEUE_URL": aws.queues["MailQueue"],
            "EMAIL_FROM": EMAIL_FROM,
            "APP_URL": APP_URL,
            "EMAIL_VERIFICATION": "required",
        }
        for name, value in variables.items():
            environment.setenv(name, value)
        with contextlib.suppress(ClientError):  # verified already by the stack
            aws.sesv2.create_email_identity(EmailIdentity=EMAIL_FROM)
        import boto3

        session_events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
        recorder = Recorder(aws=aws, handlers={})
        for service in SERVICES:
            session_events.register(
                f"provide-client-params.{service}", recorder.record, unique_id=f"iam-{service}"
            )
        try:
            recorder.handlers.update(
                {name: import_handler(name) for name in [*FUNCTIONS, AUTHORIZER]}
            )
            yield recorder
        finally:
            for service in SERVICES:
                session_events.unregister(
                    f"provide-client-params.{service}", unique_id=f"iam-{service}"
                )


def http_event(name: str, **fields: str) -> dict[str, Any]:
    event = load_event(name)
    event["body"] = json.dumps(fields)
    return event


def login(recorder: Recorder, email: str, password: str) -> tuple[str, str]:
    """(access token, refresh token) of a successful login."""
    reply = recorder.invoke("login", http_event("login_ok.json", email=email, password=password))
    assert reply["statusCode"] == 200, reply
    return str(body(reply)["access_token"]), cookie_token(reply)


def authorized(
    recorder: Recorder,
    name: str,
    access_token: str,
    *,
    session_id: str | None = None,
    **fields: str,
) -> dict[str, Any]:
    """events/<name> as API Gateway hands it to the route after the authorizer allowed
    the token: the decision's context in requestContext.authorizer.lambda; ``fields`` as
    its JSON body, ``session_id`` in its path."""
    decision = recorder.invoke(AUTHORIZER, with_bearer("authorizer_valid.json", access_token))
    assert decision["isAuthorized"] is True, decision
    event = with_bearer(name, access_token)
    # the file's own context (a placeholder caller) has the shape the authorizer gives
    assert set(event["requestContext"]["authorizer"]["lambda"]) == set(decision["context"])
    event["requestContext"] = {
        **event["requestContext"],
        "authorizer": {"lambda": decision["context"]},
    }
    if fields:
        event["body"] = json.dumps(fields)
    if session_id is not None:
        event["pathParameters"] = {"session_id": session_id}
        event["rawPath"] = f"/auth/sessions/{session_id}"
    return event


def session_of(recorder: Recorder, access_token: str) -> str:
    """The session id (sid) the authorizer passes on for the token."""
    decision = recorder.invoke(AUTHORIZER, with_bearer("authorizer_valid.json", access_token))
    return str(decision["context"]["sid"])


def refreshes(recorder: Recorder, refresh_token: str) -> int:
    return int(
        recorder.invoke("refresh", with_refresh_cookie("refresh_cookie.json", refresh_token))[
            "statusCode"
        ]
    )


def test_every_aws_call_of_the_handlers_is_granted(recorder: Recorder) -> None:
    """Through sign-up, verification, login, refresh (reuse, and a session outlived by a
    password reset), logout, a reset, the sessions and account routes
    (sessions_and_account), the second factor (second_factor), the lock-out and the mail
    limit: each function calls exactly
    what its role is granted (the mailer's event source mapping aside), and only the
    items its dynamodb:LeadingKeys allow, each kind of them."""
    run = recorder.invoke
    ann, bob = "iam@example.com", "iam-unverified@example.com"

    assert (
        run("signup", http_event("signup_ok.json", email=ann, password=PASSWORD))["statusCode"]
        == 202
    )
    run("signup", http_event("signup_ok.json", email=bob, password=PASSWORD))
    recorder.deliver_mail()  # two verification mails
    run("signup", http_event("signup_ok.json", email=ann, password=PASSWORD))  # taken
    recorder.deliver_mail()  # someone tried to sign up with your address
    assert (
        run("verify_email", http_event("verify_email.json", token="not-a-token"))["statusCode"]
        == 400
    )
    link = recorder.link_token("verify-email", ann)
    verified = run("verify_email", http_event("verify_email.json", token=link))
    assert verified["statusCode"] == 200, verified
    run("verify_email", http_event("verify_email_resend.json", email=ann))  # verified
    run("verify_email", http_event("verify_email_resend.json", email=bob))
    run("verify_email", http_event("verify_email_resend.json", email="nobody@example.com"))
    recorder.deliver_mail()

    assert (
        body(run("login", http_event("login_ok.json", email=bob, password=PASSWORD)))["error"]
        == "email_not_verified"
    )
    run("login", http_event("login_ok.json", email=ann, password="wrong passphrase here"))
    first = cookie_token(run("login", http_event("login_ok.json", email=ann, password=PASSWORD)))
    second = cookie_token(run("refresh", with_refresh_cookie("refresh_cookie.json", first)))
    run("refresh", with_refresh_cookie("refresh_cookie.json", first))  # reuse: revoke
    third = cookie_token(run("login", http_event("login_ok.json", email=ann, password=PASSWORD)))

    assert run("password_reset", http_event("password_forgot.json", email=ann))["statusCode"] == 202
    run("password_reset", http_event("password_forgot.json", email="nobody@example.com"))
    recorder.deliver_mail()
    token = recorder.link_token("reset-password", ann)
    weak = run("password_reset", http_event("password_reset_weak.json", token=token, password="x"))
    assert weak["statusCode"] == 400, weak
    reset = http_event("password_reset.json", token=token, password=NEW_PASSWORD)
    assert run("password_reset", reset)["statusCode"] == 204
    assert run("password_reset", reset)["statusCode"] == 400  # used up
    recorder.deliver_mail()  # your password was changed
    # a session opened under the old password stops refreshing
    outlived = run("refresh", with_refresh_cookie("refresh_cookie.json", third))
    assert outlived["statusCode"] == 401, outlived
    run("logout", with_refresh_cookie("logout_cookie.json", second))
    ann_access, _ann_refresh = login(recorder, ann, NEW_PASSWORD)  # a session of another user

    sessions_and_account(recorder, other_users_session=session_of(recorder, ann_access))
    second_factor(recorder)

    for _ in range(6):  # into the lock-out
        run("login", http_event("login_ok.json", email=ann, password="wrong passphrase here"))
    assert (
        body(run("login", http_event("login_ok.json", email=ann, password="x" * 20)))["error"]
        == "too_many_attempts"
    )
    for _ in range(6):  # past MAX_EMAILS_PER_HOUR: suppressed, still 202
        run("password_reset", http_event("password_forgot.json", email=ann))
    recorder.deliver_mail()

    assert set(recorder.calls) == set(FUNCTIONS)
    assert recorder.from_addresses == {EMAIL_FROM}
    for name, function in FUNCTIONS.items():
        grants = granted(function)
        calls = recorder.calls[name]
        sends = {call for call in calls if call[0] == "ses:SendEmail"}
        # a send is granted on the identity of its From address, under the condition
        identities: set[str] = set()
        for _action, sent_as in sends:
            source = sent_as.removeprefix("identity of ")
            identities |= ses_identities(source)
            assert {("ses:SendEmail", arn) for arn in ses_identities(source)} & grants, (
                f"{function} sends from {source} without a grant"
            )
            assert ses_condition_allows(function, source), (function, source)
        missing = calls - sends - grants
        assert not missing, f"{function} calls AWS without a grant: {sorted(missing)}"
        used = (calls - sends) | {("ses:SendEmail", arn) for arn in identities}
        if function == "MailerFunction":
            used |= {(action, "MailQueue") for action in EVENT_SOURCE_MAPPING_ACTIONS}
        unused = grants - used
        assert not unused, f"{function} is granted more than it uses: {sorted(unused)}"
    # only the mailer sends mail; only the mailer's poller (not its code) reads the queue
    assert all(
        not {call for call in calls if call[0].startswith("ses:")}
        for name, calls in recorder.calls.items()
        if name != "mailer"
    )
    assert not {call for call in recorder.calls["mailer"] if call[0].startswith("sqs:")}
    # where a statement limits the items (dynamodb:LeadingKeys), every call stays within,
    # and every kind of item it allows is one the function touches
    for name, function in FUNCTIONS.items():
        keys = recorder.keys[name]
        for action, table, key in keys:
            assert any(
                action in statement["Action"]
                and table in statement_tables(statement)
                and leading_keys_allow(statement, key)
                for statement in _statements(function)
            ), f"{function} calls {action} on {key.split('#', 1)[0]}# items of {table}, not granted"
        for statement in _statements(function):
            for pattern in leading_keys(statement) or []:
                unused = {
                    (action, table)
                    for action in statement["Action"]
                    for table in statement_tables(statement)
                    if not any(
                        (a, t) == (action, table) and fnmatch.fnmatchcase(key, pattern)
                        for a, t, key in keys
                    )
                }
                assert not unused, f"{function} is granted {pattern} items it never uses: {unused}"


def statement_tables(statement: dict[str, Any]) -> set[str]:
    resources = statement["Resource"]
    return {_target(r) for r in (resources if isinstance(resources, list) else [resources])}


def leading_keys(statement: dict[str, Any]) -> list[str] | None:
    """The statement's dynamodb:LeadingKeys patterns, None where it has none."""
    condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
    patterns = condition.get("dynamodb:LeadingKeys")
    return None if patterns is None else list(patterns)


def leading_keys_allow(statement: dict[str, Any], key: str) -> bool:
    """Whether the statement's dynamodb:LeadingKeys condition (if any) allows `key`."""
    patterns = leading_keys(statement)
    return patterns is None or any(fnmatch.fnmatchcase(key, p) for p in patterns)


def sessions_and_account(recorder: Recorder, *, other_users_session: str) -> None:
    """The routes behind the authorizer, for a verified account of its own: the sessions
    list, ending one (its own, and another user's: 404), logout and logout-all, a password
    change (weak, wrong and right current password, with a reset link pending) and the
    account's deletion, after which its sessions no longer refresh or log out."""
    run = recorder.invoke
    cat = "iam-sessions@example.com"
    run("signup", http_event("signup_ok.json", email=cat, password=PASSWORD))
    recorder.deliver_mail()
    link = recorder.link_token("verify-email", cat)
    assert run("verify_email", http_event("verify_email.json", token=link))["statusCode"] == 200

    a_access, a_refresh = login(recorder, cat, PASSWORD)  # each login lists its session
    b_access, b_refresh = login(recorder, cat, PASSWORD)
    c_access, c_refresh = login(recorder, cat, PASSWORD)
    a_refresh = cookie_token(run("refresh", with_refresh_cookie("refresh_cookie.json", a_refresh)))
    listed = run("sessions", authorized(recorder, "sessions_list.json", a_access))
    assert listed["statusCode"] == 200, listed
    sessions = body(listed)["sessions"]
    assert len(sessions) == 3
    assert [s["session_id"] for s in sessions if s["current"]] == [session_of(recorder, a_access)]

    ended = run(
        "sessions",
        authorized(
            recorder, "sessions_delete.json", a_access, session_id=session_of(recorder, c_access)
        ),
    )
    assert ended["statusCode"] == 204, ended
    assert refreshes(recorder, c_refresh) == 401
    for unknown in (other_users_session, "not-a-session-id", session_of(recorder, c_access)):
        refused = run(
            "sessions", authorized(recorder, "sessions_delete.json", a_access, session_id=unknown)
        )
        assert body(refused)["error"] == "not_found", (unknown, refused)

    _, d_refresh = login(recorder, cat, PASSWORD)
    assert run("logout", with_refresh_cookie("logout_cookie.json", d_refresh))["statusCode"] == 204
    out = run("sessions", authorized(recorder, "logout_all.json", b_access))
    assert out["statusCode"] == 204, out
    assert refreshes(recorder, a_refresh) == 401
    assert refreshes(recorder, b_refresh) == 401

    e_access, e_refresh = login(recorder, cat, PASSWORD)
    _, f_refresh = login(recorder, cat, PASSWORD)
    run("password_reset", http_event("password_forgot.json", email=cat))
    recorder.deliver_mail()  # a reset link pending: the change ends it
    weak = run(
        "account",
        authorized(
            recorder,
            "password_change_weak.json",
            e_access,
            current_password=PASSWORD,
            new_password="x",
        ),
    )
    assert body(weak)["error"] == "weak_password", weak
    wrong = run(
        "account",
        authorized(
            recorder,
            "password_change.json",
            e_access,
            current_password="wrong passphrase here",
            new_password=NEW_PASSWORD,
        ),
    )
    assert body(wrong)["error"] == "invalid_credentials", wrong
    changed = run(
        "account",
        authorized(
            recorder,
            "password_change.json",
            e_access,
            current_password=PASSWORD,
            new_password=NEW_PASSWORD,
        ),
    )
    assert changed["statusCode"] == 204, changed
    recorder.deliver_mail()  # your password was changed
    assert refreshes(recorder, f_refresh) == 401  # every other session ended
    e_refresh = cookie_token(run("refresh", with_refresh_cookie("refresh_cookie.json", e_refresh)))

    run("password_reset", http_event("password_forgot.json", email=cat))
    recorder.deliver_mail()
    wrong = run("account", authorized(recorder, "account_delete.json", e_access, password=PASSWORD))
    assert body(wrong)["error"] == "invalid_credentials", wrong
    deleted = run(
        "account", authorized(recorder, "account_delete.json", e_access, password=NEW_PASSWORD)
    )
    assert deleted["statusCode"] == 204, deleted
    recorder.deliver_mail()  # your account was deleted
    gone = run("sessions", authorized(recorder, "sessions_list.json", e_access))
    assert body(gone) == {"sessions": []}, gone
    assert refreshes(recorder, e_refresh) == 401
    run("logout", with_refresh_cookie("logout_cookie.json", e_refresh))
    again = run("signup", http_event("signup_ok.json", email=cat, password=PASSWORD))
    assert again["statusCode"] == 202, again
    recorder.deliver_mail()


def mfa_login(recorder: Recorder, email: str, **factor: str) -> dict[str, Any]:
    """POST /auth/login for an account with MFA on, then POST /auth/mfa/verify with
    ``factor`` (code= or recovery_code=): the verify's reply."""
    started = body(
        recorder.invoke("login", http_event("login_ok.json", email=email, password=PASSWORD))
    )
    assert started["mfa_required"] is True, started
    return dict(
        recorder.invoke(
            "mfa_verify", http_event("mfa_verify.json", mfa_token=started["mfa_token"], **factor)
        )
    )


def enable_mfa(recorder: Recorder, email: str) -> tuple[Authenticator, list[str]]:
    """A verified account of its own with MFA on: (its authenticator app, its recovery
    codes)."""
    run = recorder.invoke
    run("signup", http_event("signup_ok.json", email=email, password=PASSWORD))
    recorder.deliver_mail()
    link = recorder.link_token("verify-email", email)
    assert run("verify_email", http_event("verify_email.json", token=link))["statusCode"] == 200
    access, _ = login(recorder, email, PASSWORD)
    enrolled = run("mfa", authorized(recorder, "mfa_enroll.json", access, password=PASSWORD))
    assert enrolled["statusCode"] == 200, enrolled
    app = Authenticator(str(body(enrolled)["secret"]))
    confirmed = run("mfa", authorized(recorder, "mfa_confirm.json", access, code=app.code()))
    assert confirmed["statusCode"] == 200, confirmed
    recorder.deliver_mail()  # MFA turned on
    return app, list(body(confirmed)["recovery_codes"])


def second_factor(recorder: Recorder) -> None:
    """The MFA routes for accounts of their own: enrolment (a wrong password, a new
    enrolment replacing a pending one while it is confirmed), confirmation (a wrong code),
    logins finished with a TOTP code (a wrong one, and its replay) and with recovery codes
    (a notice each), new recovery codes and turning MFA off (a wrong code, then each with
    a recovery code and with a TOTP code); then a password-only login."""
    run = recorder.invoke
    dan, eve = "iam-mfa@example.com", "iam-mfa-2@example.com"

    # dan: enrolment's refusals and the replaced enrolment, then MFA on
    run("signup", http_event("signup_ok.json", email=dan, password=PASSWORD))
    recorder.deliver_mail()
    link = recorder.link_token("verify-email", dan)
    assert run("verify_email", http_event("verify_email.json", token=link))["statusCode"] == 200
    access, _ = login(recorder, dan, PASSWORD)
    wrong = run("mfa", authorized(recorder, "mfa_enroll.json", access, password=NEW_PASSWORD))
    assert body(wrong)["error"] == "invalid_credentials", wrong
    first = body(run("mfa", authorized(recorder, "mfa_enroll.json", access, password=PASSWORD)))
    wrong_code = Authenticator(first["secret"]).wrong_code()
    bad_code = run("mfa", authorized(recorder, "mfa_confirm.json", access, code=wrong_code))
    assert body(bad_code)["error"] == "invalid_code", bad_code
    # a second enrolment lands between the confirmation's read and its write
    users = recorder.handlers["mfa"].users
    real_enable = users.enable_totp

    def enable_after_another_enrolment(user: Any, **kwargs: Any) -> None:
        with recorder.unrecorded():
            recorder.aws.dynamodb.update_item(
                TableName=recorder.aws.tables["UsersTable"],
                Key={"pk": {"S": f"EMAIL#{dan}"}},
                UpdateExpression="SET pending_totp_secret = :other",
                ExpressionAttributeValues={":other": {"S": pyotp.random_base32(32)}},
            )
        real_enable(user, **kwargs)

    users.enable_totp = enable_after_another_enrolment
    try:
        raced = run(
            "mfa",
            authorized(
                recorder, "mfa_confirm.json", access, code=Authenticator(first["secret"]).code()
            ),
        )
    finally:
        del users.enable_totp
    assert body(raced)["error"] == "mfa_not_enrolling", raced
    app = Authenticator(
        str(
            body(run("mfa", authorized(recorder, "mfa_enroll.json", access, password=PASSWORD)))[
                "secret"
            ]
        )
    )
    confirmed = run("mfa", authorized(recorder, "mfa_confirm.json", access, code=app.code()))
    assert confirmed["statusCode"] == 200, confirmed
    codes = list(body(confirmed)["recovery_codes"])
    recorder.deliver_mail()  # MFA turned on

    # dan's logins: a wrong code, a right one, its replay, a recovery code
    wrong_code = app.wrong_code()
    assert body(mfa_login(recorder, dan, code=wrong_code))["error"] == "invalid_credentials"
    code = app.code()
    verified = mfa_login(recorder, dan, code=code)
    assert verified["statusCode"] == 200, verified
    assert body(mfa_login(recorder, dan, code=code))["error"] == "invalid_credentials"
    recovered = mfa_login(recorder, dan, recovery_code=codes[0])
    assert recovered["statusCode"] == 200, recovered
    recorder.deliver_mail()  # a recovery code was used
    dan_access = str(body(recovered)["access_token"])
    renewed = run(
        "mfa",
        authorized(
            recorder,
            "mfa_recovery_codes.json",
            dan_access,
            password=PASSWORD,
            recovery_code=codes[1],
        ),
    )
    assert renewed["statusCode"] == 200, renewed
    recorder.deliver_mail()  # new recovery codes
    renewed_codes = list(body(renewed)["recovery_codes"])
    off = run(
        "mfa",
        authorized(
            recorder,
            "mfa_disable.json",
            dan_access,
            password=PASSWORD,
            recovery_code=renewed_codes[0],
        ),
    )
    assert off["statusCode"] == 204, off
    recorder.deliver_mail()  # MFA turned off
    login(recorder, dan, PASSWORD)  # the password alone again

    # eve: new codes and turning MFA off with TOTP codes
    app, codes = enable_mfa(recorder, eve)
    eve_access = str(body(mfa_login(recorder, eve, recovery_code=codes[0]))["access_token"])
    recorder.deliver_mail()
    renewed = run(
        "mfa",
        authorized(
            recorder,
            "mfa_recovery_codes.json",
            eve_access,
            password=PASSWORD,
            code=app.code(),
        ),
    )
    assert renewed["statusCode"] == 200, renewed
    renewed_codes = list(body(renewed)["recovery_codes"])
    eve_access = str(body(mfa_login(recorder, eve, recovery_code=renewed_codes[0]))["access_token"])
    recorder.deliver_mail()
    wrong = run(
        "mfa",
        authorized(
            recorder, "mfa_disable.json", eve_access, password=PASSWORD, code=app.wrong_code()
        ),
    )
    assert body(wrong)["error"] == "invalid_credentials", wrong
    off = run(
        "mfa",
        authorized(recorder, "mfa_disable.json", eve_access, password=PASSWORD, code=app.code()),
    )
    assert off["statusCode"] == 204, off
    recorder.deliver_mail()


def test_the_mailer_may_not_put_an_account_item() -> None:
    """The mailer writes tokens' slots on accounts (UpdateItem), never whole account items:
    a PutItem on EMAIL# would let it overwrite a password hash."""
    puts = [s for s in _statements("MailerFunction") if "dynamodb:PutItem" in s["Action"]]
    assert puts
    assert not any(leading_keys_allow(s, "EMAIL#ann@example.com") for s in puts)
    assert all(leading_keys_allow(s, "OTT#ab") or leading_keys_allow(s, "MAILS#a") for s in puts)


# ------------------------------------------------------------- the rotation function

# Its own stack name and Region (Secrets Manager is regional in moto as in AWS), beside the
# handlers' stack, which this module's other test keeps in us-east-1.
ROTATION_STACK = "iam-rotation"
ROTATION_REGION = "eu-west-1"


def granted_secrets_manager(function: str, resolver: Resolver) -> set[tuple[str, str]]:
    """(secretsmanager action, ARN or ARN pattern) pairs the function's policy allows."""
    template = project_template()
    grants: set[tuple[str, str]] = set()
    for policy in template["Resources"][function]["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            assert statement["Effect"] == "Allow", statement
            resource = resolver.resolve_string(statement["Resource"])
            for action in statement["Action"]:
                if action.startswith("secretsmanager:"):
                    grants.add((action.split(":", 1)[1], resource))
    return grants


def test_every_secrets_manager_call_of_the_rotation_function_is_granted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Across a first rotation, a scheduled one, a refused one and an early one (tag),
    the rotation function calls exactly what KeyRotationFunction's role is granted: the
    TagResource of finishSecret's rotated-at record included."""
    with rotation_aws(monkeypatch, stack_name=ROTATION_STACK, region=ROTATION_REGION) as aws:
        resolver = Resolver(
            project_template(),
            stack_name=ROTATION_STACK,
            region=ROTATION_REGION,
            physical={logical: {"Ref": arn, "Arn": arn} for logical, arn in aws.secret_ids.items()},
        )
        arns = set(aws.secret_ids.values())
        calls: set[tuple[str, str]] = set()
        inside: list[bool] = []

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            if not inside:
                return  # the test's own calls (as Secrets Manager, or the operator)
            secret = str(params.get("SecretId", ""))
            # by ARN, or by name (the ARN's last part less the dash and six characters)
            (arn,) = [a for a in arns if secret in (a, a.split(":secret:")[1][:-7])]
            calls.add((model.name, arn))

        aws.secrets.meta.events.register(
            "provide-client-params.secretsmanager", record, unique_id="iam-rotation"
        )
        handler = aws.rotation_module.lambda_handler

        def recorded_handler(event: dict[str, Any], context: Any, **kwargs: Any) -> Any:
            inside.append(True)
            try:
                return handler(event, context, **kwargs)
            finally:
                inside.pop()

        monkeypatch.setattr(aws.rotation_module, "lambda_handler", recorded_handler)

        aws.rotate(after=0)  # the first keys (the placeholder)
        aws.rotate()  # a scheduled rotation
        with pytest.raises(RotationTooSoon):
            aws.rotate(after=60)  # refused
        aws.secrets.tag_resource(
            SecretId=aws.secret_id,
            Tags=[{"Key": EARLY_ROTATION_TAG, "Value": str(int(aws.wall_clock.now) + 600)}],
        )
        aws.rotate(after=60)  # allowed early

        grants = granted_secrets_manager("KeyRotationFunction", resolver)
        assert calls, "nothing recorded"
        missing = {
            (action, arn)
            for action, arn in calls
            if not any(a == action and fnmatch.fnmatchcase(arn, r) for a, r in grants)
        }
        assert not missing, f"the rotation function calls without a grant: {sorted(missing)}"
        unused = {
            (action, pattern)
            for action, pattern in grants
            if not any(a == action and fnmatch.fnmatchcase(arn, pattern) for a, arn in calls)
        }
        assert not unused, f"the rotation function is granted more than it uses: {unused}"
        assert ("TagResource", aws.secret_id) in calls
