from __future__ import annotations

import json
from pathlib import Path

import pytest

from scoring import load_scorecard, score_pair
from scoring.healthcard import HealthCardRule, OntarioHealthCard, luhn_valid, validate_health_card
from scoring.normalize import register_health_card_rule
from tests.scoring.conftest import FIXTURE_CARD


class TestOntario:
    @pytest.mark.parametrize("raw", ["9876543217", "9876-543-217", "9876 543 217 AB", "9876543217ab"])
    def test_valid_when_luhn_holds_with_or_without_version_code(self, raw: str) -> None:
        assert validate_health_card(raw)
        assert OntarioHealthCard().normalize(raw) == "9876543217"

    @pytest.mark.parametrize(
        "raw",
        [
            "9876543218",
            "987654321",
            "98765432170",
            "9876543217ABC",
            "9876543217A1",
            "0000000000",
            "ABCDEFGHIJ",
        ],
    )
    def test_invalid_when_check_digit_length_or_version_code_wrong(self, raw: str) -> None:
        assert not validate_health_card(raw)


def test_luhn_when_known_numbers() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


class _EveryNineDigits:
    """A made-up jurisdiction: any nine digits."""

    jurisdiction = "XX"

    def normalize(self, raw: str) -> str | None:
        digits = "".join(ch for ch in raw if ch.isdigit())
        return digits if len(digits) == 9 else None


def test_another_jurisdiction_plugs_in_when_it_implements_the_protocol() -> None:
    rule: HealthCardRule = _EveryNineDigits()
    assert validate_health_card("123-456-789", rule)
    assert not validate_health_card("9876543217", rule)


def test_scorecard_uses_another_rule_when_registered_as_a_normaliser(tmp_path: Path) -> None:
    register_health_card_rule("health_card_xx", _EveryNineDigits())
    data = json.loads(FIXTURE_CARD.read_text("utf-8"))
    data["fields"][-1]["normalizer"] = "health_card_xx"
    path = tmp_path / "xx.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    card = load_scorecard(path)
    result = score_pair(card, {"health_card": "123-456-789"}, {"health_card": "123456789"})
    assert (result.decision, result.rule) == ("match", "health-card-match")
