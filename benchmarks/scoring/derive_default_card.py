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
import os
import sys
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "scoring" / "scorecards" / "default-v1.json"

# Points per bit. The thresholds are fixed by the region (70/63 points), so this scale says how much
# evidence they demand: 70 points = 25 bits, 63 points = 22.5 bits. A new record meets a few hundred
# candidates through blocking (prior odds about 2**-8 per candidate), so the upper threshold leaves
# posterior odds of about 2**17 and the lower about 2**14.5. The scale was chosen among 2.0-3.0 on
# FEBRL2 and the household trap cases (twins, parent and child, NIST-style siblings), never FEBRL3/4.
POINTS_PER_BIT = float(os.environ.get("POINTS_PER_BIT", "2.8"))

# field -> (normaliser, aliases_key, levels [(label, comparator, min_similarity, m, u)], (m, u) disagree)
FIELDS: list[tuple[str, str, str | None, list[tuple[str, str, float, float, float]], tuple[float, float]]] = [
    # m of the error levels (typo, close, one-digit...) follows the error rates of registration data
    # as simulated by FEBRL2 (the only dataset consulted); m of an outright disagreement and every u
    # come from reasoning about real populations, stated per field.
    # Given names: u = 1% (a common name's share); outright disagreement after nickname, compound,
    # typo, phonetic and initial levels is rare for one person (1%) and the signature of siblings.
    ("given_name", "given_name", None, [
        ("exact", "exact", 1.0, 0.70, 0.01),
        ("compound", "name_tokens", 1.0, 0.015, 0.0005),
        ("nickname", "nickname", 1.0, 0.01, 0.001),
        ("typo", "jaro_winkler", 0.9, 0.12, 0.003),
        ("phonetic", "phonetic", 1.0, 0.01, 0.005),
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
        ("exact", "exact", 1.0, 0.65, 0.01),
        ("compound", "name_tokens", 1.0, 0.015, 0.0005),
        ("typo", "jaro_winkler", 0.9, 0.15, 0.003),
        ("similar", "jaro_winkler", 0.8, 0.03, 0.03),
        ("phonetic", "phonetic", 1.0, 0.01, 0.02),
    ], (0.03, 0.93)),
    # Birth dates: u for the same date is about 1/2000 among candidates (blocks often share a birth
    # year); a completely different date for one person is rare (2%) and the signature of a parent.
    ("birth_date", "birth_date", None, [
        ("exact", "exact", 1.0, 0.87, 0.0005),
        ("transposed", "birth_date", 0.9, 0.01, 0.00005),
        ("one-digit", "birth_date", 0.8, 0.03, 0.002),
        ("year-off", "birth_date", 0.7, 0.005, 0.0005),
        ("partial", "birth_date", 0.5, 0.01, 0.01),
    ], (0.02, 0.99)),
    ("sex", "sex", None, [("exact", "exact", 1.0, 0.98, 0.5)], (0.02, 0.5)),
    # Location: household members share it, so u is per candidate pair, not per population; city and
    # province add little once the street and postal code agree, so their u is high.
    ("address_line", "address", None, [
        ("exact", "exact", 1.0, 0.45, 0.002),
        ("close", "street_address", 0.88, 0.20, 0.001),
        ("street", "street_address", 0.72, 0.20, 0.01),
    ], (0.15, 0.987)),
    ("city", "city", None, [
        ("exact", "exact", 1.0, 0.70, 0.2),
        ("typo", "jaro_winkler", 0.9, 0.20, 0.06),
    ], (0.10, 0.74)),
    ("province", "province", None, [
        ("exact", "exact", 1.0, 0.94, 0.5),
        ("typo", "damerau_levenshtein", 0.6, 0.02, 0.02),
    ], (0.04, 0.48)),
    ("postal_code", "postal_code", None, [
        ("exact", "exact", 1.0, 0.78, 0.01),
        ("typo", "damerau_levenshtein", 0.75, 0.18, 0.01),
        ("area", "prefix3", 1.0, 0.02, 0.05),
    ], (0.02, 0.93)),
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


CONFLICT_DECISION = os.environ.get("CONFLICT_DECISION", "non-match")
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
            f"benchmarks/scoring/derive_default_card.py: weight = {POINTS_PER_BIT} * log2(m/u) (Fellegi-Sunter); "
            "u from value-frequency reasoning, m of error levels from FEBRL2 error rates, m of outright "
            "disagreement from reasoning; scale chosen on FEBRL2 and household trap cases; not fitted to FEBRL3/4"
        ),
        "thresholds": {"upper": 70.0, "lower": 63.0},
        "name_swap": {"given": "given_name", "family": "family_name"},
        "health_card": {"field": "health_card", "hard_conflicts": [["birth_date", "sex"]]},
        # A household (twins, a parent and child) shares address, phone and mother: these fields are
        # not independent, so together they count at most as much as one exact street address plus
        # postal code, city and province.
        # Twins differ only in given name, a parent and child only in birth date: never auto-link those.
        "conflicts": [
            {"name": "given-name-conflict", "fields": ["given_name"], "decision": CONFLICT_DECISION},
            {"name": "birth-date-conflict", "fields": ["birth_date"], "decision": CONFLICT_DECISION},
        ],
        "groups": [{"name": "household", "fields": HOUSEHOLD, "max_weight": household_cap()}],
        "fields": fields,
    }


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    out.write_text(json.dumps(build(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
