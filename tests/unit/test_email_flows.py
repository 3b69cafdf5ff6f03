"""The email flows' use cases against the fakes: signup's identical answer and the
replacement rule, verification, resend, forgotten passwords and resets (every effect of
CONTRACT §5), the mailer's decisions and limit, and login and refresh following the
account (CONTRACT §4, §5, §7)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from stateless_auth.domain import passwords
from stateless_auth.domain.errors import (
    DependencyUnavailable,
    EmailNotVerified,
    InvalidOneTimeToken,
    InvalidRequest,
    LoginFailed,
    MailSendFailed,
    RefreshRejected,
    TooManyAttempts,
    WeakPassword,
)
from stateless_auth.domain.mail import MailJob, MailKind
from stateless_auth.domain.one_time_tokens import OneTimeToken
from stateless_auth.http.errors import answer_for
from stateless_auth.tokens.keys import KeySet
from stateless_auth.usecases.deliver_mail import Outcome
from tests.support.clock import Clock
from tests.support.fakes import FakeUsers, Flows
from tests.support.flows import flows_over
from tests.support.mail import EXPECTED_SUBJECTS
from tests.support.settings import APP_URL, EMAIL_FROM, ISSUER, load_test_settings
from tests.support.tokens import verifier_for

ANN = "ann@example.com"
PASSWORD = "correct horse battery staple"
OTHER = "another long enough passphrase"
NEW = "a brand new passphrase for ann"
WRONG = "not the password at all, no"


@pytest.fixture(scope="module")
def key_set() -> KeySet:
    return KeySet.generate()


def make(users: FakeUsers, clock: Clock, key_set: KeySet, **settings: str) -> Flows:
    service = flows_over(users, clock=clock, key_set=key_set)
    service.settings = load_test_settings(
        **{
            "APP_URL": APP_URL,
            "EMAIL_FROM": EMAIL_FROM,
            "MAX_FAILED_LOGINS": "3",
            "LOCKOUT_SECONDS": "60",
            **settings,
        }
    )
    return service


@pytest.fixture
def service(users: FakeUsers, clock: Clock, key_set: KeySet) -> Flows:
    return make(users, clock, key_set)


@pytest.fixture
def optional(users: FakeUsers, clock: Clock, key_set: KeySet) -> Flows:
    return make(users, clock, key_set, EMAIL_VERIFICATION="optional")


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords argon2 hashed."""
    calls: list[str] = []
    real = passwords.hash_password

    def counting(password: str) -> str:
        calls.append(password)
        return real(password)

    monkeypatch.setattr(passwords, "hash_password", counting)
    return calls


def claims(key_set: KeySet, access_token: str) -> dict[str, Any]:
    return verifier_for(key_set).verify(access_token, issuer=ISSUER)


def kinds(service: Flows) -> list[str]:
    return [job.kind for job in service.mail.jobs]


def subjects(service: Flows, email: str = ANN) -> list[str]:
    return [mail.message.subject.split(": ", 1)[1] for mail in service.sender.to(email)]


# --- signup -------------------------------------------------------------------------------


def test_a_new_signup_queues_a_link_for_its_own_password(service: Flows, clock: Clock) -> None:
    assert service.signup("  Ann@Example.COM ", PASSWORD) == ANN
    user = service.users.get_by_email(ANN)
    assert user is not None
    assert not user.email_verified
    assert user.unverified_expires_at == clock.now + 86400
    assert user.password_set_id
    assert service.mail.jobs == [
        MailJob(
            MailKind.VERIFY_EMAIL,
            ANN,
            password_set_id=user.password_set_id,
            job_id=service.mail.jobs[0].job_id,
        )
    ]


def test_a_taken_email_answers_the_same_after_the_same_work(
    service: Flows, hashed: list[str]
) -> None:
    service.signup_verified(ANN, PASSWORD)
    ann = service.users.get_by_email(ANN)
    service.mail.take()
    hashed.clear()
    taken, new = service.signup("ann@example.com", OTHER), service.signup("bob@example.com", OTHER)
    assert (taken, new) == (ANN, "bob@example.com")  # the same answer: the address given
    assert len(hashed) == 2  # both the taken and the new address hashed their password
    assert kinds(service) == [MailKind.SIGNUP_ATTEMPT, MailKind.VERIFY_EMAIL]
    assert service.users.get_by_email(ANN) == ann  # nothing changed
    service.deliver_queued()
    assert subjects(service)[-1] == "someone tried to sign up with your address"
    service.login(ANN, PASSWORD, issuer=ISSUER)
    with pytest.raises(LoginFailed):
        service.login(ANN, OTHER, issuer=ISSUER)


@pytest.mark.parametrize("existing", ["none", "verified", "never verified"])
def test_every_signup_hashes_once_and_queues_one_job(
    service: Flows, hashed: list[str], existing: str
) -> None:
    if existing == "verified":
        service.signup_verified(ANN, PASSWORD)
    elif existing == "never verified":
        service.signup(ANN, PASSWORD)
    service.mail.take()
    hashed.clear()
    assert service.signup(ANN, OTHER) == ANN
    assert hashed == [OTHER]
    assert len(service.mail.jobs) == 1


def test_a_never_verified_account_is_replaced_under_required(service: Flows) -> None:
    service.signup(ANN, PASSWORD)
    service.deliver_queued()
    first_link = service.token_for(ANN, "verify_email")
    first = service.users.get_by_email(ANN)
    service.signup(ANN, OTHER)
    second = service.users.get_by_email(ANN)
    assert first is not None
    assert second is not None
    assert second.password_set_id != first.password_set_id
    assert kinds(service) == [MailKind.VERIFY_EMAIL]
    with pytest.raises(InvalidOneTimeToken):  # the replacement ended the old link
        service.verify_email(first_link)
    service.deliver_queued()
    service.verify_email(service.token_for(ANN, "verify_email"))
    service.login(ANN, OTHER, issuer=ISSUER)
    with pytest.raises(LoginFailed):
        service.login(ANN, PASSWORD, issuer=ISSUER)


def test_a_link_queued_for_a_replaced_password_is_never_sent(service: Flows) -> None:
    service.signup(ANN, PASSWORD)
    service.signup(ANN, OTHER)  # before the mailer ran the first job
    outcomes = [(d.outcome, d.reason) for d in service.deliver_queued()]
    assert outcomes == [
        (Outcome.SKIPPED, "superseded by a later signup"),
        (Outcome.SENT, ""),
    ]
    service.verify_email(service.token_for(ANN, "verify_email"))
    service.login(ANN, OTHER, issuer=ISSUER)


def test_no_replacement_under_optional(optional: Flows, key_set: KeySet) -> None:
    optional.signup(ANN, PASSWORD)
    ann = optional.users.get_by_email(ANN)
    assert ann is not None
    assert ann.unverified_expires_at == 0  # never expires: it may log in
    assert optional.signup(ANN, OTHER) == ANN
    assert kinds(optional) == [MailKind.VERIFY_EMAIL, MailKind.SIGNUP_ATTEMPT]
    assert optional.users.get_by_email(ANN) == ann
    grant = optional.login(ANN, PASSWORD, issuer=ISSUER)
    assert claims(key_set, grant.access_token)["email_verified"] is False


@pytest.mark.parametrize(
    ("email", "password", "error"),
    [
        (ANN, "short", WeakPassword),
        (ANN, "1qaz2wsx3edc4rfv", WeakPassword),
        (ANN, ANN, WeakPassword),
        ("not-an-email", PASSWORD, InvalidRequest),
    ],
)
def test_bad_input_changes_nothing_and_queues_nothing(
    service: Flows, hashed: list[str], email: str, password: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        service.signup(email, password)
    assert service.users.items == {}
    assert service.mail.jobs == []
    assert hashed == []


def test_a_queue_outage_answers_503_and_a_new_signup_recovers(service: Flows) -> None:
    service.mail.failing = True
    with pytest.raises(DependencyUnavailable) as outage:
        service.signup(ANN, PASSWORD)
    assert answer_for(outage.value).status == 503
    service.mail.failing = False
    service.signup(ANN, OTHER)  # replaces the account whose link was never queued
    service.deliver_queued()
    service.verify_email(service.token_for(ANN, "verify_email"))
    service.login(ANN, OTHER, issuer=ISSUER)


# --- verification -------------------------------------------------------------------------


def test_a_link_verifies_the_email_once(service: Flows) -> None:
    service.signup(ANN, PASSWORD)
    service.deliver_queued()
    token = service.token_for(ANN, "verify_email")
    used = service.verify_email(token)
    assert (used.email, used.user_id) == (ANN, service.users.items[ANN].user_id)
    assert service.users.items[ANN].email_verified
    assert service.users.items[ANN].unverified_expires_at == 0  # no longer expires
    with pytest.raises(InvalidOneTimeToken):
        service.verify_email(token)


def test_a_newer_link_supersedes_an_older_one(service: Flows) -> None:
    service.signup(ANN, PASSWORD)
    service.deliver_queued()
    older = service.token_for(ANN, "verify_email")
    service.resend_verification("ANN@example.com")
    assert kinds(service) == [MailKind.VERIFY_EMAIL_RESEND]
    service.deliver_queued()
    newer = service.token_for(ANN, "verify_email")
    assert newer != older
    with pytest.raises(InvalidOneTimeToken):
        service.verify_email(older)
    service.verify_email(newer)


def test_a_link_expires(users: FakeUsers, clock: Clock, key_set: KeySet) -> None:
    service = make(users, clock, key_set, VERIFY_EMAIL_TTL_SECONDS="600")
    service.signup(ANN, PASSWORD)
    service.deliver_queued()
    assert "within 10 minutes" in service.sender.sent[-1].message.text
    token = service.token_for(ANN, "verify_email")
    clock.now += 600
    with pytest.raises(InvalidOneTimeToken):
        service.verify_email(token)
    clock.now -= 1
    service.verify_email(token)


def test_a_link_of_the_other_purpose_does_nothing(service: Flows) -> None:
    service.signup(ANN, PASSWORD)
    service.forgot_password(ANN)
    service.deliver_queued()
    verify, reset = service.token_for(ANN, "verify_email"), service.token_for(ANN, "reset_password")
    with pytest.raises(InvalidOneTimeToken):
        service.verify_email(reset)
    with pytest.raises(InvalidOneTimeToken):
        service.reset_password(verify, NEW)
    assert not service.users.items[ANN].email_verified
    service.verify_email(verify)
    service.reset_password(reset, NEW)


@pytest.mark.parametrize("token", ["", "short", "x" * 200, "a" * 40 + "?", "A" * 43])
def test_a_malformed_or_unknown_link_is_refused(service: Flows, token: str) -> None:
    with pytest.raises(InvalidOneTimeToken) as refused:
        service.verify_email(token)
    assert (answer_for(refused.value).status, answer_for(refused.value).code) == (
        400,
        "invalid_token",
    )
    with pytest.raises(InvalidOneTimeToken):
        service.reset_password(token, NEW)


def test_a_resend_sends_only_to_a_never_verified_account(service: Flows) -> None:
    service.signup_verified("bob@example.com", PASSWORD)
    service.signup(ANN, PASSWORD)
    service.deliver_queued()
    for email in (ANN, "bob@example.com", "nobody@example.com"):
        service.resend_verification(email)
    assert len(service.mail.jobs) == 3
    outcomes = [(d.outcome, d.reason) for d in service.deliver_queued()]
    assert outcomes == [
        (Outcome.SENT, ""),
        (Outcome.SKIPPED, "already verified"),
        (Outcome.SKIPPED, "no account"),
    ]


# --- forgotten passwords and resets --------------------------------------------------------


def test_forgot_queues_one_job_for_any_email(service: Flows) -> None:
    service.signup_verified(ANN, PASSWORD)
    service.signup("unverified@example.com", PASSWORD)
    service.mail.take()
    for email in ("Ann@Example.com", "unverified@example.com", "nobody@example.com"):
        service.forgot_password(email)
    assert [(job.kind, job.email) for job in service.mail.jobs] == [
        (MailKind.RESET_PASSWORD, ANN),
        (MailKind.RESET_PASSWORD, "unverified@example.com"),
        (MailKind.RESET_PASSWORD, "nobody@example.com"),
    ]
    assert [d.outcome for d in service.deliver_queued()] == [
        Outcome.SENT,
        Outcome.SENT,
        Outcome.SKIPPED,
    ]
    assert service.sender.to("nobody@example.com") == []


@pytest.fixture
def locked_out(service: Flows) -> tuple[Flows, Any, str]:
    """Ann, verified, with a session, locked out by three wrong passwords, holding a
    reset link."""
    service.signup_verified(ANN, PASSWORD)
    grant = service.login(ANN, PASSWORD, issuer=ISSUER)
    for _ in range(3):
        with pytest.raises(LoginFailed):
            service.login(ANN, WRONG, issuer=ISSUER)
    with pytest.raises(TooManyAttempts):
        service.login(ANN, PASSWORD, issuer=ISSUER)
    service.forgot_password(ANN)
    service.deliver_queued()
    return service, grant, service.token_for(ANN, "reset_password")


def test_a_reset_has_every_effect_of_the_contract(
    locked_out: tuple[Flows, Any, str], key_set: KeySet
) -> None:
    service, grant, token = locked_out
    tokens_before = dict(service.sessions.tokens)
    used, notice_queued = service.reset_password(token, NEW)
    assert (used.email, notice_queued) == (ANN, True)
    assert service.sessions.tokens == tokens_before  # nobody was logged in
    # every session ended: the refresh token is refused and its session revoked
    with pytest.raises(RefreshRejected) as ended:
        service.refresh(grant.refresh_token, issuer=ISSUER)
    assert ended.value.reason == "account_changed"
    assert grant.session_id in service.sessions.revoked
    # the notice
    assert kinds(service) == [MailKind.PASSWORD_CHANGED]
    service.deliver_queued()
    assert subjects(service)[-1] == "your password was changed"
    # the old password no longer works; the lock-out ended, and the new one does
    assert ANN not in service.users.failures
    with pytest.raises(LoginFailed):
        service.login(ANN, PASSWORD, issuer=ISSUER)
    fresh = service.login(ANN, NEW, issuer=ISSUER)
    assert claims(key_set, fresh.access_token)["email_verified"] is True
    # the link was used
    with pytest.raises(InvalidOneTimeToken):
        service.reset_password(token, "yet another new passphrase")


def test_a_weak_new_password_leaves_the_link_usable(locked_out: tuple[Flows, Any, str]) -> None:
    service, grant, token = locked_out
    with pytest.raises(WeakPassword):
        service.reset_password(token, "short")
    with pytest.raises(WeakPassword):
        service.reset_password(token, ANN)  # the email itself
    assert service.mail.jobs == []
    assert service.refresh(grant.refresh_token, issuer=ISSUER)  # nothing changed yet
    service.reset_password(token, NEW)


def test_a_reset_verifies_a_never_verified_email(service: Flows) -> None:
    service.signup(ANN, PASSWORD)
    with pytest.raises(EmailNotVerified):
        service.login(ANN, PASSWORD, issuer=ISSUER)
    service.forgot_password(ANN)
    service.deliver_queued()
    service.reset_password(service.token_for(ANN, "reset_password"), NEW)
    user = service.users.items[ANN]
    assert user.email_verified
    assert user.unverified_expires_at == 0
    with pytest.raises(InvalidOneTimeToken):  # the pending verification link ended too
        service.verify_email(service.token_for(ANN, "verify_email"))
    service.login(ANN, NEW, issuer=ISSUER)


def test_only_the_newest_reset_link_works(service: Flows) -> None:
    service.signup_verified(ANN, PASSWORD)
    service.forgot_password(ANN)
    service.deliver_queued()
    older = service.token_for(ANN, "reset_password")
    service.forgot_password(ANN)
    service.deliver_queued()
    with pytest.raises(InvalidOneTimeToken):
        service.reset_password(older, NEW)
    service.reset_password(service.token_for(ANN, "reset_password"), NEW)


def test_a_reset_link_expires(users: FakeUsers, clock: Clock, key_set: KeySet) -> None:
    service = make(users, clock, key_set, PASSWORD_RESET_TTL_SECONDS="300")
    service.signup_verified(ANN, PASSWORD)
    service.forgot_password(ANN)
    service.deliver_queued()
    clock.now += 300
    with pytest.raises(InvalidOneTimeToken):
        service.reset_password(service.token_for(ANN, "reset_password"), NEW)


def test_two_resets_with_one_link_that_read_before_either_writes_have_one_winner(
    service: Flows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both find the link, then both write: the store's condition lets one through."""
    service.signup_verified(ANN, PASSWORD)
    service.forgot_password(ANN)
    service.deliver_queued()
    token = service.token_for(ANN, "reset_password")
    both_read = threading.Barrier(2, timeout=10)
    real = service.users.find_one_time_token

    def find_then_wait(token_hash: str) -> OneTimeToken | None:
        found = real(token_hash)
        both_read.wait()
        return found

    monkeypatch.setattr(service.users, "find_one_time_token", find_then_wait)
    outcomes: dict[str, str] = {}

    def attempt(password: str) -> None:
        try:
            service.reset_password(token, password)
            outcomes[password] = "ok"
        except InvalidOneTimeToken:
            outcomes[password] = "invalid"

    threads = [threading.Thread(target=attempt, args=(p,)) for p in (NEW, OTHER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["invalid", "ok"]
    (winner,) = [p for p, outcome in outcomes.items() if outcome == "ok"]
    assert passwords.verify_password(service.users.items[ANN].password_hash, winner)
    assert service.users.items[ANN].sessions_epoch == 1
    assert kinds(service) == [MailKind.PASSWORD_CHANGED]  # one notice


def test_a_lost_notice_does_not_undo_the_reset(locked_out: tuple[Flows, Any, str]) -> None:
    service, _, token = locked_out
    service.mail.failing = True
    _, notice_queued = service.reset_password(token, NEW)
    assert notice_queued is False
    service.mail.failing = False
    service.login(ANN, NEW, issuer=ISSUER)


# --- the mailer ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(MailKind))
def test_each_kind_sends_its_mail(service: Flows, kind: MailKind) -> None:
    service.signup(ANN, PASSWORD)
    service.mail.take()
    user = service.users.items[ANN]
    job = MailJob(kind, ANN, password_set_id=user.password_set_id)
    delivery = service.deliver(job)
    assert delivery.outcome is Outcome.SENT
    (mail,) = service.sender.sent
    assert (mail.to, delivery.message_id) == (ANN, mail.message_id)
    assert mail.message.subject.split(": ", 1)[1] == EXPECTED_SUBJECTS[kind]
    if kind in (MailKind.VERIFY_EMAIL, MailKind.VERIFY_EMAIL_RESEND):
        service.verify_email(service.token_for(ANN, "verify_email"))
    elif kind is MailKind.RESET_PASSWORD:
        service.reset_password(service.token_for(ANN, "reset_password"), NEW)
    else:
        assert "#token=" not in mail.message.text
        assert service.users.one_time_tokens == {}


@pytest.mark.parametrize(
    "kind",
    [
        MailKind.VERIFY_EMAIL,
        MailKind.VERIFY_EMAIL_RESEND,
        MailKind.SIGNUP_ATTEMPT,
        MailKind.RESET_PASSWORD,
    ],
)
def test_nothing_is_sent_for_an_unknown_address(service: Flows, kind: MailKind) -> None:
    delivery = service.deliver(MailJob(kind, "nobody@example.com", password_set_id="p"))
    assert (delivery.outcome, delivery.reason) == (Outcome.SKIPPED, "no account")
    assert service.sender.sent == []
    assert service.mail_log.sent == {}  # not counted either


def test_an_account_past_its_expiry_is_unknown_to_the_mailer(service: Flows, clock: Clock) -> None:
    service.signup(ANN, PASSWORD)
    service.mail.take()
    clock.now += 86400
    service.forgot_password(ANN)
    service.resend_verification(ANN)
    assert [d.reason for d in service.deliver_queued()] == ["no account", "no account"]


@pytest.mark.parametrize("kind", [MailKind.VERIFY_EMAIL, MailKind.VERIFY_EMAIL_RESEND])
def test_no_verification_mail_once_verified(service: Flows, kind: MailKind) -> None:
    user = service.signup_verified(ANN, PASSWORD)
    sent = len(service.sender.sent)
    delivery = service.deliver(MailJob(kind, ANN, password_set_id=user.password_set_id))
    assert (delivery.outcome, delivery.reason) == (Outcome.SKIPPED, "already verified")
    assert len(service.sender.sent) == sent


def test_mail_beyond_the_hourly_limit_is_suppressed_and_issues_no_token(
    users: FakeUsers, clock: Clock, key_set: KeySet
) -> None:
    service = make(users, clock, key_set, MAX_EMAILS_PER_HOUR="2")
    service.signup_verified(ANN, PASSWORD)  # the verification mail: one of the two
    for _ in range(3):
        service.forgot_password(ANN)
    outcomes = [(d.outcome, d.reason) for d in service.deliver_queued()]
    assert outcomes == [
        (Outcome.SENT, ""),
        (Outcome.SUPPRESSED, "hourly limit for the address"),
        (Outcome.SUPPRESSED, "hourly limit for the address"),
    ]
    link = service.token_for(ANN, "reset_password")
    # the suppressed mails issued no token: the one sent is still the newest and works
    assert len([t for t in users.one_time_tokens.values() if t.purpose == "reset_password"]) == 1
    # the notices of changes made with a valid link are always sent
    service.reset_password(link, NEW)
    assert [d.outcome for d in service.deliver_queued()] == [Outcome.SENT]
    # the hour rolls
    clock.now += 3600
    service.forgot_password(ANN)
    assert [d.outcome for d in service.deliver_queued()] == [Outcome.SENT]


def test_a_failed_send_propagates_and_its_retry_is_not_counted_twice(
    users: FakeUsers, clock: Clock, key_set: KeySet
) -> None:
    service = make(users, clock, key_set, MAX_EMAILS_PER_HOUR="2")
    service.signup(ANN, PASSWORD)
    service.mail.take()
    service.forgot_password(ANN)
    (job,) = service.mail.take()
    service.sender.failing = True
    with pytest.raises(MailSendFailed):
        service.deliver(job)
    unsent = next(iter(users.one_time_tokens))  # issued before the send failed
    service.sender.failing = False
    clock.now += 60
    assert service.deliver(job).outcome is Outcome.SENT  # the retry
    assert next(reversed(users.one_time_tokens)) != unsent  # a new link: the unsent one is dead
    assert service.deliver(MailJob(MailKind.RESET_PASSWORD, ANN)).outcome is Outcome.SENT
    assert service.deliver(MailJob(MailKind.RESET_PASSWORD, ANN)).outcome is Outcome.SUPPRESSED
    for mail in service.sender.to(ANN):
        assert mail.message.text.count(f"{APP_URL}/reset-password#token=") == 1


# --- login and refresh follow the account ---------------------------------------------------


def test_an_unverified_account_is_refused_only_after_the_right_password(service: Flows) -> None:
    service.signup(ANN, PASSWORD)
    with pytest.raises(LoginFailed) as wrong:
        service.login(ANN, WRONG, issuer=ISSUER)
    assert answer_for(wrong.value).status == 401
    with pytest.raises(EmailNotVerified) as unverified:
        service.login(ANN, PASSWORD, issuer=ISSUER)
    assert (answer_for(unverified.value).status, answer_for(unverified.value).code) == (
        403,
        "email_not_verified",
    )
    assert ANN not in service.users.failures  # the right password is not a failure
    assert service.sessions.tokens == {}


def test_a_never_verified_account_past_its_expiry_is_an_unknown_email(
    service: Flows, clock: Clock
) -> None:
    service.signup(ANN, PASSWORD)
    clock.now += 86400
    with pytest.raises(LoginFailed):
        service.login(ANN, PASSWORD, issuer=ISSUER)


def test_refreshed_tokens_follow_verification(optional: Flows, key_set: KeySet) -> None:
    optional.signup(ANN, PASSWORD)
    grant = optional.login(ANN, PASSWORD, issuer=ISSUER)
    assert claims(key_set, grant.access_token)["email_verified"] is False
    optional.deliver_queued()
    optional.verify_email(optional.token_for(ANN, "verify_email"))
    refreshed = optional.refresh(grant.refresh_token, issuer=ISSUER)
    assert refreshed.session_id == grant.session_id
    assert claims(key_set, refreshed.access_token)["email_verified"] is True
    again = optional.refresh(refreshed.refresh_token, issuer=ISSUER)
    assert claims(key_set, again.access_token)["email_verified"] is True


def test_a_reset_ends_sessions_opened_before_it_but_not_after(
    service: Flows, key_set: KeySet
) -> None:
    service.signup_verified(ANN, PASSWORD)
    before = service.login(ANN, PASSWORD, issuer=ISSUER)
    service.forgot_password(ANN)
    service.deliver_queued()
    service.reset_password(service.token_for(ANN, "reset_password"), NEW)
    after = service.login(ANN, NEW, issuer=ISSUER)
    with pytest.raises(RefreshRejected) as ended:
        service.refresh(before.refresh_token, issuer=ISSUER)
    assert ended.value.reason == "account_changed"
    assert before.session_id in service.sessions.revoked
    assert service.refresh(after.refresh_token, issuer=ISSUER).session_id == after.session_id


def test_mail_goes_to_the_ascii_form_of_the_address(service: Flows) -> None:
    service.signup("ann@exämple.com", PASSWORD)
    service.deliver_queued()
    (mail,) = service.sender.sent
    assert mail.to == "ann@xn--exmple-cua.com"
    service.verify_email(service.token_for("ann@exämple.com", "verify_email"))


def test_an_address_that_needs_smtputf8_is_not_mailed(service: Flows) -> None:
    service.signup("\u0430nn@example.com", PASSWORD)  # Cyrillic a in the local part
    (delivery,) = service.deliver_queued()
    assert delivery.outcome is Outcome.SKIPPED
    assert service.sender.sent == []
    assert service.users.one_time_tokens == {}
