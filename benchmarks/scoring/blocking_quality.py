"""Pair completeness and reduction ratio of scoring.blocking_keys on FEBRL3 and FEBRL4.

Run:  .venv/bin/python benchmarks/scoring/blocking_quality.py
"""

from __future__ import annotations

from febrl import candidate_pairs, load, total_pairs


def main() -> None:
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


if __name__ == "__main__":
    main()
