"""The use cases over the in-memory stores (tests/support/fakes.py), bound as a handler
module binds them, with the test settings and a key set of their own."""

from __future__ import annotations

import time
from collections.abc import Callable

from stateless_auth.tokens.keys import KeySet
from stateless_auth.tokens.mfa_tokens import MfaTokenVerifier
from tests.support.fakes import FakeSessions, FakeUsers, Flows
from tests.support.settings import APP_URL, EMAIL_FROM, load_test_settings
from tests.support.tokens import store_for


def flows_over(
    users: FakeUsers,
    *,
    sessions: FakeSessions | None = None,
    key_set: KeySet | None = None,
    clock: Callable[[], float] = time.time,
    **settings: str,
) -> Flows:
    """Flows over ``users`` (and ``sessions``, by default new ones that clear the users'
    failed logins), signing with ``key_set`` (by default a new one); ``settings`` are
    environment variables, as ``MAX_FAILED_LOGINS="3"`` (APP_URL and EMAIL_FROM default to
    the tests' own, which the mailer's use case needs). Its mfa_tokens are verified
    against the same key set, on ``clock``."""
    keys = key_set or KeySet.generate()
    loaded = load_test_settings(**{"APP_URL": APP_URL, "EMAIL_FROM": EMAIL_FROM, **settings})
    return Flows(
        loaded,
        users=users,
        sessions=sessions if sessions is not None else FakeSessions(users),
        signing_key=lambda: keys.current,
        clock=clock,
        # As the verify function makes it: the public key set, on the flows' clock.
        mfa_verifier=MfaTokenVerifier(store_for(keys), audience=loaded.jwt_audience, clock=clock),
    )
