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

from scoring.engine import DISAGREE, MISSING, SWAP_MIN_SIMILARITY, alias_level_index
from scoring.scorecard import MATCH, NON_MATCH, UNCERTAIN, FieldSpec, Scorecard
from scoring.vectorised import VECTORISED, Values, by_distinct_pairs, equal, jaro_winkler

Objects = npt.NDArray[np.object_]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def score_frame(card: Scorecard, left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """Score row i of `left` against row i of `right` (same length; record keys as columns, any
    missing column counts as missing values). Returns, per pair, `<field>_level` (categorical) and
    `<field>_points` for every field, `<group>_points` for each evidence group (0 or the negative
    cap), `total`, `decision` and `rule`, indexed like `left`."""
    if len(left) != len(right):
        raise ValueError(f"left has {len(left)} rows but right has {len(right)}")
    rows = np.arange(len(left), dtype=np.int64)
    result = score_pairs(card, left, right, rows, rows)
    result.index = left.index
    return result


def score_pairs(
    card: Scorecard,
    left_records: pd.DataFrame,
    right_records: pd.DataFrame,
    left_rows: npt.ArrayLike,
    right_rows: npt.ArrayLike,
) -> pd.DataFrame:
    """Score the pairs (left_records row left_rows[k], right_records row right_rows[k]), rows given
    by position. Each record is normalised once however many pairs it is in, which is what makes
    scoring blocked candidate pairs cheap. Same columns as `score_frame`, one row per pair."""
    rows_a, rows_b = np.asarray(left_rows, dtype=np.int64), np.asarray(right_rows, dtype=np.int64)
    if rows_a.shape != rows_b.shape:
        raise ValueError(f"{len(rows_a)} left rows but {len(rows_b)} right rows")
    values_a = [_normalised(left_records, spec).take(rows_a) for spec in card.fields]
    values_b = [_normalised(right_records, spec).take(rows_b) for spec in card.fields]
    _swap_crossed(card, values_a, values_b)
    n = len(rows_a)
    groups = card.groups
    # Points go into one preallocated block (field columns, then group caps) so that building the
    # DataFrame copies nothing; levels and the decision are categoricals.
    points = np.zeros((len(card.fields) + len(groups) + 1, n)).T  # the last column is the total
    labels: dict[str, pd.Categorical] = {}
    levels: dict[str, Ints] = {}
    total = np.zeros(n)
    for i, spec in enumerate(card.fields):
        index = _level_index(spec, values_a[i], values_b[i])
        if spec.aliases_key is not None:
            aliases_a, aliases_b = (
                _aliases(left_records, spec.aliases_key),
                _aliases(right_records, spec.aliases_key),
            )
            _apply_aliases(spec, index, values_a[i], values_b[i], aliases_a, aliases_b, rows_a, rows_b)
        weights = np.array([lv.weight for lv in spec.levels] + [spec.disagree_weight, spec.missing_weight])
        points[:, i] = weights[index]  # index -1 (missing) picks the last entry
        names = [MISSING] + [lv.label for lv in spec.levels] + [DISAGREE]
        labels[f"{spec.name}_level"] = pd.Categorical.from_codes(
            index + 1, categories=pd.Index(names, dtype=object)
        )
        levels[spec.name] = index
        total += points[:, i]
    for g, group in enumerate(groups):
        positive = np.zeros(n)
        for i, spec in enumerate(card.fields):
            if spec.name in group.fields:
                positive += np.where(points[:, i] > 0, points[:, i], 0.0)
        over = positive > group.max_weight
        points[:, len(card.fields) + g] = np.where(over, group.max_weight - positive, 0.0)
        total = np.where(over, total + points[:, len(card.fields) + g], total)
    points[:, -1] = total = _round6(total)
    decision, rule = _decide(card, total, levels)
    columns = [f"{spec.name}_points" for spec in card.fields] + [f"{group.name}_points" for group in groups]
    numbers = pd.DataFrame(points, columns=[*columns, "total"], copy=False)
    others = pd.DataFrame({**labels, "decision": decision, "rule": rule}, copy=False)
    return pd.concat([others, numbers], axis=1, copy=False)


def _round6(total: Floats) -> Floats:
    """Python's round(x, 6) as the engine applies it, once per distinct total."""
    codes, uniques = pd.factorize(total)
    rounded = np.array([round(t, 6) for t in uniques.tolist()], dtype=np.float64)
    result: Floats = rounded[codes]
    return result


def _normalised(frame: pd.DataFrame, spec: FieldSpec) -> Values:
    """Normalise each distinct raw value once; values that normalise alike share a code."""
    if spec.name not in frame.columns:
        return Values(np.full(len(frame), -1, dtype=np.int64), np.empty(0, dtype=object))
    raw_codes, raw_uniques = pd.factorize(frame[spec.name].to_numpy(dtype=object), use_na_sentinel=True)
    normal = np.empty(len(raw_uniques), dtype=object)
    normal[:] = [spec.normalize(u) for u in raw_uniques]
    codes, uniques = pd.factorize(normal, use_na_sentinel=True)  # None -> -1
    lookup = np.append(codes.astype(np.int64), -1)  # raw code -1 (missing) -> -1
    return Values(lookup[raw_codes], np.asarray(uniques, dtype=object))


def _level_index(spec: FieldSpec, a: Values, b: Values) -> Ints:
    """-1 for missing, len(levels) for disagree, else the first level reached (as score_field).
    Each comparator runs once per field, over the rows still open when it is first needed."""
    present = (a.codes >= 0) & (b.codes >= 0)
    index = np.where(present, len(spec.levels), -1).astype(np.int64)
    open_rows = np.flatnonzero(present)
    computed: dict[str, Floats] = {}
    for number, level in enumerate(spec.levels):
        if open_rows.size == 0:
            break
        if level.comparator not in computed:
            similarity_full = np.full(len(a.codes), np.nan)
            similarity_full[open_rows] = _similarity(
                level.comparator, level.compare, a.take(open_rows), b.take(open_rows)
            )
            computed[level.comparator] = similarity_full
        hit = computed[level.comparator][open_rows] >= level.min_similarity
        index[open_rows[hit]] = number
        open_rows = open_rows[~hit]
    return index


def _similarity(name: str, compare: Callable[[str, str], float], a: Values, b: Values) -> Floats:
    vectorised = VECTORISED.get(name)
    return vectorised(a, b) if vectorised is not None else by_distinct_pairs(compare, a, b)


def _apply_aliases(
    spec: FieldSpec, index: Ints, a: Values, b: Values,
    aliases_a: Objects | None, aliases_b: Objects | None, rows_a: Ints, rows_b: Ints,
) -> None:  # fmt: skip
    """Pairs where either record lists aliases are scored the scalar way (they are rare)."""
    if aliases_a is None and aliases_b is None:
        return
    has_a = _has_aliases(aliases_a)[rows_a] if aliases_a is not None else np.zeros(len(index), dtype=bool)
    has_b = _has_aliases(aliases_b)[rows_b] if aliases_b is not None else np.zeros(len(index), dtype=bool)
    for row in np.flatnonzero(has_a | has_b):
        value_a = a.uniques[a.codes[row]] if a.codes[row] >= 0 else None
        value_b = b.uniques[b.codes[row]] if b.codes[row] >= 0 else None
        listed_a = aliases_a[rows_a[row]] if aliases_a is not None else None
        listed_b = aliases_b[rows_b[row]] if aliases_b is not None else None
        index[row] = alias_level_index(spec, value_a, value_b, listed_a, listed_b)[0]


def _aliases(frame: pd.DataFrame, key: str) -> Objects | None:
    if key not in frame.columns:
        return None
    values: Objects = frame[key].to_numpy(dtype=object)
    return values


def _has_aliases(values: Objects) -> npt.NDArray[np.bool_]:
    return np.fromiter(
        (not isinstance(v, str | float | type(None)) and len(v) > 0 for v in values),
        dtype=bool,
        count=len(values),
    )


def _swap_crossed(card: Scorecard, values_a: list[Values], values_b: list[Values]) -> None:
    """Vectorised form of the engine's name-swap rule; swaps b's values (in `values_b`)."""
    swap = card.name_swap_index
    if swap is None:
        return
    g, f = swap
    ga, fa, gb, fb = values_a[g], values_a[f], values_b[g], values_b[f]
    rows = np.flatnonzero((ga.codes >= 0) & (fa.codes >= 0) & (gb.codes >= 0) & (fb.codes >= 0))
    rows = rows[~(equal(ga.take(rows), gb.take(rows)) & equal(fa.take(rows), fb.take(rows)))]
    crossed_g = jaro_winkler(ga.take(rows), fb.take(rows))
    crossed_f = jaro_winkler(fa.take(rows), gb.take(rows))
    strong = np.maximum(crossed_g, crossed_f) >= SWAP_MIN_SIMILARITY
    rows, crossed = rows[strong], crossed_g[strong] + crossed_f[strong]
    straight = jaro_winkler(ga.take(rows), gb.take(rows)) + jaro_winkler(fa.take(rows), fb.take(rows))
    swapped = rows[crossed > straight]
    if swapped.size == 0:
        return
    # b's given and family names now share one array of distinct values so that codes can move.
    uniques = np.concatenate([gb.uniques, fb.uniques])
    given = np.where(gb.codes >= 0, gb.codes, -1)
    family = np.where(fb.codes >= 0, fb.codes + len(gb.uniques), -1)
    given[swapped], family[swapped] = family[swapped], given[swapped].copy()
    values_b[g], values_b[f] = Values(given, uniques), Values(family, uniques)


_RANK = {NON_MATCH: 0, UNCERTAIN: 1, MATCH: 2}
_NAMES = np.array([NON_MATCH, UNCERTAIN, MATCH], dtype=object)


def _at_levels(
    card: Scorecard, levels: dict[str, Ints], name: str, labels: tuple[str, ...]
) -> npt.NDArray[np.bool_]:
    """Rows whose level for field `name` has one of `labels` (missing is -1, disagree past the end)."""
    spec = card.spec(name)
    names = [lv.label for lv in spec.levels] + [DISAGREE]
    wanted = [i for i, label in enumerate(names) if label in labels] + ([-1] if MISSING in labels else [])
    return np.isin(levels[name], wanted)


def _decide(card: Scorecard, total: Floats, levels: dict[str, Ints]) -> tuple[pd.Categorical, Objects]:
    """Vectorised engine.decide over level indexes."""
    rank = np.where(total > card.upper, 2, np.where(total < card.lower, 0, 1))
    rule = np.full(len(total), None, dtype=object)
    decided = np.zeros(len(total), dtype=bool)

    def disagrees(name: str) -> npt.NDArray[np.bool_]:
        mask: npt.NDArray[np.bool_] = levels[name] == len(card.spec(name).levels)
        return mask

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
        conditions = [_at_levels(card, levels, name, item.levels) for name in item.fields]
        conditions += [_at_levels(card, levels, name, labels) for name, labels in item.when]
        hit = np.logical_and.reduce(conditions) & ~decided
        capped = np.minimum(rank, _RANK[item.decision])
        changed = hit & (capped != rank)
        rank = np.where(changed, capped, rank)
        rule[changed] = item.name
    return pd.Categorical.from_codes(rank, categories=pd.Index(_NAMES, dtype=object)), rule
