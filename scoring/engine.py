"""score_pair: walk a scorecard over two records and explain the total field by field.

Each field's points come from the first level whose comparator reaches its minimum similarity
(levels are ordered strongest first), else the field's disagree weight; a value missing on either
side scores the missing weight. The health-card rule then overrides or caps the threshold decision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from scoring.comparators import jaro_winkler
from scoring.scorecard import MATCH, NON_MATCH, UNCERTAIN, FieldSpec, Scorecard

MISSING = "missing"
DISAGREE = "disagree"
GROUP_CAP = "group-cap"
SWAP_SUFFIX = "+swap"
ALIAS_SUFFIX = "+alias"

SWAP_MIN_SIMILARITY = 0.9  # one crossed pair at least this close (Jaro-Winkler) to count as a swap

_RANK = {NON_MATCH: 0, UNCERTAIN: 1, MATCH: 2}

RULE_HC_MATCH = "health-card-match"
RULE_HC_CONFLICT = "health-card-conflict"
RULE_HC_MISMATCH = "health-card-mismatch"


@dataclass(frozen=True, slots=True)
class FieldScore:
    """One field's contribution: normalised values as a steward sees them, the comparator and level
    that decided, and the points (weight) it added to the total."""

    field: str
    value_a: str | None
    value_b: str | None
    comparator: str
    level: str
    points: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "value_a": self.value_a,
            "value_b": self.value_b,
            "comparator": self.comparator,
            "level": self.level,
            "points": self.points,
        }


@dataclass(frozen=True, slots=True)
class PairScore:
    total: float
    decision: str
    rule: str | None
    fields: tuple[FieldScore, ...]
    scorecard_id: str
    scorecard_version: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form stored with a link or review task."""
        return {
            "total": self.total,
            "decision": self.decision,
            "rule": self.rule,
            "scorecard_id": self.scorecard_id,
            "scorecard_version": self.scorecard_version,
            "fields": [f.to_dict() for f in self.fields],
        }

    def field(self, name: str) -> FieldScore:
        for score in self.fields:
            if score.field == name:
                return score
        raise KeyError(name)


def score_pair(card: Scorecard, a: Mapping[str, Any], b: Mapping[str, Any]) -> PairScore:
    """Score records `a` and `b` (plain mappings of raw values) with `card`; the total is the sum of
    field points, and `decision` follows the card's thresholds and health-card rule."""
    return _score(card, a, [spec.normalize(a.get(spec.name)) for spec in card.fields], b)


def _score(card: Scorecard, a: Mapping[str, Any], values_a: list[str | None], b: Mapping[str, Any]) -> PairScore:
    values_b = [spec.normalize(b.get(spec.name)) for spec in card.fields]
    swapped = _swap_if_names_crossed(card, values_a, values_b)
    scores: list[FieldScore] = []
    total = 0.0
    for i, spec in enumerate(card.fields):
        score = score_field(spec, values_a[i], values_b[i], a, b)
        if i in swapped:
            score = FieldScore(
                score.field, score.value_a, score.value_b, score.comparator + SWAP_SUFFIX,
                score.level, score.points,
            )  # fmt: skip
        scores.append(score)
        total += score.points
    for cap in _group_caps(card, scores):
        scores.append(cap)
        total += cap.points
    total = round(total, 6)  # points carry one decimal; drop float noise so 70.0 stays "uncertain"
    decision, rule = decide(card, total, scores)
    return PairScore(total, decision, rule, tuple(scores), card.id, card.version)


def score_field(
    spec: FieldSpec, value_a: str | None, value_b: str | None, a: Mapping[str, Any], b: Mapping[str, Any]
) -> FieldScore:
    """Score one field from its normalised values (aliases, when the field has them, are read from
    the raw records and the best level over all combinations wins)."""
    return FieldScore(spec.name, value_a, value_b, *field_outcome(spec, value_a, value_b, a, b))


def field_outcome(
    spec: FieldSpec, value_a: str | None, value_b: str | None, a: Mapping[str, Any], b: Mapping[str, Any]
) -> tuple[str, str, float]:
    """(comparator, level, points) of one field: `score_field` without building its FieldScore."""
    if spec.aliases_key is not None:
        aliases_a, aliases_b = a.get(spec.aliases_key), b.get(spec.aliases_key)
        if _listed(aliases_a) or _listed(aliases_b):
            return _outcome_with_aliases(spec, value_a, value_b, aliases_a, aliases_b)
    if value_a is None or value_b is None:
        return MISSING, MISSING, spec.missing_weight
    index = level_index(spec, value_a, value_b)
    if index == len(spec.levels):
        return DISAGREE, DISAGREE, spec.disagree_weight
    level = spec.levels[index]
    return level.comparator, level.label, level.weight


def level_index(spec: FieldSpec, value_a: str, value_b: str) -> int:
    """Index of the first level reached, or len(levels) for a disagreement. A comparator that several
    levels use at different minimum similarities (a birth date's four, a name's two Jaro-Winkler levels)
    runs once: comparators are pure functions of the two values."""
    similarity: dict[str, float] = {}
    for index, level in enumerate(spec.levels):
        value = similarity.get(level.comparator)
        if value is None:
            value = similarity[level.comparator] = level.compare(value_a, value_b)
        if value >= level.min_similarity:
            return index
    return len(spec.levels)


def _outcome_with_aliases(
    spec: FieldSpec, value_a: str | None, value_b: str | None, aliases_a: object, aliases_b: object
) -> tuple[str, str, float]:
    best, via_alias = alias_level_index(spec, value_a, value_b, aliases_a, aliases_b)
    if best < 0:
        return MISSING, MISSING, spec.missing_weight
    if best == len(spec.levels):
        return DISAGREE, DISAGREE, spec.disagree_weight
    level = spec.levels[best]
    return level.comparator + (ALIAS_SUFFIX if via_alias else ""), level.label, level.weight


def alias_level_index(
    spec: FieldSpec, value_a: str | None, value_b: str | None, aliases_a: object, aliases_b: object
) -> tuple[int, bool]:
    """Best level index over every (value or alias) x (value or alias) combination, -1 when a side
    has nothing at all, len(levels) for a disagreement; and whether an alias gave the best level."""
    options_a = _with_aliases(spec, value_a, aliases_a)
    options_b = _with_aliases(spec, value_b, aliases_b)
    if not options_a or not options_b:
        return -1, False
    best, via_alias = len(spec.levels), False
    for i, x in enumerate(options_a):
        for j, y in enumerate(options_b):
            index = level_index(spec, x, y)
            if index < best:
                best, via_alias = index, bool(i or j)
    return best, via_alias


def _listed(aliases: object) -> bool:
    """A non-empty list (or tuple, or array) of alias values; a bare string is not a list."""
    if type(aliases) in (list, tuple):  # the usual case, without the ABC check (asked of every candidate)
        return len(aliases) > 0  # type: ignore[arg-type]
    return isinstance(aliases, Sized) and not isinstance(aliases, str | bytes) and len(aliases) > 0


def _with_aliases(spec: FieldSpec, value: str | None, aliases: object) -> list[str]:
    options = [] if value is None else [value]
    if isinstance(aliases, Iterable) and not isinstance(aliases, str | bytes):
        for alias in aliases:
            normal = spec.normalize(alias)
            if normal is not None and normal not in options:
                options.append(normal)
    return options


def _swap_if_names_crossed(
    card: Scorecard, values_a: list[str | None], values_b: list[str | None]
) -> set[int]:
    """Swap b's given and family names when they look crossed: one of a's names is (nearly) the other
    name of b, and crossing agrees better overall than the straight comparison (registration often
    swaps the two, and sometimes also mistypes or replaces one). Returns the swapped indexes."""
    swap = card.name_swap_index
    if swap is None or not _swap_names(swap[0], swap[1], values_a, values_b):
        return set()
    return set(swap)


def _swap_names(g: int, f: int, values_a: list[str | None], values_b: list[str | None]) -> bool:
    """`_swap_if_names_crossed` for the given name at `g` and the family name at `f`."""
    ga, fa, gb, fb = values_a[g], values_a[f], values_b[g], values_b[f]
    if ga is None or fa is None or gb is None or fb is None or (ga == gb and fa == fb):
        return False
    crossed_g, crossed_f = jaro_winkler(ga, fb), jaro_winkler(fa, gb)
    if max(crossed_g, crossed_f) < SWAP_MIN_SIMILARITY:
        return False
    if crossed_g + crossed_f <= jaro_winkler(ga, gb) + jaro_winkler(fa, fb):
        return False
    values_b[g], values_b[f] = fb, gb
    return True


def _group_caps(card: Scorecard, scores: Sequence[FieldScore]) -> list[FieldScore]:
    """One negative line per evidence group whose positive points exceed its cap, so that the
    breakdown still adds up to the total."""
    return [FieldScore(name, None, None, GROUP_CAP, GROUP_CAP, points)
            for name, points in _cap_lines(card, [score.points for score in scores])]


def _cap_lines(card: Scorecard, points: Sequence[float]) -> list[tuple[str, float]]:
    """(group, negative points) for each evidence group over its cap; `points` in the card's field order."""
    lines: list[tuple[str, float]] = []
    for group in card.groups:
        positive = 0.0
        for spec, p in zip(card.fields, points, strict=True):
            if spec.name in group.fields and p > 0:
                positive += p
        if positive > group.max_weight:
            lines.append((group.name, group.max_weight - positive))
    return lines


def decide(card: Scorecard, total: float, scores: Sequence[FieldScore]) -> tuple[str, str | None]:
    """Threshold decision, then the rules, in order: the same valid health card is a match unless a
    hard conflict sends it to review; two different valid cards are never an automatic match; and a
    card-level conflict (twins, parent and child) caps the decision."""
    decision, rule = card.decide(total), None
    by_name = {s.field: s for s in scores}
    policy = card.health_card
    if policy is not None and by_name[policy.field].level not in (MISSING, DISAGREE):
        for group in policy.hard_conflicts:
            if all(by_name[name].level == DISAGREE for name in group):
                return UNCERTAIN, RULE_HC_CONFLICT
        return MATCH, RULE_HC_MATCH
    if policy is not None and by_name[policy.field].level == DISAGREE:
        decision, rule = min(decision, UNCERTAIN, key=_RANK.__getitem__), RULE_HC_MISMATCH
    level_of = {name: score.level for name, score in by_name.items()} if card.conflicts else {}
    for conflict in card.conflicts:
        if conflict.applies(level_of):
            capped = min(decision, conflict.decision, key=_RANK.__getitem__)
            if capped != decision:
                decision, rule = capped, conflict.name
    return decision, rule


def _remembered(spec: FieldSpec, memo: dict[str | None, tuple[str, str, float]] | None, value_a: str | None,
                value_b: str | None, a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[str, str, float]:
    """`field_outcome`, read from (and left in) the memo of `a`'s value when the two values alone decide it."""
    if memo is not None and spec.aliases_key is not None and _listed(b.get(spec.aliases_key)):
        memo = None  # b's aliases count too: not an outcome of the two values alone
    outcome = None if memo is None else memo.get(value_b)
    if outcome is None:
        outcome = field_outcome(spec, value_a, value_b, a, b)
        if memo is not None and len(memo) < _MEMO_PARTNERS:
            memo[value_b] = outcome
    return outcome


_SLACK = 1e-6  # totals are rounded to 6 decimals; a bound this close to a floor is not below it


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a Scorer needs from its card, worked out once per card."""

    order: tuple[int, ...]  # fields, the health card first, then the widest outside any group
    group_of: dict[int, int]  # field index -> group index, when no field is in two groups
    caps: tuple[float, ...]
    maxes: tuple[float, ...]  # a field's highest possible points
    hc: int | None
    swap: tuple[int, int] | None
    # field index -> a's value -> b's value -> (comparator, level, points): a field's outcome depends on the two
    # values alone (aliases aside), and names, cities and dates recur across a region's feeds
    memo: tuple[dict[str | None, dict[str | None, tuple[str, str, float]]], ...]


_MEMO_VALUES = 50_000  # distinct values of `a` remembered per field before that field's memo starts over
_MEMO_PARTNERS = 4_096  # values of `b` remembered for one value of `a`

_PLANS: dict[int, tuple[Scorecard, _Plan]] = {}


def _plan(card: Scorecard) -> _Plan:
    cached = _PLANS.get(id(card))
    if cached is not None and cached[0] is card:
        return cached[1]
    names = [spec.name for spec in card.fields]
    members = [names.index(f) for group in card.groups for f in group.fields]
    disjoint = len(members) == len(set(members))
    group_of = {names.index(f): g for g, group in enumerate(card.groups) for f in group.fields} if disjoint else {}
    outcomes = [[spec.missing_weight, spec.disagree_weight, *(level.weight for level in spec.levels)]
                for spec in card.fields]
    maxes = tuple(max(o) for o in outcomes)
    hc = names.index(card.health_card.field) if card.health_card is not None else None
    order = tuple(sorted(range(len(names)), key=lambda i: (i != hc, i in group_of, min(outcomes[i]) - maxes[i], i)))
    plan = _Plan(order, group_of, tuple(g.max_weight for g in card.groups) if disjoint else (), maxes, hc,
                 card.name_swap_index, tuple({} for _ in card.fields))
    if len(_PLANS) > 64:
        _PLANS.clear()
    _PLANS[id(card)] = (card, plan)
    return plan


class Scorer:
    """One record scored against many (a feed's candidates): `a` is normalised once.

    `score(b)` is exactly `score_pair(card, a, b)`. `bound(b, floor)` is the cheap part: it walks the
    fields, most decisive first, and stops as soon as the points still possible can't reach `floor`,
    returning that upper bound (below `floor`). Otherwise it returns the exact total, or infinity when
    the health-card rule decides the pair whatever the total. A field `a` lacks (and that has no
    aliases) scores its missing weight whatever `b` holds, so it is settled before any candidate.
    Evidence-group caps tighten the bound when no field is in two groups (the bound is then monotone
    in every field's points); otherwise the caps are left out of the bound, which stays an upper bound.
    """

    __slots__ = ("card", "a", "values_a", "_plan", "_fixed", "_order", "_free", "_groups", "_memos")

    def __init__(self, card: Scorecard, a: Mapping[str, Any]) -> None:
        self.card = card
        self.a = a
        self.values_a = [spec.normalize(a.get(spec.name)) for spec in card.fields]
        plan = self._plan = _plan(card)
        maxes = list(plan.maxes)
        fixed: list[tuple[int, float]] = []
        for i, spec in enumerate(card.fields):
            if spec.aliases_key is None and self.values_a[i] is None:
                fixed.append((i, spec.missing_weight))
                maxes[i] = spec.missing_weight
        self._fixed = fixed
        settled = {i for i, _ in fixed}
        order = []
        memos: list[dict[str | None, tuple[str, str, float]] | None] = [None] * len(card.fields)
        for i in plan.order:
            if i in settled:
                continue
            spec = card.fields[i]
            memo: dict[str | None, tuple[str, str, float]] | None = None
            if spec.aliases_key is None or not _listed(a.get(spec.aliases_key)):
                by_a = plan.memo[i]
                if len(by_a) > _MEMO_VALUES:
                    by_a.clear()
                memo = memos[i] = by_a.setdefault(self.values_a[i], {})
            swap_pair = plan.swap if plan.swap is not None and i in plan.swap else None
            order.append((i, maxes[i], plan.group_of.get(i), spec.name, spec.normalize, memo, swap_pair,
                          i == plan.hc, spec))
        self._order = order
        self._memos = memos
        # the points still possible before any field of b is read: outside the groups, and a group's
        # positive and negative parts (its cap applies to the positive part)
        self._free = sum(m for i, m in enumerate(maxes) if i not in plan.group_of)
        self._groups = [0.0] * (2 * len(plan.caps))
        for i, g in plan.group_of.items():
            self._groups[2 * g + (maxes[i] <= 0)] += maxes[i]

    def score(self, b: Mapping[str, Any]) -> PairScore:
        """`score_pair(card, a, b)`, without normalising `a` again, and with the field outcomes that
        `bound` (or an earlier candidate) already worked out for the same two values."""
        card, a, values_a, fields, memos = self.card, self.a, self.values_a, self.card.fields, self._memos
        values_b = [spec.normalize(b.get(spec.name)) for spec in fields]
        swapped = _swap_if_names_crossed(card, values_a, values_b)
        scores: list[FieldScore] = []
        total = 0.0
        for i, spec in enumerate(fields):
            value = values_b[i]
            comparator, level, points = _remembered(spec, memos[i], values_a[i], value, a, b)
            if i in swapped:
                comparator += SWAP_SUFFIX
            scores.append(FieldScore(spec.name, values_a[i], value, comparator, level, points))
            total += points
        for cap in _group_caps(card, scores):
            scores.append(cap)
            total += cap.points
        total = round(total, 6)
        decision, rule = decide(card, total, scores)
        return PairScore(total, decision, rule, tuple(scores), card.id, card.version)

    def bound(self, b: Mapping[str, Any], floor: float) -> tuple[float, bool]:
        """(value, exact): the exact total (rounded like `score_pair`'s) when it may reach `floor`, or
        an upper bound below `floor` (``exact`` False); infinity (exact True) when the health-card rule
        applies to the pair."""
        card, a, values_a, fields = self.card, self.a, self.values_a, self.card.fields
        values_b: list[str | None] = [None] * len(fields)
        points = [0.0] * len(fields)
        for i, weight in self._fixed:
            points[i] = weight
        free, groups, caps = self._free, list(self._groups), self._plan.caps
        one_cap = caps[0] if len(caps) == 1 else None
        swapped = False
        limit = floor - _SLACK
        for i, most, g, name, normalize, memo, swap, is_hc, spec in self._order:
            if swap is None:
                value = values_b[i] = normalize(b.get(name))
            else:
                if not swapped:
                    x, y = swap
                    values_b[x] = fields[x].normalize(b.get(fields[x].name))
                    values_b[y] = fields[y].normalize(b.get(fields[y].name))
                    _swap_names(x, y, values_a, values_b)
                    swapped = True
                value = values_b[i]
            _, level, p = _remembered(spec, memo, values_a[i], value, a, b)
            if is_hc and level != MISSING and level != DISAGREE:
                return math.inf, True
            points[i] = p
            if g is None:
                free += p - most
            else:
                groups[2 * g + (most <= 0)] -= most
                groups[2 * g + (p <= 0)] += p
            if one_cap is not None:
                positive = groups[0]
                ceiling = free + (one_cap if positive > one_cap else positive) + groups[1]
            else:
                ceiling = free
                for k, cap in enumerate(caps):
                    positive = groups[2 * k]
                    ceiling += (cap if positive > cap else positive) + groups[2 * k + 1]
            if ceiling < limit:
                return ceiling, False
        total = sum(points)
        for _, excess in _cap_lines(card, points):
            total += excess
        return round(total, 6), True
