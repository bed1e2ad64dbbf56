"""empi rescore: the dry run reports and changes nothing; applying relinks, keeps manual links and
queues review tasks. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.cli import main
from empi import links, rescore
from empi.commands import LinkMethod
from empi.models import Link, LinkEvent, ReviewTask, SourceRecord
from empi.runtime import Runtime
from scoring.scorecard import parse_scorecard
from tests.tuning.seed import card_with, demographics, linked_pair, register, uncertain_pair, write_card


def snapshot(rt: Runtime) -> tuple[list[tuple[int, int, str]], int, int]:
    with rt.read() as session:
        rows = session.execute(select(Link.record_id, Link.person_id, Link.method).order_by(Link.record_id)).all()
        events = session.scalar(select(func.count()).select_from(LinkEvent)) or 0
        tasks = session.scalar(select(func.count()).select_from(ReviewTask)) or 0
    return [tuple(r) for r in rows], events, tasks  # type: ignore[misc]


def person_of(rt: Runtime, record_id: int) -> int | None:
    with rt.read() as session:
        return links.person_of(session, record_id)


def make_manual(rt: Runtime, record_id: int) -> None:
    with rt.write() as session:
        record = session.get(SourceRecord, record_id)
        assert record is not None
        person = links.person_of(session, record_id)
        assert person is not None
        links.set_link(session, record, person, method=LinkMethod.MANUAL, action="relink", actor="steward",
                       reason="confirmed by a steward")


class TestDryRun:
    def test_lenient_card_would_make_each_uncertain_link_once_and_change_nothing(self, tuning_rt: Runtime) -> None:
        for n in range(3):
            uncertain_pair(tuning_rt, n)
        linked_pair(tuning_rt, 5)
        before = snapshot(tuning_rt)
        card = card_with(tuning_rt.card, version="2", upper=12.0, lower=5.0)
        report = rescore.dry_run(tuning_rt, card, chunk_size=2)
        assert report.dry_run and report.examined == 8
        assert dict(report.counts) == {"make": 3}
        assert report.unchanged == 5
        assert {c.kind for c in report.sample} == {"make"} and report.sample[0].new_score == 13.0
        assert snapshot(tuning_rt) == before

    def test_strict_card_would_break_a_link_once_and_leave_manual_links(self, tuning_rt: Runtime) -> None:
        _, b = linked_pair(tuning_rt, 1)
        _, manual = linked_pair(tuning_rt, 2)
        make_manual(tuning_rt, manual.record_id)
        report = rescore.dry_run(tuning_rt, card_with(tuning_rt.card, version="2", upper=100.0, lower=90.0))
        assert dict(report.counts) == {"break": 1}
        assert report.kept_manual == 1
        assert report.sample[0].from_person == b.person_id and report.sample[0].to_person is None


class TestApply:
    def test_applying_makes_links_with_history_and_closes_stale_tasks(self, tuning_rt: Runtime) -> None:
        pairs = [uncertain_pair(tuning_rt, n) for n in range(3)]
        card = card_with(tuning_rt.card, version="2", upper=12.0, lower=5.0)
        report = rescore.apply(tuning_rt, card, chunk_size=2)
        assert dict(report.counts) == {"make": 3} and not report.dry_run
        for a, b in pairs:
            assert person_of(tuning_rt, a.record_id) == person_of(tuning_rt, b.record_id)
        with tuning_rt.read() as session:
            events = session.scalars(select(LinkEvent).where(LinkEvent.actor == "rescore")).all()
            assert len(events) == 3
            assert {(e.action, e.method, e.scorecard_version) for e in events} == {("relink", "scorecard", "2")}
            assert all(e.reason and "v2" in e.reason for e in events)
            open_tasks = session.scalar(select(func.count()).select_from(ReviewTask)
                                        .where(ReviewTask.status == "open"))
            assert open_tasks == 0
        again = rescore.dry_run(tuning_rt, card)
        assert sum(again.counts.values()) == 0

    def test_applying_a_strict_card_breaks_automatic_links_only(self, tuning_rt: Runtime) -> None:
        a, b = linked_pair(tuning_rt, 1)
        m1, m2 = linked_pair(tuning_rt, 2)
        make_manual(tuning_rt, m2.record_id)
        report = rescore.apply(tuning_rt, card_with(tuning_rt.card, version="2", upper=100.0, lower=90.0))
        assert dict(report.counts) == {"break": 1} and report.tasks_opened == 0
        assert person_of(tuning_rt, a.record_id) != person_of(tuning_rt, b.record_id)
        assert person_of(tuning_rt, m1.record_id) == person_of(tuning_rt, m2.record_id)
        with tuning_rt.read() as session:
            moved = [r for r in (a.record_id, b.record_id) if session.get(Link, r).method == "new"]  # type: ignore[union-attr]
            assert len(moved) == 1

    def test_uncertain_new_card_queues_review_tasks_when_applied(self, tuning_rt: Runtime) -> None:
        a, b = linked_pair(tuning_rt, 1)
        card = card_with(tuning_rt.card, version="2", upper=100.0, lower=0.0)
        report = rescore.apply(tuning_rt, card)
        assert dict(report.counts) == {"break": 1} and report.tasks_opened == 1
        assert report.sample[0].reason == "uncertain"
        with tuning_rt.read() as session:
            task = session.scalars(select(ReviewTask).where(ReviewTask.status == "open")).one()
            assert task.record_id in (a.record_id, b.record_id)
            assert (task.scorecard_version, task.reason) == ("2", "uncertain")


class TestMove:
    def card(self, rt: Runtime) -> object:
        data = json.loads(json.dumps(rt.card.raw))
        data.update(version="2", thresholds={"upper": 15.0, "lower": 10.0})
        for f in data["fields"]:
            if f["name"] == "sex":
                f["disagree_weight"] = -100.0  # a different sex now rules a pair out
            if f["name"] == "birth_date":
                f["disagree_weight"] = 0.0  # a different birth date no longer counts against
        return parse_scorecard(data)

    def seed(self, rt: Runtime) -> tuple[int, int, int]:
        x = register(rt, "HOSPA", "X1", demographics(4))
        w = register(rt, "HOSPA", "W1", replace(demographics(4, year_shift=2), sex="F"))
        y = register(rt, "HOSPB", "Y1", replace(demographics(4), sex="F"))
        assert x.person_id == y.person_id != w.person_id
        return x.record_id, w.record_id, y.record_id

    def test_plan_moves_a_record_that_fits_another_person_better(self, tuning_rt: Runtime) -> None:
        x, w, y = self.seed(tuning_rt)
        card = self.card(tuning_rt)
        with tuning_rt.read() as session:
            record, link = session.get(SourceRecord, y), session.get(Link, y)
            assert record is not None and link is not None
            plan = rescore.plan_record(session, record, link, card=card, margin=5.0, limit=200)
        assert plan.change is not None and plan.change.kind == "move"
        assert plan.change.to_person == person_of(tuning_rt, w)

    def test_dry_run_counts_a_join_once_from_either_side(self, tuning_rt: Runtime) -> None:
        self.seed(tuning_rt)  # W would join Y's person, and Y would move to W's: one join
        report = rescore.dry_run(tuning_rt, self.card(tuning_rt))
        assert dict(report.counts) == {"break": 1, "make": 1}

    def test_applying_ends_with_the_record_beside_its_better_match(self, tuning_rt: Runtime) -> None:
        x, w, y = self.seed(tuning_rt)
        report = rescore.apply(tuning_rt, self.card(tuning_rt))
        assert dict(report.counts) == {"break": 1, "make": 1}
        assert person_of(tuning_rt, y) == person_of(tuning_rt, w) != person_of(tuning_rt, x)


class TestCli:
    def test_dry_run_prints_counts_and_sample_when_run(self, tuning_rt: Runtime, database_url: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
        uncertain_pair(tuning_rt, 0)
        path = write_card(card_with(tuning_rt.card, version="2", upper=12.0, lower=5.0), tmp_path)
        before = snapshot(tuning_rt)
        code = main(["rescore", "--database-url", database_url, "--scorecard", str(path), "--dry-run", "--quiet"])
        out = capsys.readouterr().out
        assert code == 0
        assert "dry run, nothing changed" in out
        assert "      1  would join another person (link made)" in out
        assert "make   record" in out and "score 13.0" not in out.split("sample")[0]
        assert snapshot(tuning_rt) == before

    def test_apply_reports_what_it_did_when_run(self, tuning_rt: Runtime, database_url: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
        linked_pair(tuning_rt, 1)
        path = write_card(card_with(tuning_rt.card, version="2", upper=100.0, lower=0.0), tmp_path)
        code = main(["rescore", "--database-url", database_url, "--scorecard", str(path), "--chunk-size", "1"])
        captured = capsys.readouterr()
        assert code == 0
        assert "1  did leave their person (link broken)" in captured.out
        assert "review tasks opened: 1" in captured.out
        assert "rescoring" in captured.err  # the progress bar

    def test_invalid_scorecard_is_a_clear_error_when_loading(self, database_url: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
        bad = tmp_path / "bad.json"
        bad.write_text('{"id": "x", "fields": []}')
        code = main(["rescore", "--database-url", database_url, "--scorecard", str(bad), "--dry-run"])
        err = capsys.readouterr().err
        assert code == 2
        assert "invalid scorecard" in err and "Traceback" not in err
        assert main(["rescore", "--database-url", database_url, "--scorecard", str(tmp_path / "none.json")]) == 2
        assert "no scorecard file" in capsys.readouterr().err
