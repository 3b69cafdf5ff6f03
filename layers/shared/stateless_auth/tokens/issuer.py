"""The deployment's one fixed `iss` when the stack publishes it (docs/tokens.md "Issuer")."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from stateless_auth.domain.errors import KeySetError


class PublishedIssuer:
    """The issuer the stack published in a secret, read through `fetch`.

    A secret, not an SSM parameter: its resource policy lets only CloudFormation change
    it (a changed issuer would deny every token and point discovery elsewhere).

    Read on first use (the extension may still be starting during init) and again every
    `refresh_seconds`, so a changed JwtIssuer reaches warm functions as the keys do; a
    failed re-read keeps the value it had.
    """

    def __init__(
        self,
        fetch: Callable[[], str],
        *,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._value = ""
        self._loaded_at = 0.0

    def __call__(self) -> str:
        now = self._clock()
        if self._value and now - self._loaded_at < self._refresh_seconds:
            return self._value
        with self._lock:
            try:
                value = self._fetch().strip().rstrip("/")
            except KeySetError:
                if self._value:
                    return self._value
                raise
            if not value.startswith(("https://", "http://")):
                if self._value:
                    return self._value
                raise KeySetError("the published issuer is not a URL")
            self._value, self._loaded_at = value, now
            return value
