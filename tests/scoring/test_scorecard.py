from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scoring import Scorecard, ScorecardError, load_scorecard, save_scorecard
from tests.scoring.conftest import FIXTURE_CARD


def _fixture_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE_CARD.read_text("utf-8"))
    return data


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "card.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


class TestLoad:
    def test_default_card_has_regional_thresholds_when_loaded(self, default_card: Scorecard) -> None:
        assert (default_card.id, default_card.version) == ("default", "2")
        assert (default_card.upper, default_card.lower) == (70.0, 63.0)
        assert "log2(m/u)" in default_card.created_from

    def test_fixture_card_loads_when_path_given(self, fixture_card: Scorecard) -> None:
        assert fixture_card.id == "fixture"
        assert [f.name for f in fixture_card.fields][:2] == ["given_name", "family_name"]

    def test_every_problem_is_reported_when_card_is_broken(self, tmp_path: Path) -> None:
        data = _fixture_data()
        data["thresholds"] = {"upper": 5.0, "lower": 9.0}
        data["fields"][0]["levels"][1]["comparator"] = "no_such_comparator"
        data["fields"][2]["levels"][1:3] = data["fields"][2]["levels"][2:0:-1]  # "transposed" unreachable
        data["fields"][2]["normalizer"] = "nope"
        data["fields"][3]["levels"][0]["min_similarity"] = 1.5
        del data["version"]
        data["health_card"]["field"] = "not_a_field"
        with pytest.raises(ScorecardError) as caught:
            load_scorecard(_write(tmp_path, data))
        problems = "\n".join(caught.value.problems)
        assert len(caught.value.problems) == 7
        for expected in (
            "lower (9.0) is above upper",
            "unknown comparator 'no_such_comparator'",
            "fields[2].levels[2].min_similarity: unreachable, level 'near'",
            "unknown normaliser 'nope'",
            "min_similarity: must be in (0, 1]",
            "version: must be a non-empty string",
            "health_card.field: 'not_a_field' is not a field",
        ):
            assert expected in problems

    def test_error_is_a_value_error_when_not_json(self, tmp_path: Path) -> None:
        path = tmp_path / "card.json"
        path.write_text("{not json", encoding="utf-8")
        with pytest.raises(ValueError, match="not valid JSON"):
            load_scorecard(path)

    def test_duplicate_field_is_reported_when_listed_twice(self, tmp_path: Path) -> None:
        data = _fixture_data()
        data["fields"].append(data["fields"][0])
        with pytest.raises(ScorecardError, match="duplicate field 'given_name'"):
            load_scorecard(_write(tmp_path, data))

    def test_conflict_and_group_problems_are_reported_when_malformed(self, tmp_path: Path) -> None:
        data = _fixture_data()
        data["conflicts"] = [
            {"name": "x", "fields": ["given_name"], "decision": "match", "levels": "similar"}
        ]
        data["groups"] = [{"name": "g", "fields": ["postal_code", "nowhere"], "max_weight": 3}]
        with pytest.raises(ScorecardError) as caught:
            load_scorecard(_write(tmp_path, data))
        assert len(caught.value.problems) == 3

    def test_conflict_conditions_are_checked_when_they_name_unknown_fields_or_levels(self, tmp_path: Path) -> None:
        data = _fixture_data()
        data["conflicts"] = [
            {"name": "x", "fields": ["given_name"], "decision": "non-match",
             "when": {"nowhere": ["exact"], "family_name": ["exakt"], "birth_date": "exact"}},
        ]  # fmt: skip
        with pytest.raises(ScorecardError) as caught:
            load_scorecard(_write(tmp_path, data))
        assert sorted(caught.value.problems) == [
            "conflicts[0].when.birth_date: must be a non-empty list of level labels",
            "conflicts[0].when.family_name: 'exakt' is not a level of 'family_name'",
            "conflicts[0].when: 'nowhere' is not a field",
        ]

    def test_save_round_trips_when_reloaded(self, fixture_card: Scorecard, tmp_path: Path) -> None:
        path = tmp_path / "copy.json"
        save_scorecard(fixture_card, path)
        assert load_scorecard(path) == fixture_card


class TestDecide:
    @pytest.mark.parametrize(
        ("total", "decision"),
        [(70.1, "match"), (70.0, "uncertain"), (66.0, "uncertain"), (63.0, "uncertain"), (62.9, "non-match")],
    )
    def test_thresholds_include_both_bounds_in_uncertain(
        self, default_card: Scorecard, total: float, decision: str
    ) -> None:
        assert default_card.decide(total) == decision
