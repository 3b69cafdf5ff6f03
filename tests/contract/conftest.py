"""The stores under contract: every test here runs once per implementation
(`implementations.py`: the fakes, and the DynamoDB repositories on moto)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stateless_auth.domain.ports import MailLog, SessionStore, UserStore
from tests.contract.implementations import IMPLEMENTATIONS, Stores
from tests.contract.opening import Opener


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    yield from IMPLEMENTATIONS[request.param]()


@pytest.fixture
def users(stores: Stores) -> UserStore:
    return stores.users


@pytest.fixture
def sessions(stores: Stores) -> SessionStore:
    return stores.sessions


@pytest.fixture
def open_session(stores: Stores) -> Opener:
    return Opener(stores.users, stores.sessions)


@pytest.fixture
def mail_log(stores: Stores) -> MailLog:
    return stores.mail_log


Race = Callable[[list[Callable[[], Any]]], list[Any]]


@pytest.fixture
def race() -> Race:
    """Run the calls in threads released together; each one's result or exception."""

    def run(calls: list[Callable[[], Any]]) -> list[Any]:
        results: list[Any] = [None] * len(calls)
        start = threading.Barrier(len(calls), timeout=10)

        def attempt(index: int) -> None:
            start.wait()
            try:
                results[index] = calls[index]()
            except Exception as exc:
                results[index] = exc

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(calls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads)
        return results

    return run
