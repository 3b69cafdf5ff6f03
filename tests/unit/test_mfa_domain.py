"""The second factor's domain (domain/mfa.py), with an injected clock: TOTP against RFC
6238 Appendix B, the skew window, replay (a step not later than the last accepted one),
malformed codes; recovery codes (ids, entropy, format, parsing, argon2id hashes); and the
`amr`/`acr` a session gets."""

from __future__ import annotations

import base64
import re

import pyotp
import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from stateless_auth.domain import factors, mfa

# RFC 6238 Appendix B: the SHA-1 key is the ASCII string "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
# (time, the 8-digit TOTP of Appendix B's SHA-1 column): a 6-digit code is its last six.
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
SIX_DIGIT_VECTORS = [(now, code[-6:]) for now, code in RFC_VECTORS]
# The skew cases move the verifier's clock up to three steps either way: not before 1970's
# first steps (a window there would reach step -1, which no real clock reads).
SKEWABLE_VECTORS = [(now, code) for now, code in SIX_DIGIT_VECTORS if now >= 4 * 30]


def test_the_rfc_secret_is_the_one_appendix_b_names() -> None:
    assert RFC_SECRET == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


@pytest.mark.parametrize(("now", "code"), SIX_DIGIT_VECTORS)
def test_totp_codes_are_rfc_6238s(now: int, code: str) -> None:
    assert mfa.time_step(now) == now // 30
    assert mfa.totp_code(RFC_SECRET, mfa.time_step(now)) == code


@pytest.mark.parametrize(("now", "code"), SIX_DIGIT_VECTORS)
def test_the_code_of_the_clocks_step_is_accepted_for_that_step(now: int, code: str) -> None:
    assert mfa.accepted_step(RFC_SECRET, code, now=now, after_step=0) == now // 30


def test_the_eight_digit_codes_themselves_are_not_ours() -> None:
    for now, code in RFC_VECTORS:
        assert mfa.accepted_step(RFC_SECRET, code, now=now, after_step=0) is None


@pytest.mark.parametrize(("now", "code"), SKEWABLE_VECTORS)
@pytest.mark.parametrize("skew", [-1, 1])
def test_one_step_of_clock_skew_either_way_is_accepted(now: int, code: str, skew: int) -> None:
    # The verifier's clock is a step ahead (skew -1: the code is of the step before) or
    # behind: the code is still accepted, for its own step.
    verifier_now = now - skew * 30
    assert mfa.accepted_step(RFC_SECRET, code, now=verifier_now, after_step=0) == now // 30


@pytest.mark.parametrize(("now", "code"), SKEWABLE_VECTORS)
@pytest.mark.parametrize("skew", [-3, -2, 2, 3])
def test_two_steps_or_more_of_skew_is_refused(now: int, code: str, skew: int) -> None:
    verifier_now = now - skew * 30
    assert mfa.accepted_step(RFC_SECRET, code, now=verifier_now, after_step=0) is None


def test_the_window_edges_are_whole_steps() -> None:
    now, code = SIX_DIGIT_VECTORS[2]  # 1111111111: step 37037037, 21 s into it
    step = now // 30
    first, last = (step - 1) * 30, (step + 2) * 30 - 1  # the clock's steps it is valid at
    assert mfa.accepted_step(RFC_SECRET, code, now=first, after_step=0) == step
    assert mfa.accepted_step(RFC_SECRET, code, now=last, after_step=0) == step
    assert mfa.accepted_step(RFC_SECRET, code, now=first - 1, after_step=0) is None
    assert mfa.accepted_step(RFC_SECRET, code, now=last + 1, after_step=0) is None


@pytest.mark.parametrize(("now", "code"), SIX_DIGIT_VECTORS)
def test_a_step_not_later_than_the_last_accepted_one_is_refused(now: int, code: str) -> None:
    step = now // 30
    assert mfa.accepted_step(RFC_SECRET, code, now=now, after_step=step - 1) == step
    assert mfa.accepted_step(RFC_SECRET, code, now=now, after_step=step) is None  # a replay
    assert mfa.accepted_step(RFC_SECRET, code, now=now, after_step=step + 1) is None


def test_an_earlier_steps_code_is_refused_once_a_later_step_was_accepted() -> None:
    # The code of the step before the clock's is in the window, but the account already
    # accepted the clock's own step: its earlier code must not work any more.
    now = 1_800_000_015
    step = mfa.time_step(now)
    earlier = mfa.totp_code(RFC_SECRET, step - 1)
    assert mfa.accepted_step(RFC_SECRET, earlier, now=now, after_step=step - 2) == step - 1
    assert mfa.accepted_step(RFC_SECRET, earlier, now=now, after_step=step) is None
    later = mfa.totp_code(RFC_SECRET, step + 1)
    assert mfa.accepted_step(RFC_SECRET, later, now=now, after_step=step) == step + 1


def test_a_code_of_another_secret_is_refused() -> None:
    other = mfa.new_totp_secret()
    now = 1_800_000_000
    code = mfa.totp_code(other, mfa.time_step(now))
    if code in {mfa.totp_code(RFC_SECRET, mfa.time_step(now) + d) for d in (-1, 0, 1)}:
        pytest.skip("the two secrets' codes collide in this window (one in 333,333)")
    assert mfa.accepted_step(RFC_SECRET, code, now=now, after_step=0) is None


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "28708",  # five digits
        "2870820",  # seven
        "0287082",  # the right six with a leading zero
        "28708a",
        "abcdef",
        "28708２",  # a fullwidth digit
        "١٢٣٤٥٦",  # Arabic-Indic digits: str.isdigit() says yes, int() reads them
        "２８７０８２",  # the right code in fullwidth digits
        "²⁸⁷⁰⁸²",  # superscripts: isdigit() again
        "      ",
        "\t\n",
        "287\t082",
        "287\n082",
        "287-082",
        "+87082",
        "-87082",
        "2870.2",
        "287082" * 10,
        "2" * 100_000,
    ],
)
def test_malformed_codes_are_refused(typed: str) -> None:
    now, _ = SIX_DIGIT_VECTORS[0]
    assert mfa.accepted_step(RFC_SECRET, typed, now=now, after_step=0) is None


def test_the_right_code_in_unicode_digits_is_refused() -> None:
    # The Arabic-Indic spelling of the right code: int() would read it as the code.
    now, code = SIX_DIGIT_VECTORS[0]
    arabic = "".join(chr(0x0660 + int(d)) for d in code)
    assert int(arabic) == int(code)
    assert mfa.accepted_step(RFC_SECRET, arabic, now=now, after_step=0) is None


@pytest.mark.parametrize("typed", ["287082", " 287082", "287082 ", "287 082", " 287 082 "])
def test_a_code_may_be_typed_with_the_spaces_an_app_shows(typed: str) -> None:
    # Authenticator apps show "287 082": the spaces (and surrounding ones) are ignored;
    # any other whitespace inside is not (above).
    now, _ = SIX_DIGIT_VECTORS[0]
    assert mfa.accepted_step(RFC_SECRET, typed, now=now, after_step=0) == now // 30


def test_new_secrets_are_160_bit_base32_and_distinct() -> None:
    secrets = {mfa.new_totp_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        assert len(base64.b32decode(secret)) == 20  # 160 bits


def test_the_provisioning_uri_is_the_key_uri_format() -> None:
    secret = mfa.new_totp_secret()
    uri = mfa.provisioning_uri(secret, account="ann@example.com", issuer_name="Stateless Auth")
    assert uri.startswith("otpauth://totp/")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == secret
    assert (parsed.digits, parsed.interval, parsed.digest().name) == (6, 30, "sha1")
    assert parsed.issuer == "Stateless Auth"
    assert parsed.name == "ann@example.com"
    # What an app computes from the URI is what the service accepts.
    now = 1_800_000_000
    assert mfa.accepted_step(secret, parsed.at(now), now=now, after_step=0) == now // 30


# --- recovery codes -----------------------------------------------------------------------

CODE_FORMAT = re.compile(r"[a-z2-7]{4}(-[a-z2-7]{4}){4}")


@pytest.fixture(scope="module")
def fresh() -> mfa.RecoveryCodes:
    return mfa.new_recovery_codes()


def test_a_set_is_ten_codes_with_unique_public_ids(fresh: mfa.RecoveryCodes) -> None:
    assert len(fresh.codes) == mfa.RECOVERY_CODE_COUNT == 10
    ids = [code[:4] for code in fresh.codes]
    assert len(set(ids)) == 10
    assert set(fresh.hashes) == set(ids)
    assert len(set(fresh.codes)) == 10


def test_codes_are_five_lower_case_base32_groups_of_four(fresh: mfa.RecoveryCodes) -> None:
    for code in fresh.codes:
        assert CODE_FORMAT.fullmatch(code), code


def test_a_code_carries_80_random_bits_beside_its_id() -> None:
    assert mfa.RECOVERY_SECRET_CHARS * 5 == 80  # base32: 5 bits a character
    # Every character of the secret part varies across sets (no fixed or derived part).
    secrets = [
        code.replace("-", "")[4:] for _ in range(5) for code in mfa.new_recovery_codes().codes
    ]
    assert len(set(secrets)) == len(secrets)
    for position in range(mfa.RECOVERY_SECRET_CHARS):
        assert len({secret[position] for secret in secrets}) > 1


def test_only_argon2id_hashes_of_the_whole_codes_are_stored(fresh: mfa.RecoveryCodes) -> None:
    for code in fresh.codes:
        parsed = mfa.parse_recovery_code(code)
        assert parsed is not None
        code_id, normalised = parsed
        stored = fresh.hashes[code_id]
        assert stored.startswith("$argon2id$")
        assert code not in stored
        assert normalised not in stored
        assert normalised[4:] not in stored
        assert PasswordHasher().verify(stored, normalised)  # a standard argon2id hash
        assert mfa.recovery_code_matches(stored, normalised)


def test_a_code_matches_its_own_hash_only(fresh: mfa.RecoveryCodes) -> None:
    first, second = (mfa.parse_recovery_code(code) for code in fresh.codes[:2])
    assert first is not None
    assert second is not None
    assert not mfa.recovery_code_matches(fresh.hashes[first[0]], second[1])
    assert not mfa.recovery_code_matches(fresh.hashes[second[0]], first[1])
    # The right id with another secret.
    forged = first[1][:4] + second[1][4:]
    assert not mfa.recovery_code_matches(fresh.hashes[first[0]], forged)


def test_an_unknown_id_is_false(fresh: mfa.RecoveryCodes) -> None:
    parsed = mfa.parse_recovery_code(fresh.codes[0])
    assert parsed is not None
    assert mfa.recovery_code_matches(None, parsed[1]) is False
    assert mfa.recovery_code_matches(None, "") is False


def test_a_malformed_stored_hash_is_false() -> None:
    assert mfa.recovery_code_matches("not a hash", "a" * 20) is False
    assert mfa.recovery_code_matches("", "a" * 20) is False


def test_each_set_is_new() -> None:
    first, second = mfa.new_recovery_codes(), mfa.new_recovery_codes()
    assert not set(first.codes) & set(second.codes)


@pytest.mark.parametrize(
    "typed",
    [
        "abcd-efgh-ijkl-mnop-qrst",
        "ABCD-EFGH-IJKL-MNOP-QRST",
        "AbCd-eFgH-iJkL-mNoP-qRsT",
        "abcdefghijklmnopqrst",
        "abcd efgh ijkl mnop qrst",
        "  abcd-efgh-ijkl-mnop-qrst  ",
        "abcd--efgh-ijkl-mnop-qrst",
        "ab-cd-ef-gh-ij-kl-mn-op-qr-st",
        "abcd-efgh-ijkl-mnop-qrst\n",
        "abcd\tefgh ijkl-mnop qrst",
    ],
)
def test_a_typed_code_is_parsed_whatever_its_case_dashes_and_spaces(typed: str) -> None:
    assert mfa.parse_recovery_code(typed) == ("abcd", "abcdefghijklmnopqrst")


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "abcd-efgh-ijkl-mnop",  # 16 characters
        "abcd-efgh-ijkl-mnop-qrs",  # 19
        "abcd-efgh-ijkl-mnop-qrstu",  # 21
        "abcd-efgh-ijkl-mnop-qrs1",  # 1 is not base32
        "abcd-efgh-ijkl-mnop-qrs8",
        "abcd-efgh-ijkl-mnop-qrs0",
        "abcd_efgh_ijkl_mnop_qrst",
        "abcd-efgh-ijkl-mnop-qrs\u00e9",
        "ａｂｃｄ-efgh-ijkl-mnop-qrst",  # fullwidth letters
        "-" * 50 + "abcdefghijklmnopqrst",  # too long to be typed as a code
        "a" * 100_000,
    ],
)
def test_anything_else_is_no_recovery_code(typed: str) -> None:
    assert mfa.parse_recovery_code(typed) is None


def test_every_code_of_a_set_parses_back_to_its_id(fresh: mfa.RecoveryCodes) -> None:
    for code in fresh.codes:
        assert mfa.parse_recovery_code(code.upper()) == (code[:4], code.replace("-", ""))


def test_a_code_typed_in_upper_case_matches_its_hash(fresh: mfa.RecoveryCodes) -> None:
    parsed = mfa.parse_recovery_code(fresh.codes[3].upper().replace("-", " "))
    assert parsed is not None
    assert mfa.recovery_code_matches(fresh.hashes[parsed[0]], parsed[1])


def test_recovery_codes_have_at_least_64_bits() -> None:
    # The floor, whatever the constants become.
    assert mfa.RECOVERY_SECRET_CHARS * 5 >= 64


def test_a_hash_refuses_any_other_input() -> None:
    stored = next(iter(mfa.new_recovery_codes(1).hashes.values()))
    with pytest.raises(VerificationError):
        PasswordHasher().verify(stored, "x")


# --- amr and acr ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amr", "acr"),
    [
        (("pwd",), "aal1"),
        (["pwd"], "aal1"),
        ((), "aal1"),
        (("pwd", "otp"), "aal2"),
        (["pwd", "mfa"], "aal2"),
        (("otp",), "aal2"),
        (("pwd", "sms"), "aal1"),
        (("pwd", "hwk"), "aal1"),  # a method we never issue earns nothing
    ],
)
def test_acr_of(amr: tuple[str, ...] | list[str], acr: str) -> None:
    assert factors.acr_of(amr) == acr


def test_the_amr_of_each_factor() -> None:
    assert factors.AMR_PASSWORD == ("pwd",)
    assert factors.amr_for(factors.TotpUse("S", 1)) == ("pwd", "otp")
    assert factors.amr_for(factors.RecoveryCodeUse("abcd", "$argon2id$h")) == ("pwd", "mfa")
    assert (
        factors.acr_of(factors.amr_for(factors.TotpUse("S", 1)))
        == factors.ACR_MULTI_FACTOR
        == "aal2"
    )
    assert factors.acr_of(factors.AMR_PASSWORD) == factors.ACR_SINGLE_FACTOR == "aal1"
