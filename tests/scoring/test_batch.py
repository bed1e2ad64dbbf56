from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import Scorecard, score_pair
from scoring.batch import score_frame, score_pairs
from tests.scoring.test_engine import _record

_pairs = st.lists(st.tuples(_record, _record), min_size=1, max_size=40)


def _assert_same(card: Scorecard, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    left = pd.DataFrame([a for a, _ in pairs])
    right = pd.DataFrame([b for _, b in pairs])
    frame = score_frame(card, left, right)
    for row, (a, b) in enumerate(pairs):
        expected = score_pair(card, a, b)
        got = frame.iloc[row]
        assert got["total"] == expected.total  # identical, not approximately equal
        assert (got["decision"], got["rule"]) == (expected.decision, expected.rule)
        for field in expected.fields:
            assert got[f"{field.field}_points"] == field.points
            if field.comparator != "group-cap":
                assert got[f"{field.field}_level"] == field.level


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=_pairs)
def test_batch_equals_score_pair_when_default_card(default_card: Scorecard, pairs: list[Any]) -> None:
    _assert_same(default_card, pairs)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=_pairs)
def test_batch_equals_score_pair_when_fixture_card(fixture_card: Scorecard, pairs: list[Any]) -> None:
    _assert_same(fixture_card, pairs)


def test_missing_columns_count_as_missing_values(default_card: Scorecard) -> None:
    left = pd.DataFrame({"given_name": ["Ann"], "family_name": ["Roy"]})
    right = pd.DataFrame({"given_name": ["Ann"]})
    frame = score_frame(default_card, left, right)
    assert frame.loc[0, "family_name_level"] == "missing"
    assert (
        frame.loc[0, "total"]
        == score_pair(default_card, {"given_name": "Ann", "family_name": "Roy"}, {"given_name": "Ann"}).total
    )


def test_unaligned_frames_are_rejected(default_card: Scorecard) -> None:
    with pytest.raises(ValueError, match="rows"):
        score_frame(default_card, pd.DataFrame({"given_name": ["A"]}), pd.DataFrame({"given_name": []}))


def test_score_pairs_equals_score_pair_when_records_repeat(default_card: Scorecard) -> None:
    people = [
        {"given_name": "Ann", "family_name": "Roy", "birth_date": "1980-05-13", "postal_code": "K1A 0B1"},
        {"given_name": "Anne", "family_name": "Roy", "birth_date": "1980-13-05", "postal_code": "K1A 0B2"},
        {"given_name": "Roy", "family_name": "Ann", "birth_date": None, "family_name_aliases": ["Gagnon"]},
    ]
    left_rows, right_rows = [0, 0, 1, 2, 2, 1], [1, 2, 2, 0, 2, 1]
    frame = pd.DataFrame(people)
    scored = score_pairs(default_card, frame, frame, left_rows, right_rows)
    for k, (i, j) in enumerate(zip(left_rows, right_rows, strict=True)):
        expected = score_pair(default_card, people[i], people[j])
        assert (scored.loc[k, "total"], scored.loc[k, "decision"]) == (expected.total, expected.decision)
