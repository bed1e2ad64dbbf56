"""Comparators: a registry of name -> (a, b) -> similarity in [0, 1] over normalised values.

Scorecard levels refer to comparators by name; the engine calls them only with two present
(non-None) normalised values. Categorical comparators (dates, nicknames, phonetic codes) return
documented constants so that levels can select them with `min_similarity`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import jellyfish
from nicknames import NickNamer
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein
from rapidfuzz.fuzz import token_sort_ratio

Comparator = Callable[[str, str], float]

_CACHE = 65536


def exact(a: str, b: str) -> float:
    return 1.0 if a == b else 0.0


def jaro_winkler(a: str, b: str) -> float:
    return JaroWinkler.normalized_similarity(a, b)


def levenshtein(a: str, b: str) -> float:
    return Levenshtein.normalized_similarity(a, b)


def damerau_levenshtein(a: str, b: str) -> float:
    return DamerauLevenshtein.normalized_similarity(a, b)


def token_sort(a: str, b: str) -> float:
    """Similarity of the sorted tokens: "12 MAIN ST" vs "MAIN ST 12" is 1.0."""
    return token_sort_ratio(a, b) / 100.0


@lru_cache(maxsize=_CACHE)
def soundex_code(value: str) -> str:
    return jellyfish.soundex(value.replace(" ", ""))


@lru_cache(maxsize=_CACHE)
def metaphone_code(value: str) -> str:
    return jellyfish.metaphone(value.replace(" ", ""))


@lru_cache(maxsize=_CACHE)
def nysiis_code(value: str) -> str:
    return jellyfish.nysiis(value.replace(" ", ""))


def soundex(a: str, b: str) -> float:
    return 1.0 if soundex_code(a) == soundex_code(b) else 0.0


def metaphone(a: str, b: str) -> float:
    return 1.0 if metaphone_code(a) == metaphone_code(b) else 0.0


def nysiis(a: str, b: str) -> float:
    return 1.0 if nysiis_code(a) == nysiis_code(b) else 0.0


def phonetic(a: str, b: str) -> float:
    """1.0 when the Metaphone or the NYSIIS codes agree (Soundex alone is too coarse)."""
    return 1.0 if metaphone_code(a) == metaphone_code(b) or nysiis_code(a) == nysiis_code(b) else 0.0


_NICKNAMER = NickNamer()


@lru_cache(maxsize=_CACHE)
def nickname_group(token: str) -> frozenset[str]:
    """The canonical names a name may stand for, itself included (from the `nicknames` table)."""
    name = token.lower()
    return frozenset({name} | _NICKNAMER.canonicals_of(name))


def nickname(a: str, b: str) -> float:
    """1.0 when the first tokens are the same person's name: Bob/Robert, Peggy/Margaret, Bob/Rob."""
    first_a, first_b = a.split(" ", 1)[0], b.split(" ", 1)[0]
    if first_a == first_b:
        return 1.0
    return 1.0 if nickname_group(first_a) & nickname_group(first_b) else 0.0


def name_tokens(a: str, b: str) -> float:
    """1.0 when one compound name contains the other ("GARCIA LOPEZ" vs "LOPEZ") or they differ
    only in spacing ("VANDERBERG" vs "VAN DERBERG"); 0.0 otherwise."""
    if a.replace(" ", "") == b.replace(" ", ""):
        return 1.0
    tokens_a, tokens_b = set(a.split(" ")), set(b.split(" "))
    shorter = tokens_a if len(tokens_a) <= len(tokens_b) else tokens_b
    longer = tokens_b if shorter is tokens_a else tokens_a
    if len(longer) > 1 and shorter <= longer and all(len(t) > 1 for t in shorter):
        return 1.0
    return 0.0


def initial(a: str, b: str) -> float:
    """1.0 when one value is a bare initial and the first letters agree ("T" vs "TERI")."""
    if (len(a) == 1 or len(b) == 1) and a[0] == b[0]:
        return 1.0
    return 0.0


def prefix3(a: str, b: str) -> float:
    """1.0 when the first three characters agree: the forward sortation area of a Canadian postal
    code, the sectional centre of a US ZIP code."""
    return 1.0 if len(a) >= 3 and a[:3] == b[:3] else 0.0


def phone_local(a: str, b: str) -> float:
    """1.0 when the last seven digits agree (same local number, area code missing or changed)."""
    return 1.0 if a[-7:] == b[-7:] else 0.0


def _split_house(line: str) -> tuple[str, str]:
    number, _, street = line.partition(" ")
    return (number, street) if number.isdigit() else ("", line)


@lru_cache(maxsize=_CACHE)
def street_address(a: str, b: str) -> float:
    """Street similarity (Jaro-Winkler on the street without spaces, so "MAIN ST" and "MAINST" agree)
    scaled by the house number: x1 when equal, x0.9 when one is missing, x0.8 when they
    differ, so "12 MAIN ST" vs "12 MAIN STRET" is close but "14 MAIN ST" only the same street."""
    if a == b:
        return 1.0
    number_a, street_a = _split_house(a)
    number_b, street_b = _split_house(b)
    if not street_a or not street_b:  # a bare house number says nothing about the street
        return 0.0
    similarity = JaroWinkler.normalized_similarity(street_a.replace(" ", ""), street_b.replace(" ", ""))
    if number_a == number_b:
        return min(similarity, 0.99)
    return similarity * (0.9 if not (number_a and number_b) else 0.8)


# Birth-date outcomes, strongest first; levels select them with min_similarity.
DATE_EXACT = 1.0
DATE_TRANSPOSED = 0.9  # day and month swapped
DATE_ONE_DIGIT = 0.8  # one digit differs or two adjacent digits swapped, years at most ten apart
DATE_YEAR_OFF = 0.7  # same month and day, year off by one or by ten
DATE_PARTIAL = 0.5  # one date is partial (year or year-month) and agrees with the other
DATE_DIFFERENT = 0.0


@lru_cache(maxsize=_CACHE)
def birth_date(a: str, b: str) -> float:
    """Compare two normalised birth dates ("YYYY-MM-DD", "YYYY-MM", "YYYY" or invalid "YYYYMMDD")."""
    if a == b:
        return DATE_EXACT
    da, db = a.replace("-", ""), b.replace("-", "")
    if len(da) != 8 or len(db) != 8:
        short, long_ = (da, db) if len(da) < len(db) else (db, da)
        return DATE_PARTIAL if long_.startswith(short) else DATE_DIFFERENT
    if da[:4] == db[:4] and da[4:6] == db[6:8] and da[6:8] == db[4:6]:
        return DATE_TRANSPOSED
    year_gap = abs(int(da[:4]) - int(db[:4]))
    if year_gap <= 10 and DamerauLevenshtein.distance(da, db) == 1:  # one digit wrong or two swapped
        return DATE_ONE_DIGIT
    if da[4:] == db[4:] and year_gap in (1, 10):
        return DATE_YEAR_OFF
    return DATE_DIFFERENT


COMPARATORS: dict[str, Comparator] = {
    "exact": exact,
    "jaro_winkler": jaro_winkler,
    "levenshtein": levenshtein,
    "damerau_levenshtein": damerau_levenshtein,
    "token_sort": token_sort,
    "soundex": soundex,
    "metaphone": metaphone,
    "nysiis": nysiis,
    "phonetic": phonetic,
    "nickname": nickname,
    "name_tokens": name_tokens,
    "initial": initial,
    "prefix3": prefix3,
    "phone_local": phone_local,
    "birth_date": birth_date,
    "street_address": street_address,
}
