"""Small text helpers shared by the core (search normalisation, check digits)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NON_ALNUM = re.compile(r"[^0-9A-Z]+")


def search_norm(value: str | None) -> str | None:
    """Upper case, accents and punctuation removed: 'O'Brien-Smith' -> 'OBRIENSMITH'."""
    if not value:
        return None
    folded = unicodedata.normalize("NFKD", value)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).upper()
    return _NON_ALNUM.sub("", folded) or None


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def lock_id(text: str) -> int:
    """A stable signed 64-bit number for a PostgreSQL advisory lock."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)
