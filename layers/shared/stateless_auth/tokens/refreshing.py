"""A value read from the outside on first use and again on a schedule (the signing keys,
the published issuer): one implementation of "cache it, re-read it, keep it on failure"."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from stateless_auth.domain.errors import KeySetError

T = TypeVar("T")


class Refreshing(Generic[T]):
    """`parse(fetch())`, read on first use and again every `refresh_seconds`.

    A failed read or parse (KeySetError) keeps the value it had; with none yet, it raises.
    A fresh value is returned without taking the lock (the warm path).
    """

    def __init__(
        self,
        fetch: Callable[[], str],
        parse: Callable[[str], T],
        *,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._parse = parse
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._loaded_at = 0.0

    def get(self) -> T:
        now = self._clock()
        value = self._value
        if value is not None and now - self._loaded_at < self._refresh_seconds:
            return value
        with self._lock:
            try:
                value = self._parse(self._fetch())
            except KeySetError:
                if self._value is None:
                    raise
                return self._value
            self._value, self._loaded_at = value, now
            return value
