"""How far the issue's household traps cap accuracy on FEBRL: an upper bound on F1 for *any* card
that honours them.

The traps (tests/scoring/test_traps.py) say two records must not be linked automatically when
  * twins: birth date, surname and street address agree, the given names differ outright;
  * parent and child: given name, surname and street address agree, the birth dates differ outright.
FEBRL's generator corrupts a record by replacing a field with another valid value, so some of its
true pairs have exactly those shapes. A card that honours the traps cannot link them; neither can it
link a true pair that blocking never proposed. With every other true pair linked and no false link,
recall and F1 are at most what this prints. "Agree" is the strictest reading (the default card's
`exact` level after normalisation) and "differ outright" its `disagree` level, so the shares are the
smallest the traps allow.

Run:  .venv/bin/python benchmarks/scoring/trap_bound.py [febrl4 febrl3 febrl2]
"""

from __future__ import annotations

import sys

from febrl import candidate_pairs, load

from scoring import load_scorecard, score_pair

TWIN = ("given_name", ("family_name", "birth_date", "address_line"))
PARENT = ("birth_date", ("given_name", "family_name", "address_line"))


def bound(name: str) -> None:
    card = load_scorecard()
    left, right, truth = load(name)
    other = left if right is None else right
    recs_left = dict(zip(left.index, left.to_dict("records"), strict=True))
    recs_right = dict(zip(other.index, other.to_dict("records"), strict=True))
    blocked = candidate_pairs(left, right) & truth
    shaped = {"twins": 0, "parent and child": 0}
    lost = len(truth) - len(blocked)
    for x, y in blocked:
        level = {f.field: f.level for f in score_pair(card, recs_left[x], recs_right[y]).fields}
        for label, (differs, agree) in (("twins", TWIN), ("parent and child", PARENT)):
            if level[differs] == "disagree" and all(level[f] == "exact" for f in agree):
                shaped[label] += 1
                lost += 1
                break
    recall = 1 - lost / len(truth)
    f1 = 2 * recall / (1 + recall)
    n = len(truth)
    print(
        f"{name}: {n} true pairs; blocking misses {n - len(blocked)} ({(n - len(blocked)) / n:.2%}); "
        f"twin-shaped {shaped['twins']} ({shaped['twins'] / n:.2%}); parent-and-child-shaped "
        f"{shaped['parent and child']} ({shaped['parent and child'] / n:.2%}) -> with the traps honoured, "
        f"recall <= {recall:.4f} and F1 <= {f1:.4f}; sent to review instead, they alone are "
        f"{sum(shaped.values()) / n:.2%} of true pairs in review"
    )


if __name__ == "__main__":
    for dataset in sys.argv[1:] or ["febrl4", "febrl3"]:
        bound(dataset)
