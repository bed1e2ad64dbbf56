"""The scorecard file: load, validate (every problem reported at once), save.

A scorecard is data: fields with a normaliser, ordered levels (comparator, minimum similarity,
weight in points), the points for a missing or disagreeing value, and the decision thresholds.
Code only interprets it; changing a weight is a new file version, not a code change.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from scoring.comparators import COMPARATORS, Comparator
from scoring.normalize import NORMALIZERS, Normalizer

DEFAULT_SCORECARD = "default-v2.json"
MATCH, UNCERTAIN, NON_MATCH = "match", "uncertain", "non-match"


class ScorecardError(ValueError):
    """A scorecard file is unusable; `problems` lists every reason found, not just the first."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(f"invalid scorecard {source}:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True, slots=True)
class Level:
    label: str
    comparator: str
    min_similarity: float
    weight: float
    compare: Comparator = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    normalizer: str
    levels: tuple[Level, ...]
    missing_weight: float
    disagree_weight: float
    normalize: Normalizer = field(repr=False, compare=False)
    aliases_key: str | None = None  # record key of extra values this field also tries


@dataclass(frozen=True, slots=True)
class HealthCardPolicy:
    """Deterministic health-card rule: `field` names the card field; a same-number pair still goes to
    review when every field of any group in `hard_conflicts` disagrees outright."""

    field: str
    hard_conflicts: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class EvidenceGroup:
    """Fields that are not independent given the pair (a household shares its address, phone and
    mother), so their positive points together are capped at `max_weight`."""

    name: str
    fields: tuple[str, ...]
    max_weight: float


@dataclass(frozen=True, slots=True)
class Conflict:
    """When every field in `fields` disagrees outright, the decision is at most `decision`: the
    signature of a different person in the same household (twins: given names; a parent and child:
    birth dates) is never an automatic match, whatever the other fields add up to."""

    name: str
    fields: tuple[str, ...]
    decision: str
    levels: tuple[str, ...] = ("disagree",)  # level labels that count as conflicting
    # further conditions, all required: (field, level labels it must be at), for example twins are
    # only twins when surname, birth date and street agree as well
    when: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def applies(self, level_of: Mapping[str, str]) -> bool:
        """Whether the rule fires for a pair whose fields are at `level_of` (field -> level label)."""
        return all(level_of[name] in self.levels for name in self.fields) and all(
            level_of[name] in labels for name, labels in self.when
        )


@dataclass(frozen=True, slots=True)
class Scorecard:
    id: str
    version: str
    created_from: str
    upper: float
    lower: float
    fields: tuple[FieldSpec, ...]
    name_swap: tuple[str, str] | None = None  # (given field, family field) tried swapped
    health_card: HealthCardPolicy | None = None
    groups: tuple[EvidenceGroup, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name_swap_index(self) -> tuple[int, int] | None:
        """Positions of the (given, family) swap fields in `fields`, when name_swap is set."""
        if self.name_swap is None:
            return None
        names = [spec.name for spec in self.fields]
        return names.index(self.name_swap[0]), names.index(self.name_swap[1])

    def decide(self, total: float) -> str:
        """Above `upper` a match, below `lower` a non-match, otherwise (bounds included) uncertain."""
        if total > self.upper:
            return MATCH
        if total < self.lower:
            return NON_MATCH
        return UNCERTAIN

    def spec(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)


def load_scorecard(path: str | Path | None = None) -> Scorecard:
    """Load and validate a scorecard file (JSON); without `path`, the packaged default card."""
    if path is None:
        text = resources.files("scoring.scorecards").joinpath(DEFAULT_SCORECARD).read_text("utf-8")
        source = DEFAULT_SCORECARD
    else:
        text, source = Path(path).read_text("utf-8"), str(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScorecardError(source, [f"not valid JSON: {exc}"]) from exc
    return parse_scorecard(data, source=source)


def save_scorecard(card: Scorecard, path: str | Path) -> None:
    """Write the card's data back as JSON (what `load_scorecard` reads)."""
    Path(path).write_text(json.dumps(card.raw, indent=2) + "\n", encoding="utf-8")


def parse_scorecard(data: object, *, source: str = "<data>") -> Scorecard:
    """Validate a decoded scorecard document and build the card; raises ScorecardError."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise ScorecardError(source, ["top level must be an object"])
    ident = _text(data, "id", problems, "")
    version = _text(data, "version", problems, "")
    created_from = _text(data, "created_from", problems, "")
    upper, lower = _thresholds(data.get("thresholds"), problems)
    fields = _fields(data.get("fields"), problems)
    names = {f.name for f in fields}
    swap = _name_swap(data.get("name_swap"), names, problems)
    policy = _health_card(data.get("health_card"), names, problems)
    groups = _groups(data.get("groups", []), names, problems)
    labels = {f.name: {lv.label for lv in f.levels} | {"disagree", "missing"} for f in fields}
    conflicts = _conflicts(data.get("conflicts", []), labels, problems)
    if problems:
        raise ScorecardError(source, problems)
    return Scorecard(
        ident, version, created_from, upper, lower, fields, swap, policy, groups, conflicts, dict(data)
    )


def _text(data: Mapping[str, Any], key: str, problems: list[str], where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        problems.append(f"{where}{key}: must be a non-empty string")
        return ""
    return value


def _number(data: Mapping[str, Any], key: str, problems: list[str], where: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(f"{where}{key}: must be a finite number")
        return 0.0
    return float(value)


def _thresholds(data: object, problems: list[str]) -> tuple[float, float]:
    if not isinstance(data, Mapping):
        problems.append("thresholds: must be an object with upper and lower")
        return 0.0, 0.0
    upper = _number(data, "upper", problems, "thresholds.")
    lower = _number(data, "lower", problems, "thresholds.")
    if lower > upper:
        problems.append(f"thresholds: lower ({lower}) is above upper ({upper})")
    return upper, lower


def _fields(data: object, problems: list[str]) -> tuple[FieldSpec, ...]:
    if not isinstance(data, list) or not data:
        problems.append("fields: must be a non-empty list")
        return ()
    specs: list[FieldSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        spec = _field(item, problems, f"fields[{i}].")
        if spec is None:
            continue
        if spec.name in seen:
            problems.append(f"fields[{i}].name: duplicate field {spec.name!r}")
        seen.add(spec.name)
        specs.append(spec)
    return tuple(specs)


def _field(data: object, problems: list[str], where: str) -> FieldSpec | None:
    if not isinstance(data, Mapping):
        problems.append(f"{where[:-1]}: must be an object")
        return None
    name = _text(data, "name", problems, where)
    normalizer = _text(data, "normalizer", problems, where)
    if normalizer and normalizer not in NORMALIZERS:
        problems.append(f"{where}normalizer: unknown normaliser {normalizer!r}")
    missing = _number(data, "missing_weight", problems, where)
    disagree = _number(data, "disagree_weight", problems, where)
    aliases_key = data.get("aliases_key")
    if aliases_key is not None and not isinstance(aliases_key, str):
        problems.append(f"{where}aliases_key: must be a string")
        aliases_key = None
    levels = _levels(data.get("levels"), problems, f"{where}levels")
    if levels and disagree > min(level.weight for level in levels):
        problems.append(f"{where}disagree_weight: above the weight of a level")
    return FieldSpec(
        name, normalizer, levels, missing, disagree, NORMALIZERS.get(normalizer, _none), aliases_key
    )


def _levels(data: object, problems: list[str], where: str) -> tuple[Level, ...]:
    if not isinstance(data, list) or not data:
        problems.append(f"{where}: must be a non-empty list")
        return ()
    levels: list[Level] = []
    for i, item in enumerate(data):
        at = f"{where}[{i}]."
        if not isinstance(item, Mapping):
            problems.append(f"{at[:-1]}: must be an object")
            continue
        label = _text(item, "label", problems, at)
        comparator = _text(item, "comparator", problems, at)
        if comparator and comparator not in COMPARATORS:
            problems.append(f"{at}comparator: unknown comparator {comparator!r}")
        similarity = _number(item, "min_similarity", problems, at)
        if not 0.0 < similarity <= 1.0:
            problems.append(f"{at}min_similarity: must be in (0, 1]")
        weight = _number(item, "weight", problems, at)
        for earlier in levels:
            if earlier.comparator == comparator and earlier.min_similarity <= similarity:
                problems.append(
                    f"{at}min_similarity: unreachable, level {earlier.label!r} before it uses the same "
                    "comparator with a lower or equal minimum (order levels strongest first)"
                )
                break
        levels.append(Level(label, comparator, similarity, weight, COMPARATORS.get(comparator, _zero)))
    return tuple(levels)


def _name_swap(data: object, names: set[str], problems: list[str]) -> tuple[str, str] | None:
    if data is None:
        return None
    if not isinstance(data, Mapping) or not all(isinstance(data.get(k), str) for k in ("given", "family")):
        problems.append("name_swap: must be an object with string keys given and family")
        return None
    given, family = str(data["given"]), str(data["family"])
    for key in (given, family):
        if key not in names:
            problems.append(f"name_swap: {key!r} is not a field")
    return given, family


def _health_card(data: object, names: set[str], problems: list[str]) -> HealthCardPolicy | None:
    if data is None:
        return None
    if not isinstance(data, Mapping) or not isinstance(data.get("field"), str):
        problems.append("health_card: must be an object with a string field")
        return None
    card_field = str(data["field"])
    if card_field not in names:
        problems.append(f"health_card.field: {card_field!r} is not a field")
    groups = data.get("hard_conflicts", [])
    valid = isinstance(groups, list) and all(
        isinstance(g, list) and g and all(isinstance(n, str) for n in g) for g in groups
    )
    if not valid:
        problems.append("health_card.hard_conflicts: must be a list of lists of field names")
        return HealthCardPolicy(card_field, ())
    for group in groups:
        for name in group:
            if name not in names:
                problems.append(f"health_card.hard_conflicts: {name!r} is not a field")
    return HealthCardPolicy(card_field, tuple(tuple(g) for g in groups))


def _groups(data: object, names: set[str], problems: list[str]) -> tuple[EvidenceGroup, ...]:
    if not isinstance(data, list):
        problems.append("groups: must be a list")
        return ()
    groups: list[EvidenceGroup] = []
    grouped: set[str] = set()
    for i, item in enumerate(data):
        at = f"groups[{i}]."
        if not isinstance(item, Mapping):
            problems.append(f"{at[:-1]}: must be an object")
            continue
        name = _text(item, "name", problems, at)
        cap = _number(item, "max_weight", problems, at)
        members = item.get("fields")
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            problems.append(f"{at}fields: must be a non-empty list of field names")
            continue
        for member in members:
            if member not in names:
                problems.append(f"{at}fields: {member!r} is not a field")
            elif member in grouped:
                problems.append(f"{at}fields: {member!r} is already in another group")
            grouped.add(member)
        groups.append(EvidenceGroup(name, tuple(members), cap))
    return tuple(groups)


def _conflicts(data: object, names: Mapping[str, set[str]], problems: list[str]) -> tuple[Conflict, ...]:
    if not isinstance(data, list):
        problems.append("conflicts: must be a list")
        return ()
    conflicts: list[Conflict] = []
    for i, item in enumerate(data):
        at = f"conflicts[{i}]."
        if not isinstance(item, Mapping):
            problems.append(f"{at[:-1]}: must be an object")
            continue
        name = _text(item, "name", problems, at)
        decision = _text(item, "decision", problems, at)
        if decision and decision not in (UNCERTAIN, NON_MATCH):
            problems.append(f"{at}decision: must be {UNCERTAIN!r} or {NON_MATCH!r}")
        members = item.get("fields")
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            problems.append(f"{at}fields: must be a non-empty list of field names")
            continue
        for member in members:
            if member not in names:
                problems.append(f"{at}fields: {member!r} is not a field")
        levels = item.get("levels", ["disagree"])
        if not isinstance(levels, list) or not levels or not all(isinstance(lv, str) for lv in levels):
            problems.append(f"{at}levels: must be a non-empty list of level labels")
            levels = ["disagree"]
        when = _conflict_when(item.get("when", {}), names, problems, at)
        conflicts.append(Conflict(name, tuple(members), decision, tuple(levels), when))
    return tuple(conflicts)


def _conflict_when(
    data: object, names: Mapping[str, set[str]], problems: list[str], at: str
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(data, Mapping):
        problems.append(f"{at}when: must be an object of field name -> list of level labels")
        return ()
    out = []
    for member, labels in data.items():
        if member not in names:
            problems.append(f"{at}when: {member!r} is not a field")
        elif not isinstance(labels, list) or not labels or not all(isinstance(lv, str) for lv in labels):
            problems.append(f"{at}when.{member}: must be a non-empty list of level labels")
        else:
            for label in labels:
                if label not in names[member]:
                    problems.append(f"{at}when.{member}: {label!r} is not a level of {member!r}")
            out.append((member, tuple(labels)))
    return tuple(out)


def _none(value: object) -> str | None:
    return None


def _zero(a: str, b: str) -> float:
    return 0.0
