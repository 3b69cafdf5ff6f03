"""Password policy, argon2id hashing and email normalisation."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from stateless_auth.domain import passwords
from stateless_auth.domain.emails import normalise_email
from stateless_auth.domain.errors import InvalidRequest, WeakPassword


def test_length_is_counted_after_nfkc() -> None:
    # U+FB01 (the "fi" ligature) is one character that NFKC turns into two.
    assert passwords.check_password_policy("\ufb01" * 8, min_length=15) == "fi" * 8
    with pytest.raises(WeakPassword):
        passwords.check_password_policy("\ufb01" * 7, min_length=15)


def test_no_composition_rules_and_never_truncated() -> None:
    assert passwords.check_password_policy("a" * 15, min_length=15)
    long = "p" * 128
    hashed = passwords.hash_password(long)
    assert passwords.verify_password(hashed, long)
    assert not passwords.verify_password(hashed, long[:-1] + "q")


def test_hash_is_argon2id_at_owasp_parameters_or_stronger() -> None:
    hashed = passwords.hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    params = hashed.split("$")[3]
    values = dict(item.split("=") for item in params.split(","))
    assert int(values["m"]) >= 19 * 1024
    assert int(values["t"]) >= 2
    assert int(values["p"]) == 1


def test_equivalent_unicode_forms_verify() -> None:
    hashed = passwords.hash_password("Ｐassword-with-fullwidth")
    assert passwords.verify_password(hashed, "Password-with-fullwidth")


def test_malformed_hash_never_raises() -> None:
    assert passwords.verify_password("not a hash", "x") is False
    assert passwords.needs_rehash("not a hash") is True


def test_weaker_hash_needs_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")
    assert passwords.needs_rehash(weak)
    assert not passwords.needs_rehash(passwords.hash_password("pw"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ann@Example.com", "ann@example.com"),
        ("  ann@example.com\t", "ann@example.com"),
        ("ａｎｎ@ｅｘａｍｐｌｅ.com", "ann@example.com"),
        # Issue 8: the domain is IDNA-normalised, so both spellings are one account.
        ("ann@exämple.com", "ann@exämple.com"),
        ("ann@xn--exmple-cua.com", "ann@exämple.com"),
        ("Ann@XN--EXMPLE-CUA.COM", "ann@exämple.com"),
        ("ann@EXÄMPLE.com", "ann@exämple.com"),
    ],
)
def test_email_normalisation(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "ann", "@example.com", "ann@", "ann@localhost", "a b@example.com", "a@b@", "a\x00@x.io"],
)
def test_invalid_emails(raw: str) -> None:
    with pytest.raises(InvalidRequest):
        normalise_email(raw)


def test_the_unknown_email_hash_has_the_current_parameters_and_matches_nobody() -> None:
    """Login checks an unknown email's password against it: with other parameters the two
    paths would differ in time (and needs_rehash says so); no common password matches."""
    assert not passwords.needs_rehash(passwords.UNKNOWN_EMAIL_HASH)
    assert passwords.UNKNOWN_EMAIL_HASH.startswith("$argon2id$")
    for guess in ("", "password", "correct horse battery staple", "x" * 64):
        assert not passwords.verify_password(passwords.UNKNOWN_EMAIL_HASH, guess)
