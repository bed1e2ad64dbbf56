"""Accuracy of the default scorecard at its own thresholds on FEBRL4 (link) and FEBRL3 (dedup),
SSN left out, candidates from scoring.blocking_keys. Automatic matches count as links; recall is
over all true pairs (blocking misses included); "review" is the share of true pairs sent to review.

Run:  .venv/bin/python benchmarks/scoring/accuracy.py [febrl4 febrl3 febrl2] [--card PATH]
"""

from __future__ import annotations

import argparse
from collections import Counter

from febrl import as_list, candidate_pairs, load

from scoring import load_scorecard, score_pair
from scoring.batch import score_pairs


def evaluate(name: str, card_path: str | None) -> None:
    card = load_scorecard(card_path)
    left, right, truth = load(name)
    other = left if right is None else right
    recs_left = dict(zip(left.index, left.to_dict("records"), strict=True))
    recs_right = dict(zip(other.index, other.to_dict("records"), strict=True))
    counts: Counter[tuple[bool, str]] = Counter()
    pairs = as_list(candidate_pairs(left, right))
    scalar = []
    for x, y in pairs:
        result = score_pair(card, recs_left[x], recs_right[y])
        scalar.append((result.total, result.decision))
        counts[((x, y) in truth, result.decision)] += 1
        if (x, y) in truth and result.rule in {c.name for c in card.conflicts}:
            counts[(True, "conflict")] += 1
    # The same pairs through scoring.batch must give the very same totals and decisions.
    batch = score_pairs(
        card,
        left,
        other,
        left.index.get_indexer([x for x, _ in pairs]),
        other.index.get_indexer([y for _, y in pairs]),
    )
    agree = sum(
        t == bt and d == bd
        for (t, d), bt, bd in zip(scalar, batch["total"], batch["decision"].astype(str), strict=True)
    )
    tp, fp = counts[(True, "match")], counts[(False, "match")]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    review_true = counts[(True, "uncertain")] / len(truth)
    review_all = counts[(True, "uncertain")] + counts[(False, "uncertain")]
    print(
        f"{name} (card {card.id} v{card.version}, no SSN): precision {precision:.4f} recall {recall:.4f} "
        f"F1 {f1:.4f}; true pairs in review {review_true:.2%}; review tasks {review_all}; "
        f"true pairs scored non-match {counts[(True, 'non-match')]}; false auto-links {fp}; "
        f"true pairs capped by a household conflict rule (twins, parent and child, siblings, housemates) {counts[(True, 'conflict')] / len(truth):.2%}; "
        f"candidates {len(pairs)}, batch identical on {agree}/{len(pairs)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("datasets", nargs="*", default=["febrl4", "febrl3"])
    parser.add_argument("--card", default=None)
    args = parser.parse_args()
    for name in args.datasets:
        evaluate(name, args.card)


if __name__ == "__main__":
    main()
