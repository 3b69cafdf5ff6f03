"""A login that rehashes an old-parameter hash while a reset lands must not write the old
password back (found by the attacker review): the rehash is conditioned on the hash it
read, and the login then fails as the password is no longer the account's."""

from __future__ import annotations

from dataclasses import replace

import pytest
from argon2 import PasswordHasher, Type

from stateless_auth.domain import passwords
from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import InvalidCredentials
from stateless_auth.domain.lockout import FailedLogins
from tests.support.fakes import FakeUsers
from tests.support.flows import flows_over

OLD_PASSWORD = "an old passphrase of ours"
NEW_PASSWORD = "the victim's new passphrase"
# Weaker parameters than today's HASHER: a login with the right password rehashes.
OLD_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)


class ResetAfterRead(FakeUsers):
    """Runs `reset` once, right after login has read the account (and before it rehashes)."""

    reset: object = None

    def load_for_login(self, email: str) -> tuple[User | None, FailedLogins]:
        read = super().load_for_login(email)
        reset, self.reset = self.reset, None
        if callable(reset):
            reset()
        return read


def test_a_rehash_racing_a_reset_leaves_the_new_password_in_place() -> None:
    users = ResetAfterRead()
    flows = flows_over(users)
    account = flows.signup_verified("ann@example.com", OLD_PASSWORD)
    users.items[account.email] = replace(
        account, password_hash=OLD_HASHER.hash(passwords.normalise_password(OLD_PASSWORD))
    )
    assert passwords.needs_rehash(users.items[account.email].password_hash)
    flows.forgot_password(account.email)
    flows.deliver_queued()
    token = flows.token_for(account.email, "reset_password")
    users.reset = lambda: flows.reset_password(token, NEW_PASSWORD)

    with pytest.raises(InvalidCredentials):
        flows.login(account.email, OLD_PASSWORD, issuer="https://issuer.example")

    stored = users.items[account.email].password_hash
    assert passwords.verify_password(stored, NEW_PASSWORD)
    assert not passwords.verify_password(stored, OLD_PASSWORD)
    assert flows.login(account.email, NEW_PASSWORD, issuer="https://issuer.example").access_token
