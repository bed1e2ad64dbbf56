from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import FieldScore, PairScore, Scorecard, score_pair
from scoring.engine import Scorer
from tests.scoring.conftest import make_hl7_style, make_record

VALID_HC = "9876543217"
OTHER_VALID_HC = "1234567897"


class TestBreakdown:
    def test_fields_explain_the_total_when_scored(self, fixture_card: Scorecard) -> None:
        a = make_record(given_name="Robert", postal_code="M5V 2T6")
        b = make_record(given_name="bob", postal_code="M5V 3L9")
        result = score_pair(fixture_card, a, b)
        assert result.field("given_name") == FieldScore(
            "given_name", "ROBERT", "BOB", "nickname", "nickname", 4.0
        )
        assert result.field("postal_code").level == "area"
        assert result.field("health_card").level == "missing"
        assert result.total == pytest.approx(sum(f.points for f in result.fields))
        assert result.total == 4.0 + 5.0 + 8.0 + 1.0 + 1.0 + 0.0

    def test_to_dict_is_json_with_card_version_when_stored(self, fixture_card: Scorecard) -> None:
        data = score_pair(fixture_card, make_record(), make_record()).to_dict()
        assert json.loads(json.dumps(data)) == data
        assert (data["scorecard_id"], data["scorecard_version"]) == ("fixture", "1")
        assert data["fields"][0] == {
            "field": "given_name", "value_a": "JONATHAN", "value_b": "JONATHAN",
            "comparator": "exact", "level": "exact", "points": 6.0,
        }  # fmt: skip

    def test_missing_value_scores_missing_weight_when_one_side_is_empty(
        self, fixture_card: Scorecard
    ) -> None:
        result = score_pair(fixture_card, make_record(birth_date=None), make_record(birth_date=""))
        assert result.field("birth_date").level == "missing"
        assert result.field("birth_date").points == 0.0

    def test_disagreement_scores_disagree_weight_when_no_level_reached(self, fixture_card: Scorecard) -> None:
        result = score_pair(fixture_card, make_record(), make_record(given_name="Zebulon"))
        assert (result.field("given_name").level, result.field("given_name").points) == ("disagree", -5.0)

    def test_alias_family_name_agrees_when_maiden_name_listed(self, fixture_card: Scorecard) -> None:
        married = make_record(family_name="Tremblay", family_name_aliases=["Gagnon"])
        maiden = make_record(family_name="Gagnon")
        field = score_pair(fixture_card, married, maiden).field("family_name")
        assert (field.level, field.comparator) == ("exact", "exact+alias")
        assert score_pair(fixture_card, maiden, married).field("family_name").level == "exact"

    def test_swapped_names_agree_when_given_and_family_crossed(self, fixture_card: Scorecard) -> None:
        a = make_record(given_name="Jonathan", family_name="Tremblay")
        b = make_record(given_name="Tremblay", family_name="Jonathan")
        result = score_pair(fixture_card, a, b)
        assert result.field("given_name").level == "exact"
        assert result.field("given_name").comparator == "exact+swap"
        assert result.field("family_name").value_b == "TREMBLAY"  # b's given name, shown as compared


class TestHealthCardRule:
    def test_same_valid_card_matches_whatever_the_score(self, fixture_card: Scorecard) -> None:
        a = make_record(health_card=VALID_HC, given_name="Zebulon", postal_code=None)
        b = make_record(health_card=VALID_HC + " AB", family_name="Other", postal_code=None)
        result = score_pair(fixture_card, a, b)
        assert (result.decision, result.rule) == ("match", "health-card-match")

    def test_same_card_goes_to_review_when_birth_date_and_sex_conflict(self, fixture_card: Scorecard) -> None:
        a = make_record(health_card=VALID_HC, birth_date="1980-05-13", sex="M")
        b = make_record(health_card=VALID_HC, birth_date="2011-09-02", sex="F")
        result = score_pair(fixture_card, a, b)
        assert (result.decision, result.rule) == ("uncertain", "health-card-conflict")

    def test_different_valid_cards_never_auto_match(self, fixture_card: Scorecard) -> None:
        result = score_pair(
            fixture_card, make_record(health_card=VALID_HC), make_record(health_card=OTHER_VALID_HC)
        )
        assert fixture_card.decide(result.total) == "match"
        assert (result.decision, result.rule) == ("uncertain", "health-card-mismatch")

    def test_invalid_card_is_ignored_when_check_digit_fails(self, fixture_card: Scorecard) -> None:
        a = make_record(health_card="9876543218", given_name="Zebulon")
        result = score_pair(fixture_card, a, make_record(health_card="9876543218"))
        assert result.rule is None
        assert result.field("health_card").level == "missing"


# Records drawn from small vocabularies so that agreements, typos and gaps all happen often.
_record = st.fixed_dictionaries(
    {},
    optional={
        "given_name": st.sampled_from(
            ["Jonathan", "Jon", "Johnathan", "Mary-Anne", "Mary", "Peggy", "Margaret", ""]
        ),
        "middle_name": st.sampled_from(["Edward", "E", "Ed", None]),
        "family_name": st.sampled_from(
            ["Tremblay", "Tremblai", "García-López", "Lopez", "van der Berg", None]
        ),
        "family_name_aliases": st.lists(st.sampled_from(["Gagnon", "Roy", "Tremblay"]), max_size=2),
        "birth_date": st.sampled_from(
            ["1980-05-13", "1980-13-05", "1980-05-31", "1981-05-13", "1980", "bad", None]
        ),
        "sex": st.sampled_from(["M", "F", "U", None]),
        "address_line": st.sampled_from(["12 Maple Street", "12 Maple St", "14 Maple St", "3 King Rd", None]),
        "city": st.sampled_from(["Toronto", "Torronto", "Ottawa", None]),
        "province": st.sampled_from(["ON", "Ontario", "QC", None]),
        "postal_code": st.sampled_from(["M5V 2T6", "M5V 3L9", "K1A 0B1", None]),
        "phone": st.sampled_from(["416-555-0143", "647-555-0143", "613-555-0199", None]),
        "health_card": st.sampled_from([VALID_HC, OTHER_VALID_HC, "9876543218", None]),
        "mothers_maiden_name": st.sampled_from(["Gagnon", "Gagnion", None]),
    },
)


def _bounds(card: Scorecard) -> tuple[float, float]:
    low = sum(min(f.missing_weight, f.disagree_weight) for f in card.fields)
    high = sum(max(f.missing_weight, f.levels[0].weight) for f in card.fields)
    return low, high


@settings(max_examples=300, deadline=None)
@given(a=_record, b=_record)
def test_score_is_symmetric_and_bounded_when_records_vary(
    default_card: Scorecard, a: dict[str, Any], b: dict[str, Any]
) -> None:
    ab, ba = score_pair(default_card, a, b), score_pair(default_card, b, a)
    assert ab.total == pytest.approx(ba.total)
    assert (ab.decision, ab.rule) == (ba.decision, ba.rule)
    low, high = _bounds(default_card)
    assert low <= ab.total <= high
    assert ab.decision in {"match", "uncertain", "non-match"}
    assert isinstance(ab, PairScore)


@settings(max_examples=200, deadline=None)
@given(record=_record, given_name=st.sampled_from(["Ann", "Li", "Jean-Luc", "Zoë"]))
def test_identical_records_match_when_name_birth_date_and_address_present(
    default_card: Scorecard, record: dict[str, Any], given_name: str
) -> None:
    record = record | {
        "given_name": given_name, "family_name": "Tremblay", "birth_date": "1980-05-13",
        "address_line": "12 Maple St", "postal_code": "M5V 2T6",
    }  # fmt: skip
    assert score_pair(default_card, record, dict(record)).decision == "match"


def test_household_points_are_capped_when_address_phone_and_mother_agree(default_card: Scorecard) -> None:
    record = make_record()
    result = score_pair(default_card, record, dict(record))
    cap = result.field("household")
    assert cap.level == "group-cap"
    assert cap.points < 0
    assert result.total == pytest.approx(sum(f.points for f in result.fields))
    household = default_card.groups[0]
    positive = sum(f.points for f in result.fields if f.field in household.fields and f.points > 0)
    assert positive + cap.points == pytest.approx(household.max_weight)


@settings(max_examples=400, deadline=None)
@given(a=_record, b=_record, floor=st.sampled_from([-math.inf, -20.0, 0.0, 63.0, 70.0, 120.0]))
def test_scorer_bound_is_exact_or_an_upper_bound_below_the_floor(
    default_card: Scorecard, fixture_card: Scorecard, a: dict[str, Any], b: dict[str, Any], floor: float
) -> None:
    for card in (default_card, fixture_card):
        scorer = Scorer(card, a)
        full = score_pair(card, a, b)
        assert scorer.score(b) == full
        value, exact = scorer.bound(b, floor)
        assert scorer.score(b) == full  # with the field outcomes the bound left in the memo
        if value == math.inf:  # the health-card rule decides the pair
            assert exact and full.rule in ("health-card-match", "health-card-conflict")
        elif exact:
            assert value == full.total
            assert full.rule not in ("health-card-match", "health-card-conflict")
        else:
            assert full.total <= value + 1e-9 < floor
            assert full.rule not in ("health-card-match", "health-card-conflict")


def test_scorer_bound_stops_early_for_a_stranger_and_is_exact_for_a_near_duplicate(default_card: Scorecard) -> None:
    a = make_hl7_style()
    scorer = Scorer(default_card, a)
    stranger = make_hl7_style(given_name="Priya", family_name="Okafor", birth_date="1957-11-02", sex="F",
                              address_line="88 Birch Ave", postal_code="K1A 0B1", city="Ottawa")
    value, exact = scorer.bound(stranger, default_card.lower)
    assert not exact and value < default_card.lower
    assert score_pair(default_card, a, stranger).total <= value
    typo = make_hl7_style(family_name="Tremblai")
    assert scorer.bound(typo, default_card.lower) == (score_pair(default_card, a, typo).total, True)
