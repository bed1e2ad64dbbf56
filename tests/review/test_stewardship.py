"""Steward decisions on SQLite and PostgreSQL: links, exclusions, merges, unlinks, history, audit."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from empi import stewardship, xref
from empi.commands import FeedOutcome, LinkMethod
from empi.errors import AlreadyResolved, Conflict, InvalidInput
from empi.models import AuditEvent, Link, LinkEvent, MatchExclusion, Person, ReviewTask
from empi.runtime import Runtime
from tests.review.seed import demographics, register, uncertain_pair


def _task(rt: Runtime, task_id: int) -> ReviewTask:
    with rt.read() as session:
        task = session.get(ReviewTask, task_id)
        assert task is not None
        return task


def _link(rt: Runtime, record_id: int) -> Link:
    with rt.read() as session:
        link = session.get(Link, record_id)
        assert link is not None
        return link


class TestLinkToCandidate:
    def test_record_joins_candidate_person_when_steward_says_same(self, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 1)
        with rt.write() as session:
            out = stewardship.link_to_candidate(
                session,
                pair.task_id,
                person_id=pair.first_person,
                actor="alice",
                reason="same DOB typo",
                rt=rt,
            )
        assert out.person_id == pair.first_person
        with rt.read() as session:
            refs = xref.cross_references(session, pair.second, rt=rt)
            assert [(r.identifier, r.domain) for r in refs.identifiers] == [("A00001", "HOSPA")]
            link = session.get(Link, out.record_id)
            assert link is not None and link.method == LinkMethod.MANUAL and link.created_by == "alice"
            event = session.scalars(
                select(LinkEvent).where(LinkEvent.record_id == out.record_id).order_by(LinkEvent.id.desc())
            ).first()
            assert event is not None and event.actor == "alice" and event.reason == "same DOB typo"
            assert event.from_person_id == pair.second_person and event.to_person_id == pair.first_person
            old = session.get(Person, pair.second_person)
            assert old is not None and not old.is_active and old.merged_into_id == pair.first_person
            audit = session.scalars(
                select(AuditEvent).where(AuditEvent.event_type == "review-decision")
            ).one()
            assert audit.actor == "alice" and audit.actor_type == "user"
            assert audit.detail is not None and audit.detail["decision"] == "link"
            assert audit.detail["reason"] == "same DOB typo"
            assert audit.patient_ids == ["B00001^^^&2.25.1002&ISO"]
        task = _task(rt, pair.task_id)
        assert (task.status, task.resolution, task.resolved_by) == ("resolved", "link", "alice")

    def test_manual_link_survives_an_update_that_would_unlink_it(self, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 2)
        with rt.write() as session:
            stewardship.link_to_candidate(
                session,
                pair.task_id,
                person_id=pair.first_person,
                actor="alice",
                reason="checked chart",
                rt=rt,
            )
        result = register(rt, pair.second, demographics(40, city=False))  # now looks like someone else
        assert result.outcome == FeedOutcome.UNCHANGED and result.person_id == pair.first_person

    def test_second_decision_raises_already_resolved_and_changes_nothing(self, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 3)
        with rt.write() as session:
            stewardship.link_to_candidate(
                session, pair.task_id, person_id=pair.first_person, actor="alice", reason="same", rt=rt
            )
        with pytest.raises(AlreadyResolved, match="alice"), rt.write() as session:
            stewardship.keep_apart(session, pair.task_id, actor="bob", reason="different", rt=rt)
        with rt.read() as session:
            assert session.scalars(select(MatchExclusion)).all() == []
            assert len(session.scalars(select(AuditEvent)).all()) == 1
        assert _task(rt, pair.task_id).resolved_by == "alice"

    def test_reason_is_required_when_deciding(self, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 4)
        with pytest.raises(InvalidInput) as err, rt.write() as session:
            stewardship.link_to_candidate(
                session, pair.task_id, person_id=pair.first_person, actor="alice", reason="   ", rt=rt
            )
        assert err.value.field == "reason"
        assert _task(rt, pair.task_id).status == "open"

    def test_person_outside_the_candidates_is_refused(self, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 5)
        with pytest.raises(InvalidInput), rt.write() as session:
            stewardship.link_to_candidate(
                session, pair.task_id, person_id=999999, actor="alice", reason="x", rt=rt
            )
        assert _task(rt, pair.task_id).status == "open"

    def test_concurrent_decisions_apply_once_when_two_threads_race(self, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 6)
        barrier = threading.Barrier(2)
        results: list[str] = []

        def decide(name: str) -> None:
            barrier.wait()
            try:
                with rt.write() as session:
                    if name == "alice":
                        stewardship.link_to_candidate(
                            session,
                            pair.task_id,
                            person_id=pair.first_person,
                            actor=name,
                            reason="same",
                            rt=rt,
                        )
                    else:
                        stewardship.keep_apart(session, pair.task_id, actor=name, reason="apart", rt=rt)
                results.append("ok")
            except AlreadyResolved:
                results.append("already")

        threads = [threading.Thread(target=decide, args=(n,)) for n in ("alice", "bob")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == ["already", "ok"]
        with rt.read() as session:
            assert len(session.scalars(select(AuditEvent)).all()) == 1


class TestKeepApart:
    def test_pair_is_not_queued_again_when_kept_apart(self, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 7)
        with rt.write() as session:
            out = stewardship.keep_apart(session, pair.task_id, actor="bob", reason="twins", rt=rt)
        assert out.person_id == pair.second_person
        with rt.read() as session:
            assert len(session.scalars(select(MatchExclusion)).all()) == 1
        again = register(rt, pair.second, demographics(7, year_shift=1, city=False))
        assert again.review_task_id is None and again.person_id == pair.second_person
        assert _task(rt, pair.task_id).resolution == "different"


class TestMergePersons:
    def test_record_person_merges_into_candidate_when_steward_merges(self, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 8)
        with rt.write() as session:
            out = stewardship.merge_persons(
                session,
                pair.task_id,
                person_id=pair.first_person,
                actor="carol",
                reason="same patient",
                rt=rt,
            )
        assert out.changed_persons == (pair.second_person, pair.first_person)
        with rt.read() as session:
            ids = {r.identifier for r in xref.person_identifiers(session, pair.first_person)}
            assert ids == {"A00008", "B00008"}
            merged = session.get(Person, pair.second_person)
            assert merged is not None and merged.merged_into_id == pair.first_person
            assert stewardship.current_person(session, pair.second_person).id == pair.first_person  # type: ignore[union-attr]
        assert _link(rt, out.record_id).method == LinkMethod.MANUAL


class TestUnlinkRecord:
    def test_record_gets_its_own_person_when_unlinked(self, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 9)
        with rt.write() as session:
            linked = stewardship.link_to_candidate(
                session, pair.task_id, person_id=pair.first_person, actor="alice", reason="same", rt=rt
            )
        with rt.write() as session:
            out = stewardship.unlink_record(
                session, linked.record_id, actor="dave", reason="wrong chart", rt=rt
            )
        assert out.person_id not in (pair.first_person, pair.second_person)
        with rt.read() as session:
            refs = xref.cross_references(session, pair.second, rt=rt)
            assert refs.identifiers == []
            event = session.scalars(select(LinkEvent).where(LinkEvent.action == "unlink")).one()
            assert event.actor == "dave" and event.from_person_id == pair.first_person
        assert _link(rt, out.record_id).method == LinkMethod.MANUAL
        again = register(rt, pair.second, demographics(9, year_shift=1, city=False))
        assert again.person_id == out.person_id and again.review_task_id is None

    def test_only_record_cannot_be_unlinked(self, rt: Runtime) -> None:
        pair = uncertain_pair(rt, 10)
        with pytest.raises(Conflict), rt.write() as session:
            record_id = _link_record_id(session, pair.second.identifier)
            stewardship.unlink_record(session, record_id, actor="dave", reason="x", rt=rt)


def _link_record_id(session, identifier: str) -> int:  # type: ignore[no-untyped-def]
    from empi.models import SourceRecord

    return int(session.scalar(select(SourceRecord.id).where(SourceRecord.identifier == identifier)))
