"""The deployment's one fixed `iss` when the stack publishes it (docs/tokens.md "Issuer")."""

from __future__ import annotations

import time
from collections.abc import Callable

from stateless_auth.domain.errors import KeySetError
from stateless_auth.tokens.refreshing import Refreshing


def _issuer_url(document: str) -> str:
    value = document.strip().rstrip("/")
    if not value.startswith(("https://", "http://")):
        raise KeySetError("the published issuer is not a URL")
    return value


class PublishedIssuer:
    """The issuer the stack published in a secret, read through `fetch`.

    A secret, not an SSM parameter: its resource policy lets only CloudFormation change
    it (a changed issuer would deny every token and point discovery elsewhere).

    Read on first use (the extension may still be starting during init) and again every
    `refresh_seconds`, so a changed JwtIssuer reaches warm functions as the keys do; a
    failed re-read, or a value that is not a URL, keeps the value it had.
    """

    def __init__(
        self,
        fetch: Callable[[], str],
        *,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = Refreshing(fetch, _issuer_url, refresh_seconds=refresh_seconds, clock=clock)

    def __call__(self) -> str:
        return self._issuer.get()
