"""scoring.tuning: comparison vectors, accuracy at thresholds, sweeps, estimation and new card versions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scoring import Scorecard, load_scorecard, save_scorecard, score_pair
from scoring import tuning as t
from scoring.scorecard import parse_scorecard
from tests.tuning.conftest import small_card_data

VALID_HC = "9876543217"


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows)).set_index("id")


PEOPLE = frame(
    {"id": "a1", "given_name": "Anna", "family_name": "Kowalski", "birth_date": "1970-02-03", "sex": "F"},
    {"id": "a2", "given_name": "Ana", "family_name": "Kowalski", "birth_date": "1970-02-03", "sex": "F"},
    {"id": "b1", "given_name": "Omar", "family_name": "Haddad", "birth_date": "1990-11-30", "sex": "M",
     "health_card": VALID_HC},
    {"id": "b2", "given_name": "Zed", "family_name": "Other", "birth_date": "1950-01-01", "sex": "M",
     "health_card": VALID_HC},
    {"id": "c1", "given_name": "Anna", "family_name": "Kowalski", "birth_date": "1999-09-09", "sex": "F"},
)


def vectors_frame(card: Scorecard, totals: list[float], **levels: list[int]) -> pd.DataFrame:
    """Hand-made comparison vectors: every field exact unless `levels` says otherwise; no health card."""
    n = len(totals)
    frame = pd.DataFrame({"left": range(n), "right": range(n), "total": totals})
    for spec in card.fields:
        frame[spec.name] = levels.get(spec.name, [t.MISSING_LEVEL if spec.name == "health_card" else 0] * n)
    return frame


class TestComparisonVectors:
    def test_rows_give_score_pair_numbers_when_built(self, small_card: Scorecard) -> None:
        pairs = [("a1", "a2"), ("a1", "c1"), ("b1", "b2")]
        v = t.comparison_vectors(small_card, PEOPLE, None, pairs)
        slow = t.score_pairs_slowly(small_card, PEOPLE, None, pairs)
        for column in ("total", "decision", "rule"):
            assert v[column].tolist() == slow[column].tolist()
        for row, (x, y) in zip(v.itertuples(), pairs, strict=True):
            score = score_pair(small_card, PEOPLE.loc[x].to_dict(), PEOPLE.loc[y].to_dict())
            assert (row.total, row.decision, row.rule) == (score.total, score.decision, score.rule)
            points = sum(getattr(row, f"{s.name}_points") for s in small_card.fields) + row.cap_points
            assert points == pytest.approx(row.total)

    def test_levels_are_indexes_with_missing_and_disagree_when_encoded(self, small_card: Scorecard) -> None:
        v = t.comparison_vectors(small_card, PEOPLE, None, [("a1", "a2"), ("a1", "c1"), ("b1", "b2")])
        assert v["given_name"].tolist() == [1, 0, 2]  # typo, exact, disagree
        assert v["health_card"].tolist() == [t.MISSING_LEVEL, t.MISSING_LEVEL, 0]

    def test_candidate_pairs_share_a_blocking_key_when_deduplicating(self) -> None:
        pairs = t.candidate_pairs(PEOPLE)
        found = set(pairs.itertuples(index=False, name=None))
        assert ("a1", "a2") in found and ("b1", "b2") in found
        assert all(x < y for x, y in found)

    def test_candidate_pairs_cross_the_two_sides_when_linking(self) -> None:
        pairs = t.candidate_pairs(PEOPLE.loc[["a1", "b1"]], PEOPLE.loc[["a2", "b2"]])
        assert set(pairs.itertuples(index=False, name=None)) >= {("a1", "a2"), ("b1", "b2")}
        assert set(pairs["left"]) <= {"a1", "b1"}

    def test_mark_truth_ignores_pair_order_when_matching(self, small_card: Scorecard) -> None:
        v = vectors_frame(small_card, [1.0, 2.0])
        v["left"], v["right"] = ["x", "y"], ["y", "z"]
        assert t.mark_truth(v, {("z", "y")}).tolist() == [False, True]


class TestConfusion:
    def test_counts_links_and_review_when_thresholds_apply(self, small_card: Scorecard) -> None:
        v = vectors_frame(small_card, [30.0, 25.0, 15.0, 15.0, 5.0, 21.0])
        truth = pd.Series([True, True, True, False, False, False])
        c = t.confusion(small_card, v, truth, lower=10, upper=20)
        assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 2)
        assert (c.review_true, c.review_false, c.review) == (1, 1, 2)
        assert c.precision == pytest.approx(2 / 3)
        assert c.recall == pytest.approx(2 / 3)
        assert c.f1 == pytest.approx(2 / 3)

    def test_true_pairs_lost_to_blocking_are_false_negatives_when_counted(self, small_card: Scorecard) -> None:
        v = vectors_frame(small_card, [30.0])
        c = t.confusion(small_card, v, pd.Series([True]), n_true=4)  # the card's thresholds: 10, 20
        assert (c.tp, c.fn, c.missed_by_blocking) == (1, 3, 3)
        assert c.recall == pytest.approx(0.25)

    def test_bounds_are_uncertain_and_health_card_rule_applies_when_deciding(self, small_card: Scorecard) -> None:
        # same card; same card but birth date and sex disagree (hard conflict); different cards
        v = vectors_frame(small_card, [20.0, 10.0, 5.0, 50.0, 50.0], health_card=[-1, -1, 0, 0, 1],
                          birth_date=[0, 0, 0, 1, 0], sex=[0, 0, 0, 1, 0])
        decisions = t.decisions_at(small_card, v, lower=10, upper=20).tolist()
        assert decisions == ["uncertain", "uncertain", "match", "uncertain", "uncertain"]

    def test_decisions_at_card_thresholds_equal_the_engine_when_recomputed(self) -> None:
        card = load_scorecard()
        records, _ = t.load_synthetic()
        sample = t.sample_persons(records, 150).drop(columns="person")
        v = t.comparison_vectors(card, sample, None, t.candidate_pairs(sample))
        assert len(v) > 20
        assert (t.decisions_at(card, v, lower=card.lower, upper=card.upper) == v["decision"]).all()
        slow = t.score_pairs_slowly(card, sample, None, list(zip(v["left"], v["right"], strict=True)))
        assert (slow["decision"] == v["decision"]).all() and (slow["total"] == v["total"]).all()
        assert v[[f"{s.name}_points" for s in card.fields] + ["cap_points"]].sum(axis=1).round(6).tolist() == \
            pytest.approx(v["total"].tolist())


class TestThresholdSweep:
    def test_sweep_has_one_row_per_ordered_pair_when_run(self, small_card: Scorecard) -> None:
        v = vectors_frame(small_card, [30.0, 25.0, 15.0, 5.0])
        truth = pd.Series([True, True, False, False])
        sweep = t.threshold_sweep(small_card, v, truth, lowers=[0, 10, 20], uppers=[10, 20])
        assert list(zip(sweep["lower"], sweep["upper"], strict=True)) == [(0, 10), (0, 20), (10, 10), (10, 20),
                                                                          (20, 20)]
        row = sweep[(sweep["lower"] == 10) & (sweep["upper"] == 20)].iloc[0]
        assert (row["review"], row["precision"], row["recall"]) == (1, 1.0, 1.0)

    def test_review_queue_shrinks_when_the_band_narrows(self, small_card: Scorecard) -> None:
        rng = np.random.default_rng(1)
        v = vectors_frame(small_card, list(rng.normal(20, 15, 300)))
        truth = pd.Series(v["total"] > 20)
        sweep = t.threshold_sweep(small_card, v, truth, lowers=[0, 10, 20], uppers=[30])
        assert sweep["review"].is_monotonic_decreasing


class TestEstimation:
    M = {"given_name": [0.8, 0.15, 0.05], "family_name": [0.9, 0.1], "birth_date": [0.95, 0.05],
         "sex": [0.97, 0.03], "health_card": [0.98, 0.02]}
    U = {"given_name": [0.02, 0.08, 0.9], "family_name": [0.05, 0.95], "birth_date": [0.01, 0.99],
         "sex": [0.5, 0.5], "health_card": [0.0005, 0.9995]}

    def simulate(self, n: int, share: float, seed: int = 5) -> tuple[pd.DataFrame, pd.Series]:
        rng = np.random.default_rng(seed)
        truth = rng.random(n) < share
        data = {}
        for name in self.M:
            m = rng.choice(len(self.M[name]), size=n, p=self.M[name])
            u = rng.choice(len(self.U[name]), size=n, p=self.U[name])
            data[name] = np.where(truth, m, u)
        data["health_card"] = np.where(rng.random(n) < 0.6, t.MISSING_LEVEL, data["health_card"])
        return pd.DataFrame(data), pd.Series(truth)

    def test_labelled_pairs_give_level_frequencies_when_estimated(self, small_card: Scorecard) -> None:
        v, truth = self.simulate(20000, 0.3)
        est = t.estimate_from_labels(small_card, v, truth, prior_strength=0.0)
        for name in self.M:
            assert est.m[name] == pytest.approx(self.M[name], abs=0.02)
            assert est.u[name] == pytest.approx(self.U[name], abs=0.02)
        assert est.prior == pytest.approx(0.3, abs=0.02)

    def test_em_recovers_m_u_and_match_share_without_labels(self, small_card: Scorecard) -> None:
        v, _ = self.simulate(20000, 0.4)
        est = t.estimate_em(small_card, v, prior=0.2)
        assert est.prior == pytest.approx(0.4, abs=0.02)
        for name in ("given_name", "family_name", "birth_date"):
            assert est.m[name] == pytest.approx(self.M[name], abs=0.03)
            assert est.u[name] == pytest.approx(self.U[name], abs=0.03)

    def test_em_keeps_a_fixed_u_when_given(self, small_card: Scorecard) -> None:
        v, _ = self.simulate(5000, 0.4)
        fixed = {k: np.array(p) for k, p in self.U.items()}
        est = t.estimate_em(small_card, v, fixed_u=fixed)
        assert all(np.array_equal(est.u[k], fixed[k]) for k in fixed)
        assert est.m["birth_date"][0] == pytest.approx(0.95, abs=0.03)

    def test_random_pairs_give_chance_agreement_when_sampled(self, small_card: Scorecard) -> None:
        records, _ = t.load_synthetic()
        est = t.estimate_u_random(small_card, records.drop(columns="person"), n_pairs=2000)
        assert est.u["sex"][0] == pytest.approx(0.5, abs=0.05)
        assert est.u["birth_date"][0] < 0.01
        assert "health_card" in est.u and est.method == "random pairs"


class TestMonotoneWeights:
    def test_pooled_weights_never_rise_when_levels_violate_order(self) -> None:
        w = t.monotone_weights([0.5, 0.01, 0.2, 0.29], [0.01, 0.01, 0.01, 0.97])
        assert w == sorted(w, reverse=True)
        assert w[1] == w[2] == pytest.approx(2 * math.log2(0.21 / 0.02))

    def test_weights_are_scaled_log2_ratio_when_already_ordered(self) -> None:
        assert t.monotone_weights([0.9, 0.1], [0.1, 0.9], 2.8) == pytest.approx([2.8 * math.log2(9),
                                                                               -2.8 * math.log2(9)])

    def test_card_scale_is_read_from_its_levels(self, small_card: Scorecard) -> None:
        assert t.points_per_bit(load_scorecard()) > 0
        data = small_card_data()
        for f in data["fields"]:
            for lv in f["levels"]:
                lv["weight"] = round(3.0 * math.log2(lv["m"] / lv["u"]), 1) if lv["m"] != lv["u"] else 0.0
            f["disagree_weight"] = min(3.0 * math.log2(f["disagree_m"] / f["disagree_u"]),
                                       *(lv["weight"] for lv in f["levels"]))
        assert t.points_per_bit(parse_scorecard(data)) == pytest.approx(3.0, abs=0.05)


class TestNewVersion:
    def estimate(self, card: Scorecard) -> t.Estimate:
        m = {"given_name": np.array([0.7, 0.2, 0.1]), "birth_date": np.array([0.9, 0.1])}
        u = {"given_name": np.array([0.01, 0.04, 0.95]), "birth_date": np.array([0.005, 0.995])}
        return t.Estimate(m, u, prior=0.1, method="test")

    def test_saved_card_loads_with_new_weights_when_written(self, small_card: Scorecard, tmp_path) -> None:  # type: ignore[no-untyped-def]
        new = t.card_from_estimate(small_card, self.estimate(small_card), version="2",
                                   created_from="test: estimate", upper=25.0)
        path = tmp_path / "card-v2.json"
        save_scorecard(new, path)
        loaded = load_scorecard(path)
        assert (loaded.id, loaded.version, loaded.upper, loaded.lower) == ("tuning-fixture", "2", 25.0, 10.0)
        scale = t.points_per_bit(small_card)
        assert loaded.spec("given_name").levels[0].weight == round(scale * math.log2(70), 1)
        assert loaded.spec("birth_date").disagree_weight == round(scale * math.log2(0.1 / 0.995), 1)
        assert loaded.spec("family_name") == small_card.spec("family_name")  # no data: unchanged
        assert loaded.raw["fields"][0]["levels"][0]["m"] == 0.7

    def test_same_version_is_refused_when_writing(self, small_card: Scorecard) -> None:
        with pytest.raises(ValueError, match="version"):
            t.card_from_estimate(small_card, self.estimate(small_card), version="1", created_from="x")

    def test_with_field_adds_a_scored_field_when_extended(self, small_card: Scorecard) -> None:
        extra = {"name": "ssn", "normalizer": "text", "missing_weight": 0.0, "disagree_weight": -8.0,
                 "levels": [{"label": "exact", "comparator": "exact", "min_similarity": 1.0, "weight": 20.0}]}
        card = t.with_field(small_card, extra, version="1-ssn", created_from="test")
        score = score_pair(card, {"ssn": "123"}, {"ssn": "123"})
        assert score.field("ssn").points == 20.0

    def test_compare_weights_lists_both_versions_when_compared(self, small_card: Scorecard) -> None:
        new = t.card_from_estimate(small_card, self.estimate(small_card), version="2", created_from="x")
        table = t.compare_weights(small_card, new)
        assert {"v1", "v2"} <= set(table.columns)
        assert len(table) == sum(len(s.levels) + 1 for s in small_card.fields)


class TestDatasets:
    def test_synthetic_records_carry_truth_when_loaded(self) -> None:
        records, truth = t.load_synthetic()
        assert len(records) > 1000 and len(truth) > 300
        assert records["person"].notna().all()
        x, y = next(iter(truth))
        assert records.loc[x, "person"] == records.loc[y, "person"]

    def test_split_people_keeps_each_person_on_one_side_when_split(self) -> None:
        records, _ = t.load_synthetic()
        train, test = t.split_people(records)
        assert not set(train["person"]) & set(test["person"])
        assert len(train) + len(test) == len(records)

    def test_febrl_loads_offline_with_or_without_ssn(self) -> None:
        left, right, truth = t.load_febrl("febrl4")
        assert right is not None and len(left) == len(right) == 5000 and len(truth) == 5000
        assert "ssn" not in left.columns
        dedup, none, pairs = t.load_febrl("febrl3", ssn=True)
        assert none is None and "ssn" in dedup.columns and len(pairs) == 6538
        assert all(x < y for x, y in pairs)


class TestUnsupervisedChoices:
    def test_posterior_thresholds_follow_the_prior_when_derived(self, small_card: Scorecard) -> None:
        est = t.Estimate({}, {}, prior=0.5, method="test")
        scale = t.points_per_bit(small_card)
        upper, lower = t.posterior_thresholds(small_card, est, n_candidates=1000, n_pairs=1_000_000,
                                              match_probability=0.5, review_probability=0.2)
        prior_bits = math.log2(0.0005 / 0.9995)
        assert upper == pytest.approx(round(-scale * prior_bits, 1))
        assert lower == pytest.approx(round(scale * (math.log2(0.25) - prior_bits), 1))
        assert lower < upper

    def test_conflict_rules_the_data_contradicts_are_named_and_dropped(self) -> None:
        data = small_card_data()
        data["conflicts"] = [{"name": "given-name-conflict", "fields": ["given_name"], "decision": "non-match"},
                             {"name": "born-apart", "fields": ["birth_date"], "decision": "non-match"}]
        card = parse_scorecard(data)
        m = {"given_name": np.array([0.7, 0.1, 0.2]), "birth_date": np.array([0.99, 0.01])}
        u = {"given_name": np.array([0.01, 0.04, 0.95]), "birth_date": np.array([0.005, 0.995])}
        est = t.Estimate(m, u, prior=0.3, method="test")
        assert t.unsupported_conflicts(card, est, max_share=0.02) == ["given-name-conflict"]
        new = t.card_from_estimate(card, est, version="2", created_from="x", drop_conflicts=["given-name-conflict"])
        assert [c.name for c in new.conflicts] == ["born-apart"]

    def test_conflict_conditions_count_when_judging_support(self) -> None:
        data = small_card_data()
        data["conflicts"] = [{"name": "twins", "fields": ["given_name"], "decision": "non-match",
                              "when": {"birth_date": ["exact"]}}]
        card = parse_scorecard(data)
        u = {"given_name": np.array([0.01, 0.04, 0.95]), "birth_date": np.array([0.005, 0.995])}
        # given names differ for 5 % of matches, but birth dates agree for only a third of those
        est = t.Estimate({"given_name": np.array([0.75, 0.2, 0.05]), "birth_date": np.array([0.3, 0.7])}, u,
                         prior=0.3, method="test")
        assert t.unsupported_conflicts(card, est, max_share=0.02) == []
        est = t.Estimate({"given_name": np.array([0.75, 0.2, 0.05]), "birth_date": np.array([0.9, 0.1])}, u,
                         prior=0.3, method="test")
        assert t.unsupported_conflicts(card, est, max_share=0.02) == ["twins"]

    def test_em_per_blocking_key_finds_the_match_share_when_blocks_agree_by_construction(self) -> None:
        # Every candidate pair shares a birth date (the blocking field): one EM over all pairs counts
        # that agreement as evidence; per blocking key, birth date is left out of the round.
        data = small_card_data()
        card = parse_scorecard(data)
        rng = np.random.default_rng(3)
        n_true, n_false = 300, 700
        given = np.concatenate([rng.choice([0, 1, 2], n_true, p=[0.85, 0.1, 0.05]),
                                rng.choice([0, 1, 2], n_false, p=[0.02, 0.08, 0.9])])
        family = np.concatenate([rng.choice([0, 1], n_true, p=[0.9, 0.1]), rng.choice([0, 1], n_false, p=[0.05, 0.95])])
        vectors = pd.DataFrame({"left": [f"a{i}" for i in range(1000)], "right": [f"b{i}" for i in range(1000)],
                                "given_name": given, "birth_date": np.zeros(1000, dtype=int)})
        for spec in card.fields:
            if spec.name not in vectors:
                vectors[spec.name] = -1
        vectors["family_name"] = family
        u = {"given_name": np.array([0.01, 0.04, 0.95]), "birth_date": np.array([0.003, 0.997]),
             "family_name": np.array([0.01, 0.99])}
        pairs = set(zip(vectors["left"], vectors["right"], strict=True))
        blocks = t.estimate_em_by_blocks(card, vectors, {"di": pairs}, fixed_u=u)  # birth date + an initial
        overall = t.estimate_em(card, vectors, fixed_u=u)
        assert blocks.m["given_name"][0] == pytest.approx(0.85, abs=0.15)  # the true m of agreement
        assert blocks.m["family_name"][0] == pytest.approx(0.9, abs=0.15)
        assert overall.m["given_name"][0] < 0.5  # non-matches taken for matches
        assert blocks.m["birth_date"].tolist() == t.card_m(card, ["birth_date"])["birth_date"].tolist()

    def test_group_cap_keeps_its_share_when_weights_change(self) -> None:
        data = small_card_data()
        data["groups"] = [{"name": "household", "fields": ["given_name", "birth_date"], "max_weight": 10.0}]
        card = parse_scorecard(data)
        full_before = sum(card.spec(f).levels[0].weight for f in ("given_name", "birth_date"))
        new = t.card_from_estimate(card, TestNewVersion().estimate(card), version="2", created_from="x")
        full_after = sum(new.spec(f).levels[0].weight for f in ("given_name", "birth_date"))
        assert new.groups[0].max_weight == round(10.0 * full_after / full_before, 1)
