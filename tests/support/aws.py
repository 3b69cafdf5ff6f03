"""The stack's AWS resources in moto, created from template.yaml's own declarations
through the local API's helpers (localapi.aws), so that the tests, the bench and the
local API all build the same tables, secrets and queues.

``moto_stack()`` is the whole of it: tables, secrets, the first key set (made by the
rotation code, as the stack's first rotation makes it), the queues, the SES identity of
the tests' EMAIL_FROM and the extension stand-in in front of Secrets Manager;
``environment()`` is what the functions need to use them. Every SES v2 SendEmail made
through boto3's default session is recorded (``MotoStack.mail``), through botocore's
public event hooks, and can be made to fail.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from localapi.aws import (
    create_email_identity,
    create_queues_from_template,
    create_secrets_from_template,
    create_tables_from_template,
)
from localapi.template import Resolver, load_template
from stateless_auth.tokens.keys import KeySet
from tests.support.extension import ExtensionServer
from tests.support.paths import TEMPLATE
from tests.support.settings import APP_URL, EMAIL_FROM, REGION


@functools.cache
def _template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def project_template() -> dict[str, Any]:
    """template.yaml as the local API reads it (a copy of its own: change it freely)."""
    return copy.deepcopy(_template())


def create_tables(dynamodb: Any, *, resolver: Resolver | None = None) -> dict[str, str]:
    """The template's DynamoDB tables; ``{logical id: table name}``."""
    return create_tables_from_template(_template(), dynamodb, resolver=resolver)


def create_secrets(secretsmanager: Any, *, resolver: Resolver | None = None) -> dict[str, str]:
    """The template's secrets (the key sets as their placeholders); ``{logical id: ARN}``."""
    return create_secrets_from_template(_template(), secretsmanager, resolver=resolver)


def create_queues(sqs: Any, *, resolver: Resolver | None = None) -> dict[str, str]:
    """The template's SQS queues (the mail queue after its dead-letter queue);
    ``{logical id: queue URL}``."""
    return create_queues_from_template(_template(), sqs, resolver=resolver)


@dataclass(frozen=True)
class SentEmail:
    """One SES v2 SendEmail call that SES accepted: its parameters, as the caller gave them."""

    params: dict[str, Any]
    message_id: str

    @property
    def to(self) -> list[str]:
        return list(self.params["Destination"]["ToAddresses"])

    @property
    def sender(self) -> str:
        return str(self.params["FromEmailAddress"])

    @property
    def subject(self) -> str:
        return str(self.params["Content"]["Simple"]["Subject"]["Data"])

    @property
    def text(self) -> str:
        return str(self.params["Content"]["Simple"]["Body"]["Text"]["Data"])


@dataclass
class MailRecorder:
    """SES v2 SendEmail calls through the clients of one botocore session, seen through
    its public event hooks (``before-parameter-build``, ``before-call`` and ``after-call``
    of ``sesv2.SendEmail``), so clients made from the session afterwards are covered.

    ``failing`` (an SES error code, e.g. "TooManyRequestsException") answers every send
    with that error instead of calling SES, as a throttled or refusing SES would."""

    sent: list[SentEmail] = field(default_factory=list)
    attempts: int = 0
    failing: str | None = None

    def install(self, events: Any) -> None:
        events.register("before-parameter-build.sesv2.SendEmail", self._remember)
        events.register_first("before-call.sesv2.SendEmail", self._maybe_fail)
        events.register("after-call.sesv2.SendEmail", self._record)

    def _remember(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["recorded_send_email"] = copy.deepcopy(params)

    def _maybe_fail(self, **_: Any) -> tuple[Any, dict[str, Any]] | None:
        from botocore.awsrequest import AWSResponse, HTTPHeaders

        self.attempts += 1
        if self.failing is None:
            return None
        status = 429 if self.failing == "TooManyRequestsException" else 400
        http = AWSResponse("https://email.invalid/", status, HTTPHeaders(), io.BytesIO(b""))
        error = {"Code": self.failing, "Message": "refused by the test"}
        return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}

    def _record(
        self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        params = context.get("recorded_send_email")
        if params is not None and http_response.status_code < 300:
            self.sent.append(SentEmail(params, str(parsed.get("MessageId", ""))))

    def to(self, address: str) -> list[SentEmail]:
        """The mails sent to ``address``, oldest first."""
        return [mail for mail in self.sent if address in mail.to]


def create_first_key_set(secretsmanager: Any, secret_ids: dict[str, str]) -> KeySet:
    """The first key set over the placeholders, through the code that rotates the keys in
    AWS (the first rotation is never refused)."""
    from stateless_auth.tokens.rotation import rotate_now

    return rotate_now(
        secretsmanager,
        secret_ids["SigningKeysSecret"],
        secret_ids["PublicKeysSecret"],
        force=False,
    )


@dataclass
class MotoStack:
    """The stack's resources in moto, and the extension stand-in in front of them."""

    dynamodb: Any
    secretsmanager: Any
    ssm: Any
    tables: dict[str, str]
    secret_ids: dict[str, str]
    extension: ExtensionServer
    sqs: Any
    sesv2: Any
    queues: dict[str, str]  # {logical id: queue URL}
    mail: MailRecorder  # every SendEmail through boto3's default session

    def environment(self) -> dict[str, str]:
        """The resource variables the template gives the functions, and the extension's
        port and token. The issuer is the stack's, published in its secret; mail comes
        from the tests' EMAIL_FROM (an SES identity here) with links to APP_URL."""
        return {
            "USERS_TABLE": self.tables["UsersTable"],
            "SESSIONS_TABLE": self.tables["SessionsTable"],
            "MAIL_QUEUE_URL": self.queues["MailQueue"],
            "EMAIL_FROM": EMAIL_FROM,
            "APP_URL": APP_URL,
            "SIGNING_KEYS_SECRET_ID": self.secret_ids["SigningKeysSecret"],
            "PUBLIC_KEYS_SECRET_ID": self.secret_ids["PublicKeysSecret"],
            "JWT_ISSUER": "",
            "JWT_ISSUER_SECRET_ID": self.secret_ids["IssuerSecret"],
            **self.extension.environment(),
        }

    @property
    def issuer(self) -> str:
        """The issuer secret's value: the API's URL, JwtIssuer being empty."""
        reply = self.secretsmanager.get_secret_value(SecretId=self.secret_ids["IssuerSecret"])
        return str(reply["SecretString"])


@contextlib.contextmanager
def moto_stack(*, region: str = REGION) -> Iterator[MotoStack]:
    """Inside ``mock_aws()``: boto3's default session (which the functions' clients come
    from) set up anew and recording its SES sends, the template's tables, secrets and
    queues, the first key set, the SES identity of EMAIL_FROM, and the extension stand-in
    serving Secrets Manager and SSM."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.setup_default_session(region_name=region)
        mail = MailRecorder()
        mail.install(boto3.DEFAULT_SESSION.events)  # type: ignore[union-attr]
        dynamodb = boto3.client("dynamodb", region_name=region)
        secretsmanager = boto3.client("secretsmanager", region_name=region)
        ssm = boto3.client("ssm", region_name=region)
        sqs = boto3.client("sqs", region_name=region)
        sesv2 = boto3.client("sesv2", region_name=region)
        tables = create_tables(dynamodb)
        secret_ids = create_secrets(secretsmanager)
        queues = create_queues(sqs)
        create_email_identity(sesv2, EMAIL_FROM)
        create_first_key_set(secretsmanager, secret_ids)
        with ExtensionServer(ssm, secretsmanager) as extension:
            yield MotoStack(
                dynamodb=dynamodb,
                secretsmanager=secretsmanager,
                ssm=ssm,
                tables=tables,
                secret_ids=secret_ids,
                extension=extension,
                sqs=sqs,
                sesv2=sesv2,
                queues=queues,
                mail=mail,
            )
