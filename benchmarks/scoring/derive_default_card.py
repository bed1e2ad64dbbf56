"""Write scoring/scorecards/default-v1.json from stated m/u assumptions (Fellegi-Sunter).

Each level's weight is POINTS_PER_BIT * log2(m / u), rounded to 0.1 point, where
  m = P(level | the two records are the same person)  -- from assumed error rates in source data
  u = P(level | two different people among blocked candidates) -- from value-frequency reasoning.
Missing values score 0 (no evidence either way). Nothing here is fitted to FEBRL3/FEBRL4.

Run:  .venv/bin/python benchmarks/scoring/derive_default_card.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

# One point is half a bit: 70 points = 35 bits of evidence. With a prior of about 2**-24 for two
# random records in a region of ~15 million people, 70 points leaves posterior odds of about 2**11
# (match probability > 0.999) and 63 points about 2**7.5 (> 0.99).
POINTS_PER_BIT = 2.0

# field -> (normaliser, aliases_key, levels [(label, comparator, min_similarity, m, u)], (m, u) disagree)
FIELDS: list[tuple[str, str, str | None, list[tuple[str, str, float, float, float]], tuple[float, float]]] = [
    # Given names: ~86% of true pairs agree exactly; typos, nicknames and compound names make most of
    # the rest. u: a common given name covers about 1% of people.
    ("given_name", "given_name", None, [
        ("exact", "exact", 1.0, 0.86, 0.01),
        ("compound", "name_tokens", 1.0, 0.02, 0.0005),
        ("nickname", "nickname", 1.0, 0.02, 0.001),
        ("typo", "jaro_winkler", 0.9, 0.05, 0.003),
        ("phonetic", "phonetic", 1.0, 0.005, 0.005),
        ("similar", "jaro_winkler", 0.8, 0.02, 0.03),
        ("initial", "initial", 1.0, 0.005, 0.01),
    ], (0.01, 0.92)),
    ("middle_name", "given_name", None, [
        ("exact", "exact", 1.0, 0.70, 0.02),
        ("typo", "jaro_winkler", 0.9, 0.05, 0.005),
        ("initial", "initial", 1.0, 0.15, 0.06),
    ], (0.10, 0.91)),
    # Family names change at marriage (m of disagreement 3%); aliases (maiden names) are tried too.
    ("family_name", "family_name", "family_name_aliases", [
        ("exact", "exact", 1.0, 0.86, 0.01),
        ("compound", "name_tokens", 1.0, 0.02, 0.0005),
        ("typo", "jaro_winkler", 0.9, 0.06, 0.003),
        ("similar", "jaro_winkler", 0.8, 0.02, 0.03),
        ("phonetic", "phonetic", 1.0, 0.01, 0.02),
    ], (0.03, 0.93)),
    # Birth dates: u for the same date is about 1/2000 among candidates (blocks often share a birth
    # year); keying errors give the near levels.
    ("birth_date", "birth_date", None, [
        ("exact", "exact", 1.0, 0.90, 0.0005),
        ("transposed", "birth_date", 0.9, 0.01, 0.00005),
        ("one-digit", "birth_date", 0.8, 0.04, 0.002),
        ("year-off", "birth_date", 0.7, 0.01, 0.0005),
        ("partial", "birth_date", 0.5, 0.01, 0.01),
    ], (0.03, 0.99)),
    ("sex", "sex", None, [("exact", "exact", 1.0, 0.98, 0.5)], (0.02, 0.5)),
    # Location: household members share it, so u is per candidate pair, not per population; city and
    # province add little once the street and postal code agree, so their u is high.
    ("address_line", "address", None, [
        ("exact", "exact", 1.0, 0.60, 0.002),
        ("close", "street_address", 0.88, 0.15, 0.001),
        ("street", "street_address", 0.72, 0.10, 0.01),
    ], (0.15, 0.986)),
    ("city", "city", None, [
        ("exact", "exact", 1.0, 0.88, 0.2),
        ("typo", "jaro_winkler", 0.9, 0.05, 0.02),
    ], (0.07, 0.78)),
    ("province", "province", None, [
        ("exact", "exact", 1.0, 0.96, 0.5),
        ("typo", "damerau_levenshtein", 0.6, 0.01, 0.01),
    ], (0.03, 0.49)),
    ("postal_code", "postal_code", None, [
        ("exact", "exact", 1.0, 0.85, 0.01),
        ("typo", "damerau_levenshtein", 0.75, 0.05, 0.01),
        ("area", "prefix3", 1.0, 0.03, 0.05),
    ], (0.07, 0.93)),
    ("phone", "phone", None, [
        ("exact", "exact", 1.0, 0.70, 0.0005),
        ("local", "phone_local", 1.0, 0.05, 0.0005),
        ("typo", "damerau_levenshtein", 0.9, 0.05, 0.001),
    ], (0.20, 0.998)),
    # Health card: the deterministic rule decides; the points still show in the breakdown.
    ("health_card", "health_card", None, [("exact", "exact", 1.0, 0.97, 0.00002)], (0.03, 1.0)),
    ("mothers_maiden_name", "family_name", None, [
        ("exact", "exact", 1.0, 0.80, 0.01),
        ("typo", "jaro_winkler", 0.9, 0.08, 0.005),
    ], (0.12, 0.985)),
]  # fmt: skip


def weight(m: float, u: float) -> float:
    return round(POINTS_PER_BIT * math.log2(m / u), 1)


HOUSEHOLD = ["address_line", "city", "province", "postal_code", "phone", "mothers_maiden_name"]


def household_cap() -> float:
    levels = {name: levels[0] for name, _, _, levels, _ in FIELDS}
    return round(sum(weight(levels[f][3], levels[f][4]) for f in HOUSEHOLD[:4]), 1)


def build() -> dict[str, object]:
    fields = []
    for name, normalizer, aliases_key, levels, (dm, du) in FIELDS:
        spec: dict[str, object] = {"name": name, "normalizer": normalizer}
        if aliases_key:
            spec["aliases_key"] = aliases_key
        spec["levels"] = [
            {"label": lab, "comparator": comp, "min_similarity": sim, "m": m, "u": u, "weight": weight(m, u)}
            for lab, comp, sim, m, u in levels
        ]
        spec["missing_weight"] = 0.0
        spec["disagree_m"], spec["disagree_u"] = dm, du
        spec["disagree_weight"] = weight(dm, du)
        fields.append(spec)
    return {
        "id": "default",
        "version": "1",
        "created_from": (
            "benchmarks/scoring/derive_default_card.py: weight = 2 * log2(m/u) (points are half-bits), m/u from "
            "stated error-rate and value-frequency assumptions; not fitted to any dataset"
        ),
        "thresholds": {"upper": 70.0, "lower": 63.0},
        "name_swap": {"given": "given_name", "family": "family_name"},
        "health_card": {"field": "health_card", "hard_conflicts": [["birth_date", "sex"]]},
        # A household (twins, a parent and child) shares address, phone and mother: these fields are
        # not independent, so together they count at most as much as one exact street address plus
        # postal code, city and province.
        "groups": [{"name": "household", "fields": HOUSEHOLD, "max_weight": household_cap()}],
        "fields": fields,
    }


if __name__ == "__main__":
    out = Path(__file__).resolve().parents[2] / "scoring" / "scorecards" / "default-v1.json"
    out.write_text(json.dumps(build(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
