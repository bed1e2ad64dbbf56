"""empi export-labels: steward decisions become labelled pairs that scoring.tuning can score.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from api.cli import main
from empi import stewardship
from empi.labels import HEADER, export_labels, steward_labels
from empi.runtime import Runtime
from scoring import tuning
from tests.tuning.seed import linked_pair, uncertain_pair


def decide(rt: Runtime, action: str, task_id: int, **kw: object) -> None:
    with rt.write() as session:
        getattr(stewardship, action)(session, task_id, actor="steward1", reason="checked the chart", rt=rt, **kw)


def seed_decisions(rt: Runtime) -> dict[str, tuple[int, int]]:
    a0, b0 = uncertain_pair(rt, 0)
    decide(rt, "link_to_candidate", b0.review_task_id, person_id=a0.person_id)  # type: ignore[arg-type]
    a1, b1 = uncertain_pair(rt, 1)
    decide(rt, "keep_apart", b1.review_task_id)  # type: ignore[arg-type]
    a2, b2 = linked_pair(rt, 2)
    with rt.write() as session:
        stewardship.unlink_record(session, b2.record_id, actor="steward1", reason="twin", rt=rt)
    uncertain_pair(rt, 3)  # still open: no label
    return {"linked": (a0.record_id, b0.record_id), "apart": (a1.record_id, b1.record_id),
            "unlinked": (a2.record_id, b2.record_id)}


class TestStewardLabels:
    def test_decisions_become_one_label_per_pair(self, tuning_rt: Runtime) -> None:
        ids = seed_decisions(tuning_rt)
        with tuning_rt.read() as session:
            labels = {(lb.record_a, lb.record_b): lb for lb in steward_labels(session)}
        assert set(labels) == {tuple(sorted(p)) for p in ids.values()}
        linked = labels[tuple(sorted(ids["linked"]))]
        assert linked.is_match and linked.source in ("review:link", "manual-link")
        assert not labels[tuple(sorted(ids["apart"]))].is_match
        unlinked = labels[tuple(sorted(ids["unlinked"]))]
        assert (unlinked.is_match, unlinked.source) == (False, "exclusion")

    def test_csv_carries_both_records_demographics_when_exported(self, tuning_rt: Runtime) -> None:
        ids = seed_decisions(tuning_rt)
        buffer = io.StringIO()
        with tuning_rt.read() as session:
            counts = export_labels(session, buffer)
        assert (counts["pairs"], counts["match"], counts["non-match"]) == (3, 1, 2)
        rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
        assert list(rows[0]) == HEADER
        row = next(r for r in rows if {int(r["record_a"]), int(r["record_b"])} == set(ids["linked"]))
        assert row["is_match"] == "1"
        assert row["a_family_name"] == row["b_family_name"] == "Quillfeather"
        assert row["a_birth_date"][:4] != row["b_birth_date"][:4]  # the uncertain difference

    def test_exported_labels_feed_weight_estimation_when_loaded(self, tuning_rt: Runtime) -> None:
        seed_decisions(tuning_rt)
        buffer = io.StringIO()
        with tuning_rt.read() as session:
            export_labels(session, buffer)
        buffer.seek(0)
        left, right, pairs, is_match = tuning.load_labels(buffer)
        vectors = tuning.comparison_vectors(tuning_rt.card, left, right, pairs)
        assert vectors["total"].tolist()[0] == pytest.approx(13.0) or 13.0 in vectors["total"].tolist()
        estimate = tuning.estimate_from_labels(tuning_rt.card, vectors, is_match)
        card = tuning.card_from_estimate(tuning_rt.card, estimate, version="2", created_from="steward labels")
        assert card.version == "2"


class TestCli:
    def test_export_labels_writes_a_csv_file_when_run(self, tuning_rt: Runtime, database_url: str,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        seed_decisions(tuning_rt)
        out = tmp_path / "labels.csv"
        assert main(["export-labels", "--database-url", database_url, "--output", str(out)]) == 0
        assert "exported 3 labelled pairs (1 match, 2 non-match" in capsys.readouterr().err
        assert len(out.read_text().splitlines()) == 4

    def test_missing_output_directory_is_a_clear_error(self, database_url: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
        code = main(["export-labels", "--database-url", database_url, "--output", str(tmp_path / "no" / "x.csv")])
        assert code == 2
        assert "does not exist" in capsys.readouterr().err
