"""Build layers/shared/stateless_auth/domain/data/breached-passwords.bin from a password list.

Usage: python scripts/build_breached_list.py SOURCE [--top N] [--min-length L]

SOURCE holds one password per line, most common first (a .json list also works).
Only the first N entries are taken; entries shorter than L characters are dropped,
because the length rule refuses them before the list is consulted (L defaults to 8,
the smallest PASSWORD_MIN_LENGTH allowed).
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from array import array
from pathlib import Path

from stateless_auth.domain.breached import DATA_FILE, fingerprint

ROOT = Path(__file__).resolve().parent.parent

OUTPUT = ROOT / "layers" / "shared" / "stateless_auth" / "domain" / "data" / DATA_FILE


def read_source(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".json":
        return [str(item) for item in json.loads(text)]
    return [line.rstrip("\r\n") for line in text.splitlines() if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("--top", type=int, default=100_000)
    parser.add_argument("--min-length", type=int, default=8)
    args = parser.parse_args()
    entries = read_source(args.source)[: args.top]
    kept = {
        fingerprint(p) for p in entries if len(unicodedata.normalize("NFKC", p)) >= args.min_length
    }
    table = array("Q", sorted(kept))
    if sys.byteorder == "little":
        table.byteswap()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(table.tobytes())
    print(f"{len(entries)} entries read, {len(kept)} of length >= {args.min_length} kept")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({OUTPUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
