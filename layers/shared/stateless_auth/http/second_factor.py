"""The second factor as a request carries it: `{"code"}` (from the authenticator app)
or `{"recovery_code"}`, exactly one of the two."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stateless_auth.domain.errors import InvalidRequest
from stateless_auth.http.requests import optional_string_field
from stateless_auth.usecases.mfa import SecondFactor

ONE_OF = "send exactly one of 'code' (from the authenticator app) and 'recovery_code'"


def second_factor_field(body: Mapping[str, Any]) -> SecondFactor:
    code = optional_string_field(body, "code", max_length=64)
    recovery_code = optional_string_field(body, "recovery_code", max_length=64)
    if (code is None) == (recovery_code is None):
        raise InvalidRequest(ONE_OF)
    return SecondFactor(code=code, recovery_code=recovery_code)
