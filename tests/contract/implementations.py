"""The implementations the contract suite runs against, each building a fresh pair of stores.

- `fakes`: the in-memory stand-ins the unit tests use (tests/support/fakes.py).
- `dynamodb`: the real repositories on moto, tables created from template.yaml. moto
  checks a condition and then writes with no lock in between; `install_moto_lock`
  serialises its requests, restoring the per-item atomicity DynamoDB itself has, so the
  threaded tests prove the repositories' conditions rather than moto's races.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    sessions: SessionStore  # clears failed logins in `users`
    # A sessions store given no users store: it cannot clear failed logins.
    sessions_alone: Callable[[], SessionStore]
    mail_log: MailLog


def fakes() -> Iterator[Stores]:
    users = FakeUsers()
    yield Stores(users, FakeSessions(users), sessions_alone=FakeSessions, mail_log=FakeMailLog())


def dynamodb() -> Iterator[Stores]:
    install_moto_lock()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        tables = create_tables_from_template(load_template(ROOT / "template.yaml"), client)
        users_table, sessions_table = tables["UsersTable"], tables["SessionsTable"]
        yield Stores(
            UserRepository(client, users_table),
            SessionRepository(client, sessions_table, users_table=users_table),
            sessions_alone=lambda: SessionRepository(client, sessions_table),
            mail_log=MailLogRepository(client, users_table),
        )


IMPLEMENTATIONS = {"fakes": fakes, "dynamodb": dynamodb}
