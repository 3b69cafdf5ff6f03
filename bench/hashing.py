"""Informational: the password checks that dominate signup and login."""

from __future__ import annotations

import secrets
import time

from bench.common import Row, median, ms, time_per_call, us

SECTION = "passwords"


def run(*, hashes: int = 7, lookups: int = 20000) -> list[Row]:
    from stateless_auth.domain import breached, passwords

    breached._prefixes.cache_clear()
    started = time.perf_counter()
    size = breached.size()
    load = time.perf_counter() - started

    candidates = [secrets.token_urlsafe(12) for _ in range(lookups // 2)]
    candidates += ["password", "correct horse battery staple"] * (lookups // 4)
    lookup = median(time_per_call(breached.is_breached, candidates) for _ in range(5))

    password = "correct horse battery staple"
    hash_times = []
    verify_times = []
    stored = passwords.hash_password(password)
    for _ in range(hashes):
        started = time.perf_counter()
        stored = passwords.hash_password(password)
        hash_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        if not passwords.verify_password(stored, password):
            raise RuntimeError("argon2 verify failed")
        verify_times.append(time.perf_counter() - started)
    parameters = stored.split("$")[3] if stored.count("$") >= 4 else ""
    return [
        Row(
            SECTION,
            "breached-password lookup (is_breached)",
            lookup,
            us(lookup),
            note=f"per call over {lookups} candidates, {size} prefixes shipped",
        ),
        Row(SECTION, "breached-password list load (first call)", load, ms(load)),
        Row(
            SECTION,
            "argon2id hash (hash_password)",
            median(hash_times),
            ms(median(hash_times)),
            note=f"median of {hashes}; {parameters}; one core of this machine",
        ),
        Row(
            SECTION,
            "argon2id verify (verify_password)",
            median(verify_times),
            ms(median(verify_times)),
            note=f"median of {hashes}",
        ),
    ]
