"""The second factor's checks (domain/mfa.py) for arbitrary secrets, clocks, last
accepted steps and typed input: a TOTP code is accepted only for a step of its own,
within one step of the clock and later than the last accepted one, and the right code
of such a step always is; anything typed is a code of at most one step, and no input
raises. A recovery code parses the same whatever its case, dashes and spaces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stateless_auth.domain import mfa

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
secrets = st.text(alphabet=BASE32, min_size=32, max_size=32)
# From 1970's fourth step to beyond 2100 (the window never reaches below step 0).
clocks = st.floats(min_value=120, max_value=5_000_000_000, allow_nan=False)


@given(secret=secrets, now=clocks, offset=st.integers(-4, 4), behind=st.integers(-3, 3))
def test_a_code_is_accepted_exactly_within_the_window_and_after_the_last_step(
    secret: str, now: float, offset: int, behind: int
) -> None:
    current = mfa.time_step(now)
    step = current + offset
    after_step = step + behind  # the account's last accepted step, around the code's
    typed = mfa.totp_code(secret, step)
    accepted = mfa.accepted_step(secret, typed, now=now, after_step=after_step)
    if accepted is not None:
        # Whatever step it was taken for is one the code is really of, in the window,
        # after the last accepted one (another step's code may collide: one in 10^6).
        assert mfa.totp_code(secret, accepted) == typed
        assert abs(accepted - current) <= mfa.TOTP_SKEW_STEPS
        assert accepted > after_step
    if abs(offset) <= 1 and step > after_step:
        assert accepted is not None


@given(secret=secrets, now=clocks, typed=st.text(max_size=80), after=st.integers(-5, 5))
def test_any_input_is_a_code_of_one_window_step_or_none(
    secret: str, now: float, typed: str, after: int
) -> None:
    current = mfa.time_step(now)
    accepted = mfa.accepted_step(secret, typed, now=now, after_step=current + after)
    if accepted is not None:
        digits = typed.strip().replace(" ", "")
        assert digits.isascii()
        assert mfa.totp_code(secret, accepted) == digits
        assert accepted > current + after
        assert abs(accepted - current) <= 1


@given(
    body=st.text(alphabet="abcdefghijklmnopqrstuvwxyz234567", min_size=20, max_size=20),
    data=st.data(),
)
def test_a_recovery_code_parses_the_same_however_it_is_typed(
    body: str, data: st.DataObject
) -> None:
    typed = ""
    for char in body:
        typed += data.draw(st.sampled_from(["", "", "-", " ", "\t", "--"]))
        typed += char.upper() if data.draw(st.booleans()) else char
    typed += data.draw(st.sampled_from(["", " ", "\n", "-"]))
    if len(typed) > mfa.MAX_CODE_INPUT:
        assert mfa.parse_recovery_code(typed) is None
    else:
        assert mfa.parse_recovery_code(typed) == (body[:4], body)


@given(typed=st.text(max_size=100))
def test_any_parsed_recovery_code_is_twenty_base32_characters(typed: str) -> None:
    parsed = mfa.parse_recovery_code(typed)
    if parsed is not None:
        code_id, code = parsed
        assert len(code) == 20
        assert set(code) <= set("abcdefghijklmnopqrstuvwxyz234567")
        assert code.startswith(code_id)
        assert len(code_id) == 4
