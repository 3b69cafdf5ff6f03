"""The implementations the contract suite runs against, each building a fresh pair of stores.

- `fakes`: the in-memory stand-ins the unit tests use (tests/support/fakes.py).
- `dynamodb`: the real repositories on moto, tables created from template.yaml. moto
  checks a condition and then writes with no lock in between; `install_moto_lock`
  serialises its requests, restoring the per-item atomicity DynamoDB itself has, so the
  threaded tests prove the repositories' conditions rather than moto's races.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass

import boto3
from moto import mock_aws

from localapi.aws import create_tables_from_template, install_moto_lock
from localapi.template import load_template
from stateless_auth.domain.ports import MailLog, SessionStore, UserStore
from stateless_auth.storage.mail_log import MailLogRepository
from stateless_auth.storage.sessions import SessionRepository
from stateless_auth.storage.users import UserRepository
from tests.conftest import ROOT
from tests.support.fakes import FakeMailLog, FakeSessions, FakeUsers


@dataclass
class Stores:
    users: UserStore
    sessions: SessionStore  # lists its sessions on the accounts of `users`
    mail_log: MailLog
    # Makes an account as one written before accounts listed their sessions (no list).
    make_legacy: Callable[[str], None]
    # Whether an item of this key is in the users table (FAILED#…, OTT#…, EMAIL#…).
    users_item_exists: Callable[[str], bool]


def fakes() -> Iterator[Stores]:
    users = FakeUsers()

    def exists(pk: str) -> bool:
        kind, _, rest = pk.partition("#")
        found: dict[str, Container[str]] = {
            "EMAIL": users.items,
            "FAILED": users.failures,
            "OTT": users.one_time_tokens,
        }
        return rest in found[kind]

    yield Stores(
        users,
        FakeSessions(users),
        mail_log=FakeMailLog(),
        make_legacy=users.make_legacy,
        users_item_exists=exists,
    )


def dynamodb() -> Iterator[Stores]:
    install_moto_lock()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        tables = create_tables_from_template(load_template(ROOT / "template.yaml"), client)
        users_table, sessions_table = tables["UsersTable"], tables["SessionsTable"]

        def make_legacy(email: str) -> None:
            client.update_item(
                TableName=users_table,
                Key={"pk": {"S": f"EMAIL#{email}"}},
                UpdateExpression="REMOVE sessions",
            )

        def exists(pk: str) -> bool:
            key = {"pk": {"S": pk}}
            return "Item" in client.get_item(TableName=users_table, Key=key, ConsistentRead=True)

        yield Stores(
            UserRepository(client, users_table),
            SessionRepository(client, sessions_table, users_table=users_table),
            mail_log=MailLogRepository(client, users_table),
            make_legacy=make_legacy,
            users_item_exists=exists,
        )


IMPLEMENTATIONS = {"fakes": fakes, "dynamodb": dynamodb}
