"""Array forms of the comparators for batch scoring: same names and the very same numbers as the
scalar ones in `scoring.comparators`.

Values travel as `Values` (a code per row into an array of distinct normalised values), so work per
value (phonetic codes, nickname groups, date parts) runs once per distinct value, and pairwise string
measures (rapidfuzz `cpdist`) run once per distinct pair of values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein
from rapidfuzz.fuzz import token_sort_ratio
from rapidfuzz.process import cpdist

from scoring import comparators as cmp

Objects = npt.NDArray[np.object_]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Values:
    """One column of normalised values: `uniques[codes[row]]`, code -1 meaning missing."""

    codes: Ints
    uniques: Objects

    def take(self, rows: Ints) -> Values:
        return Values(self.codes[rows], self.uniques)

    def strings(self) -> Objects:
        result: Objects = self.uniques[self.codes]
        return result

    def derive(self, func: Callable[[str], object]) -> Values:
        """Apply a per-value function once per distinct value; values that derive alike (two
        addresses on one street) then share a code, so pairwise work is done once for them."""
        derived = np.empty(len(self.uniques), dtype=object)
        derived[:] = [func(u) for u in self.uniques]
        compact, uniques = factorize(derived)
        if len(uniques) == len(derived):
            return Values(self.codes, derived)
        lookup = np.append(compact.astype(np.int64), -1)
        return Values(lookup[self.codes], np.asarray(uniques, dtype=object))

    def per_row(self, func: Callable[[str], object], dtype: type) -> npt.NDArray[Any]:
        table: npt.NDArray[Any] = np.array([func(u) for u in self.uniques], dtype=dtype)
        return table[self.codes] if len(table) else np.zeros(len(self.codes), dtype=dtype)


def factorize(values: Objects) -> tuple[Ints, Objects]:
    """Codes and distinct values in order of appearance (for the small arrays of distinct values;
    pandas stays out of this module)."""
    index: dict[object, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values))
    uniques = np.empty(len(index), dtype=object)
    uniques[:] = list(index)
    return codes, uniques


def joint_codes(a: Values, b: Values) -> tuple[Ints, Ints, int]:
    """Per-row codes of a and b in one shared space, so that equal values get equal codes."""
    combined = np.concatenate([a.uniques, b.uniques])
    shared, uniques = factorize(combined)
    return shared[: len(a.uniques)][a.codes], shared[len(a.uniques) :][b.codes], len(uniques)


def equal(a: Values, b: Values) -> Bools:
    if len(a.codes) == 0:
        return np.zeros(0, dtype=bool)
    ia, ib, _ = joint_codes(a, b)
    same: Bools = ia == ib
    return same


def distinct_pairs(a: Values, b: Values) -> tuple[Objects, Objects, Ints] | None:
    """The distinct (value a, value b) pairs among the rows and each row's pair number, or None
    when values are so varied that deduplicating would not pay (addresses, say)."""
    space = len(a.uniques) * len(b.uniques)
    if space > 4 * len(a.codes):
        return None
    key = a.codes * len(b.uniques) + b.codes
    seen = np.zeros(space, dtype=bool)
    seen[key] = True
    keys = np.flatnonzero(seen)
    position = np.empty(space, dtype=np.int64)
    position[keys] = np.arange(len(keys))
    return a.uniques[keys // len(b.uniques)], b.uniques[keys % len(b.uniques)], position[key]


def pairwise(
    scorer: Callable[..., float], a: Values, b: Values, dtype: type = np.float64
) -> npt.NDArray[Any]:
    """`scorer` over rows with rapidfuzz, once per distinct (value a, value b) pair where that pays."""
    if len(a.codes) == 0:
        return np.zeros(0, dtype=dtype)
    distinct = distinct_pairs(a, b)
    if distinct is None:
        return cpdist(list(a.strings()), list(b.strings()), scorer=scorer, dtype=dtype, workers=-1)
    first, second, inverse = distinct
    scores = cpdist(list(first), list(second), scorer=scorer, dtype=dtype, workers=-1)
    result: npt.NDArray[Any] = scores[inverse]
    return result


def by_distinct_pairs(compare: Callable[[str, str], float], a: Values, b: Values) -> Floats:
    """Any scalar comparator, once per distinct pair (the fallback for comparators without a
    dedicated array form, and for rare rows such as partial dates)."""
    if len(a.codes) == 0:
        return np.zeros(0)
    keys, inverse = np.unique(a.codes.astype(np.int64) * len(b.uniques) + b.codes, return_inverse=True)
    first = a.uniques[keys // len(b.uniques)]
    second = b.uniques[keys % len(b.uniques)]
    scores = np.array([compare(x, y) for x, y in zip(first, second, strict=True)], dtype=np.float64)
    result: Floats = scores[inverse]
    return result


def _flag(mask: Bools) -> Floats:
    return mask.astype(np.float64)


def exact(a: Values, b: Values) -> Floats:
    return _flag(equal(a, b))


def jaro_winkler(a: Values, b: Values) -> Floats:
    return pairwise(JaroWinkler.normalized_similarity, a, b)


def levenshtein(a: Values, b: Values) -> Floats:
    return pairwise(Levenshtein.normalized_similarity, a, b)


def damerau_levenshtein(a: Values, b: Values) -> Floats:
    return pairwise(DamerauLevenshtein.normalized_similarity, a, b)


def token_sort(a: Values, b: Values) -> Floats:
    result: Floats = pairwise(token_sort_ratio, a, b) / 100.0
    return result


def _code_equal(code: Callable[[str], str]) -> Callable[[Values, Values], Floats]:
    def compare(a: Values, b: Values) -> Floats:
        return _flag(equal(a.derive(code), b.derive(code)))

    return compare


def phonetic(a: Values, b: Values) -> Floats:
    meta = equal(a.derive(cmp.metaphone_code), b.derive(cmp.metaphone_code))
    nysiis = equal(a.derive(cmp.nysiis_code), b.derive(cmp.nysiis_code))
    return _flag(meta | nysiis)


def _first_token(value: str) -> str:
    return value.split(" ", 1)[0]


def nickname(a: Values, b: Values) -> Floats:
    """First tokens equal, or sharing a canonical name (joined through the canonical names)."""
    first_a, first_b = a.derive(_first_token), b.derive(_first_token)
    combined = np.concatenate([first_a.uniques, first_b.uniques])
    shared, tokens = factorize(combined)
    ia = shared[: len(first_a.uniques)][first_a.codes].astype(np.int64)
    ib = shared[len(first_a.uniques) :][first_b.codes].astype(np.int64)
    by_canonical: dict[str, list[int]] = {}
    for code, token in enumerate(tokens):
        for canonical in cmp.nickname_group(token):
            by_canonical.setdefault(canonical, []).append(code)
    n = len(tokens)
    linked = np.array(
        sorted(
            {x * n + y for codes in by_canonical.values() if len(codes) > 1 for x in codes for y in codes}
        ),
        dtype=np.int64,
    )
    return _flag((ia == ib) | np.isin(ia * n + ib, linked))


def name_tokens(a: Values, b: Values) -> Floats:
    compact = equal(a.derive(lambda v: v.replace(" ", "")), b.derive(lambda v: v.replace(" ", "")))
    result = _flag(compact)
    spaced = a.per_row(lambda v: " " in v, bool) | b.per_row(lambda v: " " in v, bool)
    rows = np.flatnonzero(~compact & spaced)
    result[rows] = by_distinct_pairs(cmp.name_tokens, a.take(rows), b.take(rows))
    return result


def initial(a: Values, b: Values) -> Floats:
    short = (a.per_row(len, np.int64) == 1) | (b.per_row(len, np.int64) == 1)
    return _flag(short & equal(a.derive(lambda v: v[0]), b.derive(lambda v: v[0])))


def prefix3(a: Values, b: Values) -> Floats:
    long_enough = a.per_row(len, np.int64) >= 3
    return _flag(long_enough & equal(a.derive(lambda v: v[:3]), b.derive(lambda v: v[:3])))


def phone_local(a: Values, b: Values) -> Floats:
    return _flag(equal(a.derive(lambda v: v[-7:]), b.derive(lambda v: v[-7:])))


def _digits(value: str) -> str:
    return value.replace("-", "")


def birth_date(a: Values, b: Values) -> Floats:
    """Full 8-digit pairs by integer arithmetic and rapidfuzz; partial ones by the scalar form."""
    digits_a, digits_b = a.derive(_digits), b.derive(_digits)
    full = (digits_a.per_row(len, np.int64) == 8) & (digits_b.per_row(len, np.int64) == 8)
    result = np.full(len(a.codes), cmp.DATE_DIFFERENT)
    partial = np.flatnonzero(~full)
    result[partial] = by_distinct_pairs(cmp.birth_date, a.take(partial), b.take(partial))
    rows = np.flatnonzero(full)
    da, db = digits_a.take(rows), digits_b.take(rows)

    def part(values: Values, start: int, stop: int) -> Ints:
        return values.per_row(lambda v: int(v[start:stop]) if len(v) == 8 else -1, np.int64)

    ya, yb, ma, mb, xa, xb = (
        part(da, 0, 4),
        part(db, 0, 4),
        part(da, 4, 6),
        part(db, 4, 6),
        part(da, 6, 8),
        part(db, 6, 8),
    )
    gap = np.abs(ya - yb)
    near = np.flatnonzero(gap <= 10)  # only these can be one digit apart at the one-digit level
    one_edit = np.zeros(len(rows), dtype=bool)
    one_edit[near] = pairwise(DamerauLevenshtein.distance, da.take(near), db.take(near), np.int64) == 1
    result[rows] = np.select(
        [
            (ya == yb) & (ma == mb) & (xa == xb),
            (ya == yb) & (ma == xb) & (xa == mb),
            (gap <= 10) & one_edit,
            (ma == mb) & (xa == xb) & ((gap == 1) | (gap == 10)),
        ],
        [cmp.DATE_EXACT, cmp.DATE_TRANSPOSED, cmp.DATE_ONE_DIGIT, cmp.DATE_YEAR_OFF],
        default=cmp.DATE_DIFFERENT,
    )
    return result


def street_address(a: Values, b: Values) -> Floats:
    """House number and street compared apart, as comparators.street_address."""
    number_a, number_b = (
        a.derive(lambda v: cmp._split_house(v)[0]),
        b.derive(lambda v: cmp._split_house(v)[0]),
    )
    street_a, street_b = (
        a.derive(lambda v: cmp._split_house(v)[1]),
        b.derive(lambda v: cmp._split_house(v)[1]),
    )
    squeezed_a, squeezed_b = (
        street_a.derive(lambda v: v.replace(" ", "")),
        street_b.derive(lambda v: v.replace(" ", "")),
    )
    similarity = pairwise(JaroWinkler.normalized_similarity, squeezed_a, squeezed_b)
    # a bare house number says nothing about the street
    similarity = np.where((street_a.per_row(len, np.int64) == 0) | (street_b.per_row(len, np.int64) == 0),
                          0.0, similarity)
    one_missing = (number_a.per_row(len, np.int64) == 0) | (number_b.per_row(len, np.int64) == 0)
    scaled = np.where(
        equal(number_a, number_b), np.minimum(similarity, 0.99), similarity * np.where(one_missing, 0.9, 0.8)
    )
    return np.where(equal(a, b), 1.0, scaled)


VECTORISED: dict[str, Callable[[Values, Values], Floats]] = {
    "exact": exact,
    "jaro_winkler": jaro_winkler,
    "levenshtein": levenshtein,
    "damerau_levenshtein": damerau_levenshtein,
    "token_sort": token_sort,
    "soundex": _code_equal(cmp.soundex_code),
    "metaphone": _code_equal(cmp.metaphone_code),
    "nysiis": _code_equal(cmp.nysiis_code),
    "phonetic": phonetic,
    "nickname": nickname,
    "name_tokens": name_tokens,
    "initial": initial,
    "prefix3": prefix3,
    "phone_local": phone_local,
    "birth_date": birth_date,
    "street_address": street_address,
}
