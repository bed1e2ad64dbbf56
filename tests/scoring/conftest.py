"""Fixtures for the scoring tests: the pinned fixture card and plain record builders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scoring import Scorecard, load_scorecard

FIXTURE_CARD = Path(__file__).resolve().parents[1] / "data" / "scorecards" / "fixture-v1.json"


@pytest.fixture(scope="session")
def fixture_card() -> Scorecard:
    return load_scorecard(FIXTURE_CARD)


@pytest.fixture(scope="session")
def default_card() -> Scorecard:
    return load_scorecard()


def make_record(**overrides: Any) -> dict[str, Any]:
    """A synthetic person (no real data) with every field filled; override or set None per test."""
    record: dict[str, Any] = {
        "given_name": "Jonathan",
        "middle_name": "Edward",
        "family_name": "Tremblay",
        "birth_date": "1980-05-13",
        "sex": "M",
        "address_line": "12 Maple Street",
        "city": "Toronto",
        "province": "ON",
        "postal_code": "M5V 2T6",
        "phone": "416-555-0143",
        "health_card": None,
        "mothers_maiden_name": "Gagnon",
    }
    record.update(overrides)
    return record


def make_hl7_style(**overrides: Any) -> dict[str, Any]:
    """What a typical HL7 test message carries: name, date of birth, sex and address only."""
    return make_record(middle_name=None, phone=None, health_card=None, mothers_maiden_name=None, **overrides)
