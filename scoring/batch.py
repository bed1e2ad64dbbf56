"""Batch scoring for notebooks and bulk loads: score aligned pairs of pandas DataFrames at once.

`score_frame` gives exactly the numbers `score_pair` gives (a property test holds it to that): it
normalises each distinct value once, evaluates levels in the same order on the still-undecided rows
only, and uses vectorised forms of the comparators (rapidfuzz `cpdist`, code lookups) where the
scalar form would be too slow. Nothing on the request path imports this module.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd

from scoring import comparators as cmp
from scoring.engine import DISAGREE, MISSING, SWAP_MIN_SIMILARITY, alias_level_index
from scoring.scorecard import MATCH, NON_MATCH, UNCERTAIN, FieldSpec, Scorecard
from scoring.vectorised import VECTORISED

Objects = npt.NDArray[np.object_]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def score_frame(card: Scorecard, left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """Score row i of `left` against row i of `right` (same length; record keys as columns, any
    missing column counts as missing values). Returns, per pair, `<field>_level` and `<field>_points`
    for every field (and `<group>_points` for each capped evidence group), `total`, `decision` and
    `rule`, indexed like `left`."""
    if len(left) != len(right):
        raise ValueError(f"left has {len(left)} rows but right has {len(right)}")
    n = len(left)
    values_a = [_normalised(left, spec) for spec in card.fields]
    values_b = [_normalised(right, spec) for spec in card.fields]
    _swap_crossed(card, values_a, values_b)
    out: dict[str, object] = {}
    total = np.zeros(n)
    levels: dict[str, Ints] = {}
    points_by_field: dict[str, Floats] = {}
    for i, spec in enumerate(card.fields):
        index = _level_index(spec, values_a[i], values_b[i])
        if spec.aliases_key is not None:
            _apply_aliases(spec, index, values_a[i], values_b[i], left, right)
        weights = np.array([lv.weight for lv in spec.levels] + [spec.disagree_weight, spec.missing_weight])
        points = weights[index]  # index -1 (missing) picks the last entry
        labels = np.array([lv.label for lv in spec.levels] + [DISAGREE, MISSING], dtype=object)
        out[f"{spec.name}_level"] = labels[index]
        out[f"{spec.name}_points"] = points
        levels[spec.name], points_by_field[spec.name] = index, points
        total += points
    for group in card.groups:
        positive = np.zeros(n)
        for spec in card.fields:
            if spec.name in group.fields:
                positive += np.where(points_by_field[spec.name] > 0, points_by_field[spec.name], 0.0)
        cap = np.where(positive > group.max_weight, group.max_weight - positive, 0.0)
        out[f"{group.name}_points"] = cap
        total = np.where(positive > group.max_weight, total + cap, total)
    total = np.fromiter((round(t, 6) for t in total.tolist()), dtype=np.float64, count=n)
    decision, rule = _decide(card, total, levels)
    out["total"], out["decision"], out["rule"] = total, decision, rule
    return pd.DataFrame(out, index=left.index)


def _normalised(frame: pd.DataFrame, spec: FieldSpec) -> Objects:
    """Normalise each distinct value once; missing values become None."""
    if spec.name not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    codes, uniques = pd.factorize(frame[spec.name], use_na_sentinel=True)
    normal = np.array([spec.normalize(u) for u in uniques] + [None], dtype=object)
    result: Objects = normal[codes]  # code -1 (missing) picks the trailing None
    return result


def _present(a: Objects, b: Objects) -> npt.NDArray[np.bool_]:
    return np.not_equal(a, None) & np.not_equal(b, None)  # elementwise "is not None"


def _level_index(spec: FieldSpec, a: Objects, b: Objects) -> Ints:
    """-1 for missing, len(levels) for disagree, else the first level reached (as score_field)."""
    present = _present(a, b)
    index = np.where(present, len(spec.levels), -1).astype(np.int64)
    open_rows = np.flatnonzero(present)
    for number, level in enumerate(spec.levels):
        if open_rows.size == 0:
            break
        similarity = _similarity(level.comparator, level.compare, a[open_rows], b[open_rows])
        hit = similarity >= level.min_similarity
        index[open_rows[hit]] = number
        open_rows = open_rows[~hit]
    return index


def _similarity(name: str, compare: Callable[[str, str], float], a: Objects, b: Objects) -> Floats:
    vectorised = VECTORISED.get(name)
    if vectorised is not None:
        return vectorised(a, b)
    return _by_distinct_pairs(compare, a, b)


def _by_distinct_pairs(compare: Callable[[str, str], float], a: Objects, b: Objects) -> Floats:
    """Fallback: the scalar comparator once per distinct (a, b) pair."""
    pairs = pd.MultiIndex.from_arrays([a, b])
    codes, uniques = pd.factorize(pairs)
    values = np.array([compare(x, y) for x, y in uniques], dtype=np.float64)
    result: Floats = values[codes]
    return result


def _apply_aliases(
    spec: FieldSpec, index: Ints, a: Objects, b: Objects, left: pd.DataFrame, right: pd.DataFrame
) -> None:
    """Rows where either side lists aliases are scored the scalar way (they are rare)."""
    key = spec.aliases_key
    aliases_a = left[key].to_numpy(dtype=object) if key in left.columns else np.full(len(left), None)
    aliases_b = right[key].to_numpy(dtype=object) if key in right.columns else np.full(len(right), None)
    for row in np.flatnonzero(_has_aliases(aliases_a) | _has_aliases(aliases_b)):
        index[row] = alias_level_index(spec, a[row], b[row], aliases_a[row], aliases_b[row])[0]


def _has_aliases(values: Objects) -> npt.NDArray[np.bool_]:
    return np.fromiter(
        (not isinstance(v, str | float | type(None)) and len(v) > 0 for v in values), dtype=bool, count=len(values)
    )


def _swap_crossed(card: Scorecard, values_a: list[Objects], values_b: list[Objects]) -> None:
    """Vectorised form of the engine's name-swap rule; swaps b's values in place."""
    swap = card.name_swap_index
    if swap is None:
        return
    g, f = swap
    ga, fa, gb, fb = values_a[g], values_a[f], values_b[g], values_b[f]
    rows = np.flatnonzero(_present(ga, fa) & _present(gb, fb))
    rows = rows[~((ga[rows] == gb[rows]) & (fa[rows] == fb[rows]))]
    if rows.size == 0:
        return
    jw = VECTORISED["jaro_winkler"]
    crossed_g, crossed_f = jw(ga[rows], fb[rows]), jw(fa[rows], gb[rows])
    straight = jw(ga[rows], gb[rows]) + jw(fa[rows], fb[rows])
    hit = (np.maximum(crossed_g, crossed_f) >= SWAP_MIN_SIMILARITY) & (crossed_g + crossed_f > straight)
    swapped = rows[hit]
    gb_old = gb[swapped].copy()
    gb[swapped] = fb[swapped]
    fb[swapped] = gb_old


_RANK = {NON_MATCH: 0, UNCERTAIN: 1, MATCH: 2}
_NAMES = np.array([NON_MATCH, UNCERTAIN, MATCH], dtype=object)


def _decide(card: Scorecard, total: Floats, levels: dict[str, Ints]) -> tuple[Objects, Objects]:
    """Vectorised engine.decide over level indexes."""
    rank = np.where(total > card.upper, 2, np.where(total < card.lower, 0, 1))
    rule = np.full(len(total), None, dtype=object)
    decided = np.zeros(len(total), dtype=bool)

    def disagrees(name: str) -> npt.NDArray[np.bool_]:
        return levels[name] == len(card.spec(name).levels)

    policy = card.health_card
    if policy is not None:
        index = levels[policy.field]
        same = (index >= 0) & ~disagrees(policy.field)
        conflict = np.zeros(len(total), dtype=bool)
        for group in policy.hard_conflicts:
            conflict |= np.logical_and.reduce([disagrees(name) for name in group])
        rank = np.where(same, np.where(conflict, 1, 2), rank)
        rule[same] = np.where(conflict[same], "health-card-conflict", "health-card-match")
        decided = same
        mismatch = disagrees(policy.field)
        rank = np.where(mismatch, np.minimum(rank, 1), rank)
        rule[mismatch] = "health-card-mismatch"
    for item in card.conflicts:
        hit = np.logical_and.reduce([disagrees(name) for name in item.fields]) & ~decided
        capped = np.minimum(rank, _RANK[item.decision])
        changed = hit & (capped != rank)
        rank = np.where(changed, capped, rank)
        rule[changed] = item.name
    return _NAMES[rank], rule
