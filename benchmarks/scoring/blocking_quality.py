"""Pair completeness and reduction ratio of the blocking keys (scoring.blocking) on FEBRL2/3/4, and what each kind of
key carries: the true pairs found through that kind alone (and how many of them score at or above the
default card's lower threshold, i.e. would be lost to a review or a link if the kind went), and the
non-matching pairs that share only that kind (the candidate rows a feed reads and bounds for nothing).

Run:  .venv/bin/python benchmarks/scoring/blocking_quality.py [--by-kind]
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict

from febrl import candidate_pairs, load, total_pairs

from scoring import load_scorecard, score_pair
from scoring.tuning import pairs_by_key_kind


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--by-kind", action="store_true", help="also what each kind of key alone carries")
    args = ap.parse_args()
    for name in ("febrl4", "febrl3", "febrl2"):
        left, right, truth = load(name)
        pairs = candidate_pairs(left, right)
        completeness = len(truth & pairs) / len(truth)
        share = len(pairs) / total_pairs(left, right)
        print(
            f"{name}: candidates={len(pairs):,} of {total_pairs(left, right):,} "
            f"(kept {share:.4%}, reduction ratio {1 - share:.5f}); "
            f"pair completeness {completeness:.4f} ({len(truth & pairs)}/{len(truth)})"
        )
        if args.by_kind:
            by_kind(left, right, truth, pairs)


def by_kind(left, right, truth, pairs) -> None:  # type: ignore[no-untyped-def]
    card = load_scorecard()
    records = dict(zip(left.index, left.to_dict("records"), strict=True))
    if right is not None:
        records.update(zip(right.index, right.to_dict("records"), strict=True))
    kinds: dict[tuple[str, str], set[str]] = defaultdict(set)
    for kind, met in pairs_by_key_kind(left, right).items():
        for pair in met:
            kinds[pair].add(kind)
    true_alone: Counter[str] = Counter()
    true_alone_scoring: Counter[str] = Counter()
    noise_alone: Counter[str] = Counter()
    for (a, b), shared in kinds.items():
        if len(shared) != 1:
            continue
        kind = next(iter(shared))
        if (a, b) in truth:
            true_alone[kind] += 1
            true_alone_scoring[kind] += score_pair(card, records[a], records[b]).total >= card.lower
        else:
            noise_alone[kind] += 1
    for kind in sorted(set(true_alone) | set(noise_alone)):
        print(f"    {kind}: true pairs through it alone {true_alone[kind]:>4} ({true_alone_scoring[kind]:>4} scoring "
              f">= {card.lower:g}); non-matching pairs sharing only it {noise_alone[kind]:>6,}")


if __name__ == "__main__":
    main()
