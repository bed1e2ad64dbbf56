"""score_pair: walk a scorecard over two records and explain the total field by field.

Each field's points come from the first level whose comparator reaches its minimum similarity
(levels are ordered strongest first), else the field's disagree weight; a value missing on either
side scores the missing weight. The health-card rule then overrides or caps the threshold decision.
"""

from __future__ import annotations

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
    values_a = [spec.normalize(a.get(spec.name)) for spec in card.fields]
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
    if spec.aliases_key is not None:
        aliases_a, aliases_b = a.get(spec.aliases_key), b.get(spec.aliases_key)
        if _listed(aliases_a) or _listed(aliases_b):
            return _score_with_aliases(spec, value_a, value_b, aliases_a, aliases_b)
    if value_a is None or value_b is None:
        return FieldScore(spec.name, value_a, value_b, MISSING, MISSING, spec.missing_weight)
    for level in spec.levels:
        if level.compare(value_a, value_b) >= level.min_similarity:
            return FieldScore(spec.name, value_a, value_b, level.comparator, level.label, level.weight)
    return FieldScore(spec.name, value_a, value_b, DISAGREE, DISAGREE, spec.disagree_weight)


def level_index(spec: FieldSpec, value_a: str, value_b: str) -> int:
    """Index of the first level reached, or len(levels) for a disagreement."""
    for index, level in enumerate(spec.levels):
        if level.compare(value_a, value_b) >= level.min_similarity:
            return index
    return len(spec.levels)


def _score_with_aliases(
    spec: FieldSpec, value_a: str | None, value_b: str | None, aliases_a: object, aliases_b: object
) -> FieldScore:
    best, via_alias = alias_level_index(spec, value_a, value_b, aliases_a, aliases_b)
    if best < 0:
        return FieldScore(spec.name, value_a, value_b, MISSING, MISSING, spec.missing_weight)
    if best == len(spec.levels):
        return FieldScore(spec.name, value_a, value_b, DISAGREE, DISAGREE, spec.disagree_weight)
    level = spec.levels[best]
    comparator = level.comparator + (ALIAS_SUFFIX if via_alias else "")
    return FieldScore(spec.name, value_a, value_b, comparator, level.label, level.weight)


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
    if swap is None:
        return set()
    g, f = swap
    ga, fa, gb, fb = values_a[g], values_a[f], values_b[g], values_b[f]
    if ga is None or fa is None or gb is None or fb is None or (ga == gb and fa == fb):
        return set()
    crossed_g, crossed_f = jaro_winkler(ga, fb), jaro_winkler(fa, gb)
    if max(crossed_g, crossed_f) < SWAP_MIN_SIMILARITY:
        return set()
    if crossed_g + crossed_f <= jaro_winkler(ga, gb) + jaro_winkler(fa, fb):
        return set()
    values_b[g], values_b[f] = fb, gb
    return {g, f}


def _group_caps(card: Scorecard, scores: Sequence[FieldScore]) -> list[FieldScore]:
    """One negative line per evidence group whose positive points exceed its cap, so that the
    breakdown still adds up to the total."""
    caps: list[FieldScore] = []
    for group in card.groups:
        positive = 0.0
        for score in scores:
            if score.field in group.fields and score.points > 0:
                positive += score.points
        if positive > group.max_weight:
            caps.append(FieldScore(group.name, None, None, GROUP_CAP, GROUP_CAP, group.max_weight - positive))
    return caps


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
