"""Array forms of the comparators for batch scoring: same name, same numbers as the scalar ones in
`scoring.comparators`, computed over aligned object arrays of present (non-None) values.

Per-value work (phonetic codes, nickname groups, date parts) is done once per distinct value.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein
from rapidfuzz.fuzz import token_set_ratio, token_sort_ratio
from rapidfuzz.process import cpdist

from scoring import comparators as cmp

Objects = npt.NDArray[np.object_]
Floats = npt.NDArray[np.float64]
ArrayComparator = Callable[[Objects, Objects], Floats]


def _pairwise(scorer: Callable[..., float], a: Objects, b: Objects, scale: float = 1.0) -> Floats:
    if len(a) == 0:
        return np.zeros(0)
    result: Floats = cpdist(list(a), list(b), scorer=scorer, dtype=np.float64, workers=-1)
    return result / scale if scale != 1.0 else result


def _per_value(func: Callable[[str], object], values: Objects) -> npt.NDArray[np.object_]:
    codes, uniques = pd.factorize(values)
    mapped = np.empty(len(uniques), dtype=object)
    mapped[:] = [func(u) for u in uniques]
    result: Objects = mapped[codes]
    return result


def _flag(mask: npt.NDArray[np.bool_]) -> Floats:
    return mask.astype(np.float64)


def exact(a: Objects, b: Objects) -> Floats:
    return _flag(a == b)


def jaro_winkler(a: Objects, b: Objects) -> Floats:
    return _pairwise(JaroWinkler.normalized_similarity, a, b)


def levenshtein(a: Objects, b: Objects) -> Floats:
    return _pairwise(Levenshtein.normalized_similarity, a, b)


def damerau_levenshtein(a: Objects, b: Objects) -> Floats:
    return _pairwise(DamerauLevenshtein.normalized_similarity, a, b)


def token_sort(a: Objects, b: Objects) -> Floats:
    return _pairwise(token_sort_ratio, a, b, 100.0)


def _code_equal(code: Callable[[str], str]) -> ArrayComparator:
    def compare(a: Objects, b: Objects) -> Floats:
        return _flag(_per_value(code, a) == _per_value(code, b))

    return compare


def phonetic(a: Objects, b: Objects) -> Floats:
    meta = _per_value(cmp.metaphone_code, a) == _per_value(cmp.metaphone_code, b)
    nysiis = _per_value(cmp.nysiis_code, a) == _per_value(cmp.nysiis_code, b)
    return _flag(meta | nysiis)


def _first_token(value: str) -> str:
    return value.split(" ", 1)[0]


def nickname(a: Objects, b: Objects) -> Floats:
    """Pairs whose first tokens share a canonical name, found by joining on the canonical names."""
    first_a, first_b = _per_value(_first_token, a), _per_value(_first_token, b)
    result = first_a == first_b
    tokens = pd.Index(np.concatenate([first_a, first_b])).unique()
    token_code = {t: i for i, t in enumerate(tokens)}
    by_canonical: dict[str, list[int]] = {}
    for token in tokens:
        for canonical in cmp.nickname_group(token):
            by_canonical.setdefault(canonical, []).append(token_code[token])
    n = len(tokens)
    linked = {x * n + y for codes in by_canonical.values() if len(codes) > 1 for x in codes for y in codes}
    pair = np.array([token_code[t] for t in first_a], dtype=np.int64) * n + np.array(
        [token_code[t] for t in first_b], dtype=np.int64
    )
    result |= np.isin(pair, np.fromiter(linked, dtype=np.int64, count=len(linked)))
    return _flag(result)


def name_tokens(a: Objects, b: Objects) -> Floats:
    compact = _per_value(lambda v: v.replace(" ", ""), a) == _per_value(lambda v: v.replace(" ", ""), b)
    result = _flag(compact)
    spaced = np.flatnonzero(~compact & (_has_space(a) | _has_space(b)))
    result[spaced] = [cmp.name_tokens(x, y) for x, y in zip(a[spaced], b[spaced], strict=True)]
    return result


def _has_space(values: Objects) -> npt.NDArray[np.bool_]:
    return _per_value(lambda v: " " in v, values).astype(bool)


def initial(a: Objects, b: Objects) -> Floats:
    short = (_per_value(len, a) == 1) | (_per_value(len, b) == 1)
    return _flag(short & (_per_value(lambda v: v[0], a) == _per_value(lambda v: v[0], b)))


def prefix3(a: Objects, b: Objects) -> Floats:
    long_enough = _per_value(len, a) >= 3
    return _flag(long_enough & (_per_value(lambda v: v[:3], a) == _per_value(lambda v: v[:3], b)))


def phone_local(a: Objects, b: Objects) -> Floats:
    return _flag(_per_value(lambda v: v[-7:], a) == _per_value(lambda v: v[-7:], b))


def birth_date(a: Objects, b: Objects) -> Floats:
    """Vector form of comparators.birth_date: full 8-digit pairs by arithmetic and rapidfuzz,
    partial ones through the scalar comparator."""
    digits_a = _per_value(lambda v: v.replace("-", ""), a)
    digits_b = _per_value(lambda v: v.replace("-", ""), b)
    result = np.full(len(a), cmp.DATE_DIFFERENT)
    full = (_per_value(len, digits_a) == 8) & (_per_value(len, digits_b) == 8)
    partial = np.flatnonzero(~full)
    result[partial] = [cmp.birth_date(x, y) for x, y in zip(a[partial], b[partial], strict=True)]
    rows = np.flatnonzero(full)
    da, db = digits_a[rows], digits_b[rows]
    ya, yb = _per_value(lambda v: int(v[:4]), da).astype(np.int64), _per_value(lambda v: int(v[:4]), db).astype(np.int64)
    ma, mb = _per_value(lambda v: v[4:6], da), _per_value(lambda v: v[4:6], db)
    xa, xb = _per_value(lambda v: v[6:], da), _per_value(lambda v: v[6:], db)
    gap = np.abs(ya - yb)
    one_edit = _pairwise(DamerauLevenshtein.distance, da, db) == 1 if len(rows) else np.zeros(0, dtype=bool)
    code = np.select(
        [
            da == db,
            (ya == yb) & (ma == xb) & (xa == mb),
            (gap <= 10) & one_edit,
            (ma == mb) & (xa == xb) & ((gap == 1) | (gap == 10)),
        ],
        [cmp.DATE_EXACT, cmp.DATE_TRANSPOSED, cmp.DATE_ONE_DIGIT, cmp.DATE_YEAR_OFF],
        default=cmp.DATE_DIFFERENT,
    )
    result[rows] = code
    return result


def street_address(a: Objects, b: Objects) -> Floats:
    """Vector form of comparators.street_address (house number and street compared apart)."""
    number_a, street_a = _per_value(lambda v: cmp._split_house(v)[0], a), _per_value(lambda v: cmp._split_house(v)[1], a)
    number_b, street_b = _per_value(lambda v: cmp._split_house(v)[0], b), _per_value(lambda v: cmp._split_house(v)[1], b)
    squeeze_a = _per_value(lambda v: v.replace(" ", ""), street_a)
    squeeze_b = _per_value(lambda v: v.replace(" ", ""), street_b)
    similarity = np.maximum(
        _pairwise(JaroWinkler.normalized_similarity, squeeze_a, squeeze_b),
        _pairwise(token_set_ratio, street_a, street_b, 100.0),
    )
    same_number = number_a == number_b
    one_missing = (number_a == "") | (number_b == "")
    scaled = np.where(
        same_number, np.minimum(similarity, 0.99), similarity * np.where(one_missing, 0.9, 0.8)
    )
    return np.where(a == b, 1.0, scaled)


VECTORISED: dict[str, ArrayComparator] = {
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
