"""The account's own changes, made with its current password: change it, delete the
account. A wrong current password counts as a failed login for the email."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from stateless_auth.config import Settings
from stateless_auth.domain import passwords
from stateless_auth.domain.accounts import Caller, User
from stateless_auth.domain.errors import InvalidCredentials
from stateless_auth.domain.mail import MailKind
from stateless_auth.domain.ports import MailQueue, UserStore
from stateless_auth.domain.sessions import AccountChanged
from stateless_auth.usecases.notices import queue_notice
from stateless_auth.usecases.password_check import check_password

INCORRECT = "the password is incorrect"


def _own_account(
    caller: Caller,
    password: str,
    *,
    users: UserStore,
    settings: Settings,
    unknown_email_hash: str,
    clock: Callable[[], float],
) -> User:
    user = check_password(
        caller.email,
        password,
        users=users,
        settings=settings,
        unknown_email_hash=unknown_email_hash,
        clock=clock,
    )
    if user.user_id != caller.user_id:
        # The token outlived its account: the address has another account now. The
        # password was right, so the reserved attempt is no failure of the owner's.
        users.clear_failed_logins(caller.email)
        raise InvalidCredentials(INCORRECT)
    return user


def change_password(
    caller: Caller,
    current_password: str,
    new_password: str,
    *,
    users: UserStore,
    mail: MailQueue,
    settings: Settings,
    unknown_email_hash: str,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Set a new password; whether its notice was queued (the change stands either way).

    WeakPassword for a new password the policy refuses, checked first, so it counts no
    failed login. InvalidCredentials (a LoginFailed) for a wrong current password, which
    counts toward the lock-out; TooManyAttempts while locked out. Every other session of
    the account ends, the caller's is kept, pending reset and verification links end.
    Of two changes at once, one wins; the other answers InvalidCredentials. A session
    ended since the read (logout-all racing the change) is not brought back: the change
    reads the account again and keeps only what is still listed.
    """
    passwords.check_password_policy(
        new_password, min_length=settings.password_min_length, email=caller.email
    )
    user = _own_account(
        caller,
        current_password,
        users=users,
        settings=settings,
        unknown_email_hash=unknown_email_hash,
        clock=clock,
    )
    new_hash = passwords.hash_password(new_password)
    for attempt in range(2):
        kept = next((s for s in user.sessions if s.session_id == caller.session_id), None)
        try:
            users.change_password(
                user,
                password_hash=new_hash,
                password_set_id=str(uuid.uuid4()),
                keep_session=kept,
            )
            break
        except AccountChanged:
            # Either the password changed meanwhile (another change or a reset won), or
            # the caller's session was ended since the read (logout-all): read again,
            # and go on only if the password is still the one checked.
            fresh = users.get_by_email(user.email) if attempt == 0 else None
            if fresh is None or (fresh.user_id, fresh.password_hash) != (
                user.user_id,
                user.password_hash,
            ):
                users.clear_failed_logins(caller.email)  # the password was right
                raise InvalidCredentials(INCORRECT) from None
            user = fresh
    return queue_notice(mail, MailKind.PASSWORD_CHANGED, user.email)


def delete_account(
    caller: Caller,
    password: str,
    *,
    users: UserStore,
    mail: MailQueue,
    settings: Settings,
    unknown_email_hash: str,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Delete the caller's account, its sessions, failed logins and pending links; the
    email can sign up again at once. Whether the notice was queued. InvalidCredentials
    for a wrong password (counted toward the lock-out), TooManyAttempts while locked."""
    user = _own_account(
        caller,
        password,
        users=users,
        settings=settings,
        unknown_email_hash=unknown_email_hash,
        clock=clock,
    )
    try:
        users.delete_account(user)
    except AccountChanged:
        users.clear_failed_logins(caller.email)  # the password was right
        raise InvalidCredentials(INCORRECT) from None
    return queue_notice(mail, MailKind.ACCOUNT_DELETED, user.email)
