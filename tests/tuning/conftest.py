"""Fixtures for the tuning tests: a small pinned card (not the production one) and labelled pairs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from empi.runtime import Runtime
from scoring import Scorecard, save_scorecard
from scoring.scorecard import parse_scorecard


def small_card_data(version: str = "1") -> dict[str, Any]:
    def level(label: str, comparator: str, sim: float, m: float, u: float, weight: float) -> dict[str, Any]:
        return {"label": label, "comparator": comparator, "min_similarity": sim, "m": m, "u": u, "weight": weight}

    return {
        "id": "tuning-fixture", "version": version, "created_from": "tests/tuning/conftest.py",
        "thresholds": {"upper": 20.0, "lower": 10.0},
        "health_card": {"field": "health_card", "hard_conflicts": [["birth_date", "sex"]]},
        "fields": [
            {"name": "given_name", "normalizer": "given_name", "missing_weight": 0.0,
             "disagree_m": 0.05, "disagree_u": 0.9, "disagree_weight": -8.0,
             "levels": [level("exact", "exact", 1.0, 0.85, 0.02, 10.0),
                        level("typo", "jaro_winkler", 0.9, 0.1, 0.08, 4.0)]},
            {"name": "family_name", "normalizer": "family_name", "missing_weight": 0.0,
             "disagree_m": 0.1, "disagree_u": 0.98, "disagree_weight": -6.0,
             "levels": [level("exact", "exact", 1.0, 0.9, 0.02, 10.0)]},
            {"name": "birth_date", "normalizer": "birth_date", "missing_weight": 0.0,
             "disagree_m": 0.05, "disagree_u": 0.99, "disagree_weight": -9.0,
             "levels": [level("exact", "exact", 1.0, 0.95, 0.01, 12.0)]},
            {"name": "sex", "normalizer": "sex", "missing_weight": 0.0,
             "disagree_m": 0.02, "disagree_u": 0.5, "disagree_weight": -5.0,
             "levels": [level("exact", "exact", 1.0, 0.98, 0.5, 2.0)]},
            {"name": "health_card", "normalizer": "health_card", "missing_weight": 0.0,
             "disagree_m": 0.02, "disagree_u": 1.0, "disagree_weight": -10.0,
             "levels": [level("exact", "exact", 1.0, 0.98, 0.0001, 26.0)]},
        ],
    }


@pytest.fixture
def small_card() -> Scorecard:
    return parse_scorecard(small_card_data(), source="small card")


@pytest.fixture
def small_card_path(small_card: Scorecard, tmp_path: Path) -> Path:
    path = tmp_path / "small-card-v1.json"
    save_scorecard(small_card, path)
    return path


@pytest.fixture
def tuning_rt(make_runtime: Callable[..., Runtime], small_card_path: Path) -> Runtime:
    """A runtime on the parametrised database (SQLite and PostgreSQL) scoring with the small card."""
    return make_runtime(scorecard=str(small_card_path))
