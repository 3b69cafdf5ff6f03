"""The second factor's store contract: the pending enrolment, turning TOTP on, renewing
recovery codes, turning it off, opening a session that accepts a factor, taking a
reserved login attempt back, and the account's own count of wrong codes (UserStore and
SessionStore, domain/ports.py).

Run against the fakes and the DynamoDB repositories alike (see conftest). Every accepted
factor is a conditional write (storage/users.py `factor_clauses`): a TOTP code's step
must be later than the last accepted one and the secret unchanged; a recovery code's
hash must still be there. A refused write writes nothing.

Wrong second-factor codes are counted on the account item itself (`code_failures`,
`reserve_code_attempt`), apart from the email's failed passwords (FAILED#): every write
that accepts a right code clears that count, and nothing else does (neither a password
reset nor a change, which clear FAILED#).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import pytest

from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import MfaTokenUsed
from stateless_auth.domain.factors import FactorUse, RecoveryCodeUse, SpentMfaToken, TotpUse
from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.one_time_tokens import OneTimeToken, Purpose
from stateless_auth.domain.ports import SessionStore, UserStore
from stateless_auth.domain.sessions import (
    AccountChanged,
    SessionInfo,
    TokenRecord,
    TokenState,
)
from tests.contract.implementations import Stores

Race = Callable[[list[Callable[[], Any]]], list[Any]]

NOW = 1_700_000_000
TTL = 3600
ANN = "ann@example.com"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
OTHER_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
STEP = NOW // 30
CODES = {"aaaa": "$argon2id$hash-a", "bbbb": "$argon2id$hash-b", "cccc": "$argon2id$hash-c"}
NEW_CODES = {"dddd": "$argon2id$hash-d", "eeee": "$argon2id$hash-e"}


@pytest.fixture(autouse=True)
def account(users: UserStore) -> User:
    users.create(User(user_id="u1", email=ANN, password_hash="$argon2id$x", created_at=1))
    return read(users)


def read(users: UserStore, email: str = ANN) -> User:
    found = users.get_by_email(email)
    assert found is not None
    return found


def enabled(users: UserStore, *, step: int = STEP, codes: dict[str, str] | None = None) -> User:
    """The account with TOTP on (SECRET, last step `step`) and `codes`, as read now."""
    users.start_totp_enrollment(read(users), secret=SECRET, expires_at=NOW + 600)
    users.enable_totp(read(users), secret=SECRET, step=step, recovery_codes=codes or CODES, now=NOW)
    return read(users)


def factor_state(user: User) -> tuple[Any, ...]:
    return (
        user.totp_secret,
        user.totp_last_step,
        user.recovery_codes,
        user.pending_totp_secret,
        user.pending_totp_expires_at,
    )


def token(token_hash: str = "h1", session_id: str = "s1", **claims: Any) -> TokenRecord:
    return TokenRecord(
        token_hash=token_hash,
        session_id=session_id,
        user_id="u1",
        email=ANN,
        roles=("user",),
        state=TokenState.CURRENT,
        session_expires_at=NOW + TTL,
        **claims,
    )


def info(session_id: str, *, now: int = NOW, expires_at: int = NOW + TTL) -> SessionInfo:
    return SessionInfo(session_id, now, now, expires_at, "agent", "192.0.2.1")


def open_with(
    sessions: SessionStore,
    account: User,
    record: TokenRecord,
    factor: FactorUse | None,
    *,
    now: int = NOW,
    clear_failures_of: str | None = None,
    spends: SpentMfaToken | None = None,
) -> None:
    sessions.create(
        record,
        now=now,
        account=account,
        session=info(record.session_id, now=now),
        clear_failures_of=clear_failures_of,
        factor=factor,
        spends=spends,
    )


def count_failures(users: UserStore, times: int = 2) -> None:
    for now in range(1, times + 1):
        users.reserve_login_attempt(
            ANN,
            users.load_for_login(ANN)[1],
            now=now,
            max_failures=5,
            lockout_seconds=60,
            keep_for=300,
        )


def failures(users: UserStore) -> FailedLogins:
    return users.load_for_login(ANN)[1]


CODE_MAX = 3
CODE_LOCKOUT = 60


def reserve_code(
    users: UserStore,
    now: int,
    *,
    account: User | None = None,
    seen: FailedLogins | None = None,
) -> tuple[bool, FailedLogins]:
    """One code attempt reserved on `account` (the account as read now), from `seen`
    (the count as that read found it)."""
    account = account if account is not None else read(users)
    return users.reserve_code_attempt(
        account,
        account.code_failures if seen is None else seen,
        now=now,
        max_failures=CODE_MAX,
        lockout_seconds=CODE_LOCKOUT,
    )


def count_wrong_codes(users: UserStore, times: int = 2) -> None:
    for now in range(1, times + 1):
        assert reserve_code(users, now)[0]


def wrong_codes(users: UserStore) -> FailedLogins:
    return read(users).code_failures


def lock_codes(users: UserStore) -> None:
    """CODE_MAX wrong codes at times 1, 2, 3: locked until 3 + CODE_LOCKOUT."""
    for now in (1, 2, 3):
        assert reserve_code(users, now)[0]


def listed(users: UserStore) -> set[str]:
    return {s.session_id for s in read(users).sessions}


# --- a new account, and the pending enrolment --------------------------------------------


def test_a_new_account_has_no_second_factor(account: User) -> None:
    assert not account.mfa_enabled
    assert factor_state(account) == ("", 0, (), "", 0)


def test_a_new_accounts_put_writes_no_second_factor(users: UserStore) -> None:
    # Whatever the User handed to create says: the put has no such attributes.
    users.create(
        User(
            user_id="u2",
            email="bob@example.com",
            password_hash="$argon2id$y",
            created_at=1,
            totp_secret=SECRET,
            totp_last_step=5,
            recovery_codes=(("aaaa", "$argon2id$h"),),
        )
    )
    assert factor_state(read(users, "bob@example.com")) == ("", 0, (), "", 0)


def test_an_enrolment_keeps_its_secret_pending(users: UserStore, account: User) -> None:
    users.start_totp_enrollment(account, secret=SECRET, expires_at=NOW + 600)
    stored = read(users)
    assert (stored.pending_totp_secret, stored.pending_totp_expires_at) == (SECRET, NOW + 600)
    assert not stored.mfa_enabled
    assert (stored.password_hash, stored.sessions) == (account.password_hash, account.sessions)


def test_a_second_enrolment_replaces_the_pending_one(users: UserStore, account: User) -> None:
    users.start_totp_enrollment(account, secret=SECRET, expires_at=NOW + 600)
    users.start_totp_enrollment(account, secret=OTHER_SECRET, expires_at=NOW + 700)
    stored = read(users)
    assert (stored.pending_totp_secret, stored.pending_totp_expires_at) == (
        OTHER_SECRET,
        NOW + 700,
    )


def test_an_enrolment_is_refused_once_the_password_changed(users: UserStore, account: User) -> None:
    assert users.update_password_hash(ANN, "$argon2id$new", replaces=account.password_hash)
    with pytest.raises(AccountChanged):
        users.start_totp_enrollment(account, secret=SECRET, expires_at=NOW + 600)
    assert read(users).pending_totp_secret == ""


def test_an_enrolment_is_refused_for_another_account(users: UserStore, account: User) -> None:
    stranger = User(user_id="u2", email=ANN, password_hash=account.password_hash, created_at=1)
    with pytest.raises(AccountChanged):
        users.start_totp_enrollment(stranger, secret=SECRET, expires_at=NOW + 600)
    gone = User(user_id="u3", email="nobody@example.com", password_hash="h", created_at=1)
    with pytest.raises(AccountChanged):
        users.start_totp_enrollment(gone, secret=SECRET, expires_at=NOW + 600)
    assert users.get_by_email("nobody@example.com") is None  # never creates an item
    assert read(users).pending_totp_secret == ""


def test_an_enrolment_is_refused_while_a_factor_is_on(users: UserStore) -> None:
    on = enabled(users)
    with pytest.raises(AccountChanged):
        users.start_totp_enrollment(on, secret=OTHER_SECRET, expires_at=NOW + 600)
    assert factor_state(read(users)) == factor_state(on)


# --- turning TOTP on ---------------------------------------------------------------------


def test_enabling_makes_the_pending_secret_the_accounts(users: UserStore, account: User) -> None:
    users.start_totp_enrollment(account, secret=SECRET, expires_at=NOW + 600)
    users.enable_totp(read(users), secret=SECRET, step=STEP, recovery_codes=CODES, now=NOW)
    stored = read(users)
    assert stored.mfa_enabled
    assert factor_state(stored) == (SECRET, STEP, tuple(sorted(CODES.items())), "", 0)
    assert stored.recovery_code_hash("bbbb") == CODES["bbbb"]
    assert stored.recovery_code_hash("zzzz") is None


def test_enabling_without_an_enrolment_is_refused(users: UserStore, account: User) -> None:
    with pytest.raises(AccountChanged):
        users.enable_totp(account, secret=SECRET, step=STEP, recovery_codes=CODES, now=NOW)
    assert factor_state(read(users)) == ("", 0, (), "", 0)


def test_enabling_a_secret_that_is_no_longer_pending_is_refused(
    users: UserStore, account: User
) -> None:
    # The confirm read SECRET pending; a second enrolment replaced it since.
    users.start_totp_enrollment(account, secret=SECRET, expires_at=NOW + 600)
    users.start_totp_enrollment(account, secret=OTHER_SECRET, expires_at=NOW + 600)
    with pytest.raises(AccountChanged):
        users.enable_totp(account, secret=SECRET, step=STEP, recovery_codes=CODES, now=NOW)
    assert factor_state(read(users)) == ("", 0, (), OTHER_SECRET, NOW + 600)


@pytest.mark.parametrize("late", [0, 1, 1000])
def test_enabling_an_expired_enrolment_is_refused(
    users: UserStore, account: User, late: int
) -> None:
    users.start_totp_enrollment(account, secret=SECRET, expires_at=NOW + 600)
    with pytest.raises(AccountChanged):
        users.enable_totp(
            account, secret=SECRET, step=STEP, recovery_codes=CODES, now=NOW + 600 + late
        )
    assert not read(users).mfa_enabled
    users.enable_totp(account, secret=SECRET, step=STEP, recovery_codes=CODES, now=NOW + 599)
    assert read(users).mfa_enabled


def test_enabling_twice_is_refused(users: UserStore) -> None:
    on = enabled(users)
    with pytest.raises(AccountChanged):
        users.enable_totp(on, secret=SECRET, step=STEP + 9, recovery_codes=NEW_CODES, now=NOW)
    assert factor_state(read(users)) == factor_state(on)


def test_enabling_for_another_account_is_refused(users: UserStore, account: User) -> None:
    users.start_totp_enrollment(account, secret=SECRET, expires_at=NOW + 600)
    stranger = User(user_id="u2", email=ANN, password_hash=account.password_hash, created_at=1)
    with pytest.raises(AccountChanged):
        users.enable_totp(stranger, secret=SECRET, step=STEP, recovery_codes=CODES, now=NOW)
    assert not read(users).mfa_enabled


def test_of_concurrent_enables_of_one_enrolment_one_wins(
    users: UserStore, account: User, race: Race
) -> None:
    users.start_totp_enrollment(account, secret=SECRET, expires_at=NOW + 600)
    sets = [{f"{i}aaa": f"$argon2id$h{i}"} for i in range(6)]
    results = race(
        [
            partial(users.enable_totp, account, secret=SECRET, step=STEP, recovery_codes=s, now=NOW)
            for s in sets
        ]
    )
    winners = [s for s, result in zip(sets, results, strict=True) if result is None]
    assert len(winners) == 1
    assert all(isinstance(r, AccountChanged) for r in results if r is not None)
    assert read(users).recovery_codes == tuple(winners[0].items())


# --- renewing recovery codes -------------------------------------------------------------


def test_renewing_with_a_code_replaces_every_code_and_records_the_step(users: UserStore) -> None:
    on = enabled(users)
    users.renew_recovery_codes(on, factor=TotpUse(SECRET, STEP + 1), recovery_codes=NEW_CODES)
    stored = read(users)
    assert stored.recovery_codes == tuple(sorted(NEW_CODES.items()))
    assert stored.totp_last_step == STEP + 1
    assert stored.totp_secret == SECRET


def test_renewing_with_a_recovery_code_replaces_every_code(users: UserStore) -> None:
    on = enabled(users)
    users.renew_recovery_codes(
        on, factor=RecoveryCodeUse("bbbb", CODES["bbbb"]), recovery_codes=NEW_CODES
    )
    stored = read(users)
    assert stored.recovery_codes == tuple(sorted(NEW_CODES.items()))
    assert stored.totp_last_step == STEP  # no TOTP code was used


@pytest.mark.parametrize(
    "factor",
    [
        TotpUse(SECRET, STEP),  # the last accepted step itself: a replay
        TotpUse(SECRET, STEP - 1),
        TotpUse(OTHER_SECRET, STEP + 1),  # a secret that is not (or no longer) the account's
        RecoveryCodeUse("zzzz", "$argon2id$hash-z"),  # no such code
        RecoveryCodeUse("aaaa", "$argon2id$hash-b"),  # its id with another hash
    ],
    ids=["same-step", "earlier-step", "other-secret", "unknown-code", "other-hash"],
)
def test_renewing_with_a_factor_that_cannot_be_accepted_writes_nothing(
    users: UserStore, factor: FactorUse
) -> None:
    enabled(users)
    count_wrong_codes(users)
    on = read(users)
    with pytest.raises(AccountChanged):
        users.renew_recovery_codes(on, factor=factor, recovery_codes=NEW_CODES)
    assert factor_state(read(users)) == factor_state(on)
    assert wrong_codes(users) == FailedLogins(2, 2)  # a refused code clears nothing


def test_renewing_with_a_changed_password_writes_nothing(users: UserStore) -> None:
    on = enabled(users)
    assert users.update_password_hash(ANN, "$argon2id$new", replaces=on.password_hash)
    with pytest.raises(AccountChanged):
        users.renew_recovery_codes(on, factor=TotpUse(SECRET, STEP + 1), recovery_codes=NEW_CODES)
    assert factor_state(read(users)) == factor_state(on)


def test_renewing_without_a_factor_on_writes_nothing(users: UserStore, account: User) -> None:
    with pytest.raises(AccountChanged):
        users.renew_recovery_codes(account, factor=TotpUse(SECRET, STEP), recovery_codes=NEW_CODES)
    with pytest.raises(AccountChanged):
        users.renew_recovery_codes(
            account, factor=RecoveryCodeUse("aaaa", CODES["aaaa"]), recovery_codes=NEW_CODES
        )
    assert factor_state(read(users)) == ("", 0, (), "", 0)


def test_a_used_recovery_code_cannot_renew(users: UserStore, sessions: SessionStore) -> None:
    on = enabled(users)
    open_with(sessions, on, token(), RecoveryCodeUse("aaaa", CODES["aaaa"]))
    with pytest.raises(AccountChanged):
        users.renew_recovery_codes(
            read(users), factor=RecoveryCodeUse("aaaa", CODES["aaaa"]), recovery_codes=NEW_CODES
        )
    assert read(users).recovery_code_hash("dddd") is None


def test_of_concurrent_renewals_with_one_code_one_wins(users: UserStore, race: Race) -> None:
    on = enabled(users)
    sets = [{f"{i}xxx": f"$argon2id$h{i}"} for i in range(6)]
    results = race(
        [
            partial(
                users.renew_recovery_codes, on, factor=TotpUse(SECRET, STEP + 1), recovery_codes=s
            )
            for s in sets
        ]
    )
    winners = [s for s, result in zip(sets, results, strict=True) if result is None]
    assert len(winners) == 1
    assert all(isinstance(r, AccountChanged) for r in results if r is not None)
    assert read(users).recovery_codes == tuple(winners[0].items())


def test_of_concurrent_renewals_with_one_recovery_code_one_wins(
    users: UserStore, race: Race
) -> None:
    on = enabled(users)
    sets = [{f"{i}yyy": f"$argon2id$h{i}"} for i in range(6)]
    used = RecoveryCodeUse("cccc", CODES["cccc"])
    results = race(
        [partial(users.renew_recovery_codes, on, factor=used, recovery_codes=s) for s in sets]
    )
    assert sum(result is None for result in results) == 1


# --- turning the factor off --------------------------------------------------------------


def test_disabling_removes_the_factor_and_every_session_but_the_kept_one(
    users: UserStore, sessions: SessionStore
) -> None:
    # The session MFA was turned on from (opened with the password alone, before), and
    # two opened with a code since.
    open_with(sessions, read(users), token("h1", "s1"), None)
    enabled(users)
    for n in (2, 3):
        open_with(sessions, read(users), token(f"h{n}", f"s{n}"), TotpUse(SECRET, STEP + n))
    count_wrong_codes(users)
    on = read(users)
    assert listed(users) == {"s1", "s2", "s3"}
    kept = next(s for s in on.sessions if s.session_id == "s2")
    users.disable_mfa(on, factor=TotpUse(SECRET, STEP + 4), keep_session=kept)
    stored = read(users)
    assert not stored.mfa_enabled
    assert factor_state(stored) == ("", 0, (), "", 0)
    assert stored.sessions == (kept,)
    assert stored.password_hash == on.password_hash
    assert stored.code_failures == FailedLogins()  # a right code


def test_disabling_with_a_recovery_code_keeping_no_session(
    users: UserStore, sessions: SessionStore
) -> None:
    open_with(sessions, read(users), token(), None)  # before MFA was on
    enabled(users)
    users.disable_mfa(read(users), factor=RecoveryCodeUse("aaaa", CODES["aaaa"]), keep_session=None)
    stored = read(users)
    assert factor_state(stored) == ("", 0, (), "", 0)
    assert stored.sessions == ()
    found = sessions.find_token("h1")
    assert found is not None
    with pytest.raises(AccountChanged):  # no longer listed
        sessions.rotate(found, "h1-next", now=NOW + 1)


def test_disabling_removes_a_pending_enrolment_too(users: UserStore) -> None:
    # An enrolment cannot begin while a factor is on, but an item may carry both (one
    # written by an older version, or by hand): turning off leaves nothing behind.
    on = enabled(users)
    users.disable_mfa(on, factor=TotpUse(SECRET, STEP + 1), keep_session=None)
    users.start_totp_enrollment(read(users), secret=OTHER_SECRET, expires_at=NOW + 600)
    assert read(users).pending_totp_secret == OTHER_SECRET


@pytest.mark.parametrize(
    "factor",
    [
        TotpUse(SECRET, STEP),
        TotpUse(OTHER_SECRET, STEP + 1),
        RecoveryCodeUse("zzzz", "$argon2id$hash-z"),
        RecoveryCodeUse("aaaa", "$argon2id$hash-b"),
    ],
    ids=["same-step", "other-secret", "unknown-code", "other-hash"],
)
def test_disabling_with_a_factor_that_cannot_be_accepted_writes_nothing(
    users: UserStore, sessions: SessionStore, factor: FactorUse
) -> None:
    open_with(sessions, read(users), token(), None)  # before MFA was on
    enabled(users)
    count_wrong_codes(users)
    on = read(users)
    with pytest.raises(AccountChanged):
        users.disable_mfa(on, factor=factor, keep_session=None)
    assert read(users) == on


def test_disabling_with_a_changed_password_writes_nothing(users: UserStore) -> None:
    on = enabled(users)
    assert users.update_password_hash(ANN, "$argon2id$new", replaces=on.password_hash)
    with pytest.raises(AccountChanged):
        users.disable_mfa(on, factor=TotpUse(SECRET, STEP + 1), keep_session=None)
    assert read(users).mfa_enabled


def test_disabling_never_lists_again_a_session_ended_since_its_read(
    users: UserStore, sessions: SessionStore
) -> None:
    open_with(sessions, read(users), token(), None)  # before MFA was on
    enabled(users)
    on = read(users)
    (kept,) = on.sessions
    assert sessions.end_all_sessions(ANN, "u1")
    with pytest.raises(AccountChanged):
        users.disable_mfa(on, factor=TotpUse(SECRET, STEP + 1), keep_session=kept)
    assert read(users).mfa_enabled
    assert read(users).sessions == ()


def test_of_concurrent_disables_with_one_code_one_wins(users: UserStore, race: Race) -> None:
    on = enabled(users)
    results = race(
        [
            partial(users.disable_mfa, on, factor=TotpUse(SECRET, STEP + 1), keep_session=None)
            for _ in range(6)
        ]
    )
    assert sum(result is None for result in results) == 1
    assert all(isinstance(r, AccountChanged) for r in results if r is not None)


# --- opening a session with a second factor ----------------------------------------------


def test_a_session_opened_with_a_code_records_its_step(
    users: UserStore, sessions: SessionStore
) -> None:
    on = enabled(users)
    open_with(sessions, on, token(amr=("pwd", "otp")), TotpUse(SECRET, STEP + 1))
    stored = read(users)
    assert stored.totp_last_step == STEP + 1
    assert listed(users) == {"s1"}
    assert stored.recovery_codes == on.recovery_codes
    found = sessions.find_token("h1")
    assert found is not None
    assert found.amr == ("pwd", "otp")


def test_a_session_opened_with_a_recovery_code_removes_it(
    users: UserStore, sessions: SessionStore
) -> None:
    on = enabled(users)
    open_with(sessions, on, token(amr=("pwd", "mfa")), RecoveryCodeUse("bbbb", CODES["bbbb"]))
    stored = read(users)
    assert dict(stored.recovery_codes) == {k: v for k, v in CODES.items() if k != "bbbb"}
    assert stored.totp_last_step == STEP
    found = sessions.find_token("h1")
    assert found is not None
    assert found.amr == ("pwd", "mfa")


@pytest.mark.parametrize(
    "factor",
    [
        TotpUse(SECRET, STEP),
        TotpUse(SECRET, STEP - 5),
        TotpUse(OTHER_SECRET, STEP + 1),
        RecoveryCodeUse("zzzz", "$argon2id$hash-z"),
        RecoveryCodeUse("aaaa", "$argon2id$hash-b"),
    ],
    ids=["same-step", "earlier-step", "other-secret", "unknown-code", "other-hash"],
)
def test_a_refused_factor_opens_nothing_and_clears_nothing(
    users: UserStore, sessions: SessionStore, stores: Stores, factor: FactorUse
) -> None:
    enabled(users)
    count_failures(users)
    count_wrong_codes(users)
    on = read(users)
    with pytest.raises(AccountChanged):
        open_with(sessions, on, token(), factor, clear_failures_of=ANN)
    # The transaction fails as one: no session or token item, no entry, the failures
    # (the passwords' and the codes') kept.
    assert sessions.find_token("h1") is None
    assert read(users) == on
    assert on.code_failures == FailedLogins(2, 2)
    assert failures(users) == FailedLogins(2, 2)
    assert stores.users_item_exists(f"FAILED#{ANN}")


def test_a_code_opens_one_session_and_the_same_step_no_second(
    users: UserStore, sessions: SessionStore
) -> None:
    on = enabled(users)
    open_with(sessions, on, token("h1", "s1"), TotpUse(SECRET, STEP + 1))
    with pytest.raises(AccountChanged):  # a second login from the same read, same code
        open_with(sessions, read(users), token("h2", "s2"), TotpUse(SECRET, STEP + 1))
    open_with(sessions, read(users), token("h3", "s3"), TotpUse(SECRET, STEP + 2))
    assert listed(users) == {"s1", "s3"}
    assert sessions.find_token("h2") is None


def test_a_recovery_code_opens_one_session(users: UserStore, sessions: SessionStore) -> None:
    on = enabled(users)
    used = RecoveryCodeUse("cccc", CODES["cccc"])
    open_with(sessions, on, token("h1", "s1"), used)
    with pytest.raises(AccountChanged):
        open_with(sessions, on, token("h2", "s2"), used)
    assert listed(users) == {"s1"}


def test_an_mfa_token_opens_one_session(users: UserStore, sessions: SessionStore) -> None:
    """The spent token's put is in the session's transaction: a second session with the
    same mfa_token is refused (with a factor that would pass) and writes nothing."""
    on = enabled(users)
    spent = SpentMfaToken("jti-1", NOW + 300)
    open_with(sessions, on, token("h1", "s1"), TotpUse(SECRET, STEP + 1), spends=spent)
    with pytest.raises(MfaTokenUsed):
        open_with(sessions, read(users), token("h2", "s2"), TotpUse(SECRET, STEP + 2), spends=spent)
    assert listed(users) == {"s1"}
    assert read(users).totp_last_step == STEP + 1  # the refused one accepted nothing
    assert sessions.find_token("h2") is None
    open_with(
        sessions,
        read(users),
        token("h3", "s3"),
        TotpUse(SECRET, STEP + 2),
        spends=SpentMfaToken("jti-2", NOW + 300),
    )
    assert listed(users) == {"s1", "s3"}


def test_a_spent_mfa_token_with_a_used_code_answers_as_spent(
    users: UserStore, sessions: SessionStore
) -> None:
    """Both conditions fail at once (a copied request replayed): the token's refusal."""
    on = enabled(users)
    spent = SpentMfaToken("jti-1", NOW + 300)
    open_with(sessions, on, token("h1", "s1"), TotpUse(SECRET, STEP + 1), spends=spent)
    with pytest.raises(MfaTokenUsed):
        open_with(sessions, on, token("h2", "s2"), TotpUse(SECRET, STEP + 1), spends=spent)
    assert listed(users) == {"s1"}


def test_of_concurrent_verifies_with_one_mfa_token_one_opens_a_session(
    users: UserStore, sessions: SessionStore, race: Race
) -> None:
    on = enabled(users)
    spent = SpentMfaToken("jti-race", NOW + 300)
    codes = sorted(CODES)
    results = race(
        [
            partial(
                open_with,
                sessions,
                on,
                token(f"h{i}", f"s{i}"),
                RecoveryCodeUse(codes[i], CODES[codes[i]]),
                spends=spent,
            )
            for i in range(min(4, len(codes)))
        ]
    )
    assert sum(result is None for result in results) == 1
    assert all(isinstance(r, MfaTokenUsed | AccountChanged) for r in results if r is not None)
    assert len(listed(users)) == 1


def test_a_session_with_a_factor_clears_the_failures(
    users: UserStore, sessions: SessionStore, stores: Stores
) -> None:
    on = enabled(users)
    count_failures(users)
    open_with(sessions, on, token(), TotpUse(SECRET, STEP + 1), clear_failures_of=ANN)
    assert failures(users) == FailedLogins()
    assert not stores.users_item_exists(f"FAILED#{ANN}")


@pytest.mark.parametrize(
    "factor",
    [TotpUse(SECRET, STEP + 1), RecoveryCodeUse("aaaa", CODES["aaaa"])],
    ids=["totp", "recovery-code"],
)
def test_a_factor_joins_the_removal_of_expired_sessions(
    users: UserStore, sessions: SessionStore, factor: FactorUse
) -> None:
    # The account's update then has both a SET and a REMOVE part (the expired entry, the
    # count of wrong codes): the factor's clause must land in the right one.
    short = token("old", "old-session")
    sessions.create(  # before MFA was on
        short,
        now=NOW - 100,
        account=read(users),
        session=info("old-session", now=NOW - 100, expires_at=NOW - 1),
    )
    enabled(users)
    count_wrong_codes(users)
    on = read(users)
    assert listed(users) == {"old-session"}
    open_with(sessions, on, token(), factor)
    stored = read(users)
    assert listed(users) == {"s1"}  # the expired one dropped
    assert stored.code_failures == FailedLogins()  # and the wrong codes cleared
    if isinstance(factor, TotpUse):
        assert stored.totp_last_step == STEP + 1
        assert stored.recovery_codes == on.recovery_codes
    else:
        assert stored.recovery_code_hash("aaaa") is None
        assert len(stored.recovery_codes) == len(CODES) - 1


@pytest.mark.parametrize(
    "factor",
    [TotpUse(SECRET, STEP + 1), RecoveryCodeUse("aaaa", CODES["aaaa"])],
    ids=["totp", "recovery-code"],
)
def test_a_factor_at_the_first_login_of_an_account_without_a_list(
    users: UserStore, sessions: SessionStore, stores: Stores, factor: FactorUse
) -> None:
    enabled(users)
    stores.make_legacy(ANN)
    legacy = read(users)
    assert not legacy.lists_sessions
    open_with(sessions, legacy, token(), factor)
    stored = read(users)
    assert stored.lists_sessions
    assert listed(users) == {"s1"}
    if isinstance(factor, TotpUse):
        assert stored.totp_last_step == STEP + 1
    else:
        assert stored.recovery_code_hash("aaaa") is None
    with pytest.raises(AccountChanged):  # and the same factor once more
        open_with(sessions, legacy, token("h2", "s2"), factor)


def test_a_session_with_a_factor_is_refused_after_mfa_was_turned_off(
    users: UserStore, sessions: SessionStore
) -> None:
    on = enabled(users)
    users.disable_mfa(on, factor=RecoveryCodeUse("aaaa", CODES["aaaa"]), keep_session=None)
    with pytest.raises(AccountChanged):
        open_with(sessions, on, token(), TotpUse(SECRET, STEP + 1))
    with pytest.raises(AccountChanged):
        open_with(sessions, on, token(), RecoveryCodeUse("bbbb", CODES["bbbb"]))
    assert listed(users) == set()


def test_of_concurrent_logins_with_one_code_one_opens_a_session(
    users: UserStore, sessions: SessionStore, race: Race
) -> None:
    on = enabled(users)
    results = race(
        [
            partial(open_with, sessions, on, token(f"h{i}", f"s{i}"), TotpUse(SECRET, STEP + 1))
            for i in range(8)
        ]
    )
    assert sum(result is None for result in results) == 1
    assert all(isinstance(r, AccountChanged) for r in results if r is not None)
    assert len(listed(users)) == 1


def test_of_concurrent_logins_with_one_recovery_code_one_opens_a_session(
    users: UserStore, sessions: SessionStore, race: Race
) -> None:
    on = enabled(users)
    used = RecoveryCodeUse("bbbb", CODES["bbbb"])
    results = race(
        [partial(open_with, sessions, on, token(f"h{i}", f"s{i}"), used) for i in range(8)]
    )
    assert sum(result is None for result in results) == 1
    assert len(listed(users)) == 1
    assert read(users).recovery_code_hash("bbbb") is None


def test_a_login_racing_a_renewal_with_one_code_one_wins(
    users: UserStore, sessions: SessionStore, race: Race
) -> None:
    on = enabled(users)
    factor = TotpUse(SECRET, STEP + 1)
    results = race(
        [
            partial(open_with, sessions, on, token(), factor),
            partial(users.renew_recovery_codes, on, factor=factor, recovery_codes=NEW_CODES),
        ]
    )
    assert sum(result is None for result in results) == 1
    renewed = results[1] is None
    assert (read(users).recovery_codes == tuple(sorted(NEW_CODES.items()))) is renewed
    assert (listed(users) == {"s1"}) is not renewed


# --- amr on the session's tokens ---------------------------------------------------------


def test_a_sessions_tokens_keep_the_amr_it_was_opened_with(
    users: UserStore, sessions: SessionStore
) -> None:
    on = enabled(users)
    open_with(sessions, on, token(amr=("pwd", "mfa")), RecoveryCodeUse("aaaa", CODES["aaaa"]))
    first = sessions.find_token("h1")
    assert first is not None
    second = sessions.rotate(first, "h2", now=NOW + 1)
    assert second.amr == ("pwd", "mfa")
    found = sessions.find_token("h2")
    assert found is not None
    assert found.amr == ("pwd", "mfa")


def test_a_session_opened_with_the_password_alone_is_pwd(
    users: UserStore, sessions: SessionStore, account: User
) -> None:
    open_with(sessions, account, token(), None)
    found = sessions.find_token("h1")
    assert found is not None
    assert found.amr == ("pwd",)


# --- taking a reserved attempt back ------------------------------------------------------


def test_releasing_an_attempt_takes_one_failure_back_and_keeps_the_time(
    users: UserStore,
) -> None:
    count_failures(users, 3)
    assert failures(users) == FailedLogins(3, 3)
    users.release_login_attempt(ANN)
    assert failures(users) == FailedLogins(2, 3)
    users.release_login_attempt(ANN)
    users.release_login_attempt(ANN)
    assert failures(users).count == 0
    users.release_login_attempt(ANN)  # never below zero
    assert failures(users).count == 0


def test_releasing_with_nothing_counted_writes_nothing(users: UserStore, stores: Stores) -> None:
    users.release_login_attempt(ANN)
    users.release_login_attempt("nobody@example.com")
    assert not stores.users_item_exists(f"FAILED#{ANN}")
    assert not stores.users_item_exists("FAILED#nobody@example.com")
    assert failures(users) == FailedLogins()


def test_a_released_slot_can_be_reserved_again(users: UserStore) -> None:
    for now in (1, 2, 3):
        ok, _ = users.reserve_login_attempt(
            ANN, failures(users), now=now, max_failures=3, lockout_seconds=60, keep_for=300
        )
        assert ok
    users.release_login_attempt(ANN)
    ok, seen = users.reserve_login_attempt(
        ANN, failures(users), now=4, max_failures=3, lockout_seconds=60, keep_for=300
    )
    assert ok
    assert seen.count == 3
    ok, _ = users.reserve_login_attempt(
        ANN, failures(users), now=5, max_failures=3, lockout_seconds=60, keep_for=300
    )
    assert not ok


def test_concurrent_releases_take_back_each_one(users: UserStore, race: Race) -> None:
    count_failures(users, 5)
    race([partial(users.release_login_attempt, ANN) for _ in range(3)])
    assert failures(users).count == 2


def test_a_rotation_is_still_refused_for_an_account_whose_session_ended(
    users: UserStore, sessions: SessionStore
) -> None:
    # Turning the factor off ends the other sessions as a password change does: their
    # refresh answers as the account changed.
    open_with(sessions, read(users), token("h1", "s1"), None)  # before MFA was on
    enabled(users)
    open_with(sessions, read(users), token("h2", "s2"), TotpUse(SECRET, STEP + 1))
    on = read(users)
    kept = next(s for s in on.sessions if s.session_id == "s1")
    users.disable_mfa(on, factor=TotpUse(SECRET, STEP + 2), keep_session=kept)
    other = sessions.find_token("h2")
    assert other is not None
    with pytest.raises(AccountChanged):
        sessions.rotate(other, "h2-next", now=NOW + 1)
    mine = sessions.find_token("h1")
    assert mine is not None
    assert sessions.rotate(mine, "h1-next", now=NOW + 1).amr == ("pwd",)


# --- the account's count of wrong codes -------------------------------------------------


def test_a_new_account_has_no_wrong_codes(account: User) -> None:
    assert account.code_failures == FailedLogins()


def test_each_code_attempt_takes_one_slot_on_the_account_until_the_limit(
    users: UserStore, stores: Stores, account: User
) -> None:
    for now in (1, 2, 3):
        assert reserve_code(users, now) == (True, FailedLogins(now, now))
        assert wrong_codes(users) == FailedLogins(now, now)
    assert reserve_code(users, 4) == (False, FailedLogins(CODE_MAX, 3))
    # On the account item alone: no FAILED# item, nothing else of the account changed.
    assert failures(users) == FailedLogins()
    assert not stores.users_item_exists(f"FAILED#{ANN}")
    assert replace(read(users), code_failures=FailedLogins()) == account


def test_failed_passwords_and_wrong_codes_are_counted_apart(users: UserStore) -> None:
    count_failures(users)
    assert wrong_codes(users) == FailedLogins()
    count_wrong_codes(users, 1)
    assert (failures(users), wrong_codes(users)) == (FailedLogins(2, 2), FailedLogins(1, 1))
    users.clear_failed_logins(ANN)
    assert (failures(users), wrong_codes(users)) == (FailedLogins(), FailedLogins(1, 1))
    count_failures(users, 1)
    users.clear_code_failures(read(users))
    assert (failures(users), wrong_codes(users)) == (FailedLogins(1, 1), FailedLogins())


def test_a_code_attempt_never_creates_an_item(users: UserStore, stores: Stores) -> None:
    gone = User(user_id="u3", email="nobody@example.com", password_hash="h", created_at=1)
    with pytest.raises(AccountChanged):
        reserve_code(users, 1, account=gone)
    users.clear_code_failures(gone)  # quiet, and writes nothing either
    assert users.get_by_email("nobody@example.com") is None
    assert not stores.users_item_exists("EMAIL#nobody@example.com")
    assert not stores.users_item_exists("FAILED#nobody@example.com")


def test_a_code_attempt_for_another_account_of_the_email_is_refused(
    users: UserStore, account: User
) -> None:
    """The account read is gone and the address has another one: the attempt is not
    counted against (nor cleared from) the new account."""
    count_wrong_codes(users, 1)
    stranger = replace(account, user_id="u2")
    with pytest.raises(AccountChanged):
        reserve_code(users, 5, account=stranger)
    users.clear_code_failures(stranger)
    assert wrong_codes(users) == FailedLogins(1, 1)
    assert read(users).user_id == "u1"


def test_code_attempts_that_read_the_same_count_share_the_slots_left(users: UserStore) -> None:
    count_wrong_codes(users, CODE_MAX - 1)
    seen = read(users)
    outcomes = [reserve_code(users, 10, account=seen) for _ in range(5)]
    assert (
        outcomes == [(True, FailedLogins(CODE_MAX, 10))] + [(False, FailedLogins(CODE_MAX, 10))] * 4
    )
    assert wrong_codes(users) == FailedLogins(CODE_MAX, 10)


def test_concurrent_code_attempts_never_exceed_the_limit(users: UserStore, race: Race) -> None:
    count_wrong_codes(users, 1)
    seen = read(users)
    outcomes = race([partial(reserve_code, users, 5, account=seen) for _ in range(10)])
    assert sorted((o for o in outcomes if o[0]), key=lambda o: o[1].count) == [
        (True, FailedLogins(count, 5)) for count in range(2, CODE_MAX + 1)
    ]
    assert [o for o in outcomes if not o[0]] == [(False, FailedLogins(CODE_MAX, 5))] * (
        10 - CODE_MAX + 1
    )
    assert wrong_codes(users) == FailedLogins(CODE_MAX, 5)


def test_wrong_codes_lock_for_lockout_seconds_then_the_count_restarts(users: UserStore) -> None:
    lock_codes(users)
    # Even from a stale read (no wrong code seen), the answer is the count as it stands,
    # whose lock-out gives the Retry-After; refusals do not extend the lock.
    for seen in (FailedLogins(), wrong_codes(users)):
        ok, record = reserve_code(users, 30, seen=seen)
        assert (ok, record) == (False, FailedLogins(CODE_MAX, 3))
        assert record.locked_for(30, max_failures=CODE_MAX, lockout_seconds=CODE_LOCKOUT) == 33
    later = 3 + CODE_LOCKOUT
    assert reserve_code(users, later - 1) == (False, FailedLogins(CODE_MAX, 3))
    assert reserve_code(users, later) == (True, FailedLogins(1, later))
    assert wrong_codes(users) == FailedLogins(1, later)


def test_a_stale_read_of_an_ended_code_lock_still_restarts(users: UserStore) -> None:
    lock_codes(users)
    later = 3 + CODE_LOCKOUT
    assert reserve_code(users, later, seen=FailedLogins()) == (True, FailedLogins(1, later))
    assert reserve_code(users, later, seen=FailedLogins()) == (True, FailedLogins(2, later))


def test_concurrent_code_attempts_after_a_lock_restart_it_once(
    users: UserStore, race: Race
) -> None:
    lock_codes(users)
    seen, later = read(users), 3 + CODE_LOCKOUT
    outcomes = race([partial(reserve_code, users, later, account=seen) for _ in range(8)])
    assert sorted((o for o in outcomes if o[0]), key=lambda o: o[1].count) == [
        (True, FailedLogins(count, later)) for count in range(1, CODE_MAX + 1)
    ]
    assert [o for o in outcomes if not o[0]] == [(False, FailedLogins(CODE_MAX, later))] * (
        8 - CODE_MAX
    )


def test_clearing_the_wrong_codes_resets_the_count_and_keeps_the_account(
    users: UserStore,
) -> None:
    enabled(users)
    lock_codes(users)
    count_failures(users)
    before = read(users)
    users.clear_code_failures(before)
    assert read(users) == replace(before, code_failures=FailedLogins())
    assert failures(users) == FailedLogins(2, 2)  # the passwords' count is another one
    assert reserve_code(users, 4) == (True, FailedLogins(1, 4))


def _enable(users: UserStore, sessions: SessionStore) -> None:
    users.enable_totp(read(users), secret=SECRET, step=STEP, recovery_codes=CODES, now=NOW)


def _renew_with_a_code(users: UserStore, sessions: SessionStore) -> None:
    users.renew_recovery_codes(
        read(users), factor=TotpUse(SECRET, STEP + 1), recovery_codes=NEW_CODES
    )


def _renew_with_a_recovery_code(users: UserStore, sessions: SessionStore) -> None:
    users.renew_recovery_codes(
        read(users), factor=RecoveryCodeUse("bbbb", CODES["bbbb"]), recovery_codes=NEW_CODES
    )


def _disable(users: UserStore, sessions: SessionStore) -> None:
    users.disable_mfa(read(users), factor=TotpUse(SECRET, STEP + 1), keep_session=None)


def _session_with_a_code(users: UserStore, sessions: SessionStore) -> None:
    open_with(sessions, read(users), token(), TotpUse(SECRET, STEP + 1))


def _session_with_a_recovery_code(users: UserStore, sessions: SessionStore) -> None:
    open_with(sessions, read(users), token(), RecoveryCodeUse("cccc", CODES["cccc"]))


@pytest.mark.parametrize(
    "accept",
    [
        _enable,
        _renew_with_a_code,
        _renew_with_a_recovery_code,
        _disable,
        _session_with_a_code,
        _session_with_a_recovery_code,
    ],
    ids=[
        "enable",
        "renew-code",
        "renew-recovery-code",
        "disable",
        "session-code",
        "session-recovery-code",
    ],
)
def test_every_write_that_accepts_a_right_code_clears_the_wrong_ones(
    users: UserStore,
    sessions: SessionStore,
    accept: Callable[[UserStore, SessionStore], None],
) -> None:
    if accept is _enable:  # the confirm's: the enrolment pending, no factor on yet
        users.start_totp_enrollment(read(users), secret=SECRET, expires_at=NOW + 600)
    else:
        enabled(users)
    count_failures(users)
    lock_codes(users)
    accept(users, sessions)
    assert wrong_codes(users) == FailedLogins()
    # Clearing the passwords' count is the callers' own write (beside, or after).
    assert failures(users) == FailedLogins(2, 2)


def test_a_session_without_a_factor_leaves_the_wrong_codes(
    users: UserStore, sessions: SessionStore, account: User
) -> None:
    # Wrong codes at the confirm of an enrolment, then a login with the password alone
    # (MFA is not on yet): only a right code clears the codes' count.
    users.start_totp_enrollment(account, secret=SECRET, expires_at=NOW + 600)
    count_failures(users)
    count_wrong_codes(users)
    open_with(sessions, read(users), token(), None, clear_failures_of=ANN)
    assert listed(users) == {"s1"}
    assert failures(users) == FailedLogins()
    assert wrong_codes(users) == FailedLogins(2, 2)


# --- a session without a second factor -------------------------------------------------


def test_a_session_without_a_factor_is_refused_once_a_factor_is_on(
    users: UserStore, sessions: SessionStore, stores: Stores, account: User
) -> None:
    """`attribute_not_exists(totp_secret)`: a login that read the account before MFA was
    turned on (`account`) opens no password-only session after, nor does one that read
    it since; the transaction writes nothing (the failures are not cleared)."""
    on = enabled(users)
    count_failures(users)
    for read_as in (account, on):
        with pytest.raises(AccountChanged):
            open_with(sessions, read_as, token(), None, clear_failures_of=ANN)
    assert sessions.find_token("h1") is None
    assert listed(users) == set()
    assert failures(users) == FailedLogins(2, 2)
    assert stores.users_item_exists(f"FAILED#{ANN}")
    # Once the factor is off again, the password alone opens a session.
    users.disable_mfa(read(users), factor=TotpUse(SECRET, STEP + 1), keep_session=None)
    open_with(sessions, read(users), token("h2", "s2"), None)
    assert listed(users) == {"s2"}


# --- a new password and the factor -------------------------------------------------------


def test_a_password_reset_leaves_the_factor_on(users: UserStore) -> None:
    # ASVS 6.4.3: a reset does not bypass the second factor.
    on = enabled(users)
    reset = OneTimeToken("r1", Purpose.RESET_PASSWORD, ANN, "u1", NOW + 600)
    assert users.issue_one_time_token(reset, password_set_id="", require_unverified=False)
    users.reset_password(reset, password_hash="$argon2id$p2", password_set_id="p2", now=NOW)
    after = read(users)
    assert after.password_hash == "$argon2id$p2"
    assert (after.totp_secret, after.totp_last_step, after.recovery_codes) == (
        on.totp_secret,
        on.totp_last_step,
        on.recovery_codes,
    )


def test_a_password_change_leaves_the_factor_on(users: UserStore) -> None:
    on = enabled(users)
    users.change_password(on, password_hash="$argon2id$p2", password_set_id="p2", keep_session=None)
    after = read(users)
    assert (after.totp_secret, after.totp_last_step, after.recovery_codes) == (
        on.totp_secret,
        on.totp_last_step,
        on.recovery_codes,
    )


@pytest.mark.parametrize("how", ["reset", "change"])
def test_a_new_password_clears_the_failed_passwords_not_the_wrong_codes(
    users: UserStore, stores: Stores, how: str
) -> None:
    """A reset or change ends a password lock-out (FAILED#), but gives back no guesses at
    the code: the account's count of wrong codes stays, lock and all."""
    enabled(users)
    count_failures(users)
    lock_codes(users)
    if how == "reset":
        reset = OneTimeToken("r1", Purpose.RESET_PASSWORD, ANN, "u1", NOW + 600)
        assert users.issue_one_time_token(reset, password_set_id="", require_unverified=False)
        users.reset_password(reset, password_hash="$argon2id$p2", password_set_id="p2", now=NOW)
    else:
        users.change_password(
            read(users), password_hash="$argon2id$p2", password_set_id="p2", keep_session=None
        )
    after = read(users)
    assert after.password_hash == "$argon2id$p2"
    assert failures(users) == FailedLogins()
    assert not stores.users_item_exists(f"FAILED#{ANN}")
    assert after.code_failures == FailedLogins(CODE_MAX, 3)
    assert reserve_code(users, 4) == (False, FailedLogins(CODE_MAX, 3))  # still locked
