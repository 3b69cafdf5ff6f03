"""Membership in the shipped list of common and breached passwords.

The list is stored as sorted 64-bit prefixes of SHA-256(lower-cased NFKC password),
big-endian, in `data/breached-passwords.bin` (built by scripts/build_breached_list.py).
Loading is one array copy; a lookup is a binary search in C: microseconds, no plaintext
passwords in the layer. Prefix collisions are ~1e-14 per check: harmless, since a
collision only asks the user for another password.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import sys
import unicodedata
from array import array
from importlib import resources

DATA_FILE = "breached-passwords.bin"
PREFIX_BYTES = 8


def fingerprint(password: str) -> int:
    """The 64-bit prefix stored for a password (NFKC, lower-cased)."""
    folded = unicodedata.normalize("NFKC", password).lower()
    digest = hashlib.sha256(folded.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:PREFIX_BYTES], "big")


@functools.cache
def _prefixes() -> array[int]:
    data = resources.files("stateless_auth.domain").joinpath("data", DATA_FILE).read_bytes()
    table = array("Q")
    table.frombytes(data)
    if sys.byteorder == "little":
        table.byteswap()
    return table


def size() -> int:
    """How many passwords the shipped list holds."""
    return len(_prefixes())


def is_breached(password: str) -> bool:
    """Whether the password (compared case-insensitively) is on the list."""
    table = _prefixes()
    value = fingerprint(password)
    index = bisect.bisect_left(table, value)
    return index < len(table) and table[index] == value
