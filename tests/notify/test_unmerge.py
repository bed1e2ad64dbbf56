"""Undo a merge or a link (empi.unmerge): cross-references restored, consumers notified."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from empi import links, patients, stewardship, unmerge
from empi.commands import FeedEvent, MergeRecords, RecordKey
from empi.errors import Conflict
from empi.models import AuditEvent, BlockingKey, MatchExclusion, OutboxMessage, Person, SourceRecord
from empi.records import get_record
from empi.runtime import Runtime
from empi.xref import cross_references
from tests.notify.factories import feed
from tests.notify.receiver import fields
from tests.notify.test_outbox import consumer

OTHER = {"family": "Lindqvarn", "given": "Petronel", "birth_date": "1955-11-30", "sex": "M"}


def xref(rt: Runtime, identifier: str, domain: str) -> set[str]:
    with rt.read() as s:
        return {f"{x.identifier}@{x.domain}" for x in cross_references(s, RecordKey(identifier, domain), rt=rt).identifiers}


def person_of(rt: Runtime, identifier: str, domain: str) -> int | None:
    with rt.read() as s:
        rec = get_record(s, RecordKey(identifier, domain))
        assert rec is not None
        return links.person_of(s, rec.id)


def last_pid3(rt: Runtime) -> list[str]:
    with rt.read() as s:
        payloads = s.scalars(select(OutboxMessage.payload).order_by(OutboxMessage.id)).all()
    return [fields(p, "PID")[3] for p in payloads]


@pytest.fixture
def merged(make_runtime: Callable[..., Runtime]) -> Runtime:
    """§3.7 shape: MW-1@NIST2010 + MW-2@IHE2010 are one person, ML-3@NIST2010 another; MW-1 merged into ML-3."""
    rt = make_runtime(consumers=(consumer(9),))
    with rt.write() as s:
        patients.register(s, feed("MW-1", "NIST2010"), rt=rt)
        patients.register(s, feed("MW-2", "IHE2010"), rt=rt)
        patients.register(s, feed("ML-3", "NIST2010", **OTHER), rt=rt)
    assert xref(rt, "MW-1", "NIST2010") == {"MW-2@IHE2010"}
    with rt.write() as s:
        patients.merge(s, MergeRecords(surviving=RecordKey("ML-3", "NIST2010"), subsumed=RecordKey("MW-1", "NIST2010"),
                                       source="TEST"), rt=rt)
    assert xref(rt, "ML-3", "NIST2010") == {"MW-2@IHE2010"}
    return rt


class TestUndoRecordMerge:
    def test_the_subsumed_record_and_its_person_come_back_when_an_a40_is_undone(self, merged: Runtime) -> None:
        rt = merged
        with rt.write() as s:
            done = unmerge.undo_record_merge(s, RecordKey("MW-1", "NIST2010"), rt=rt, actor="steward1", reason="wrong")
        assert done.kind == "record-merge" and len(done.changed_persons) == 2
        assert xref(rt, "MW-1", "NIST2010") == {"MW-2@IHE2010"}
        assert xref(rt, "ML-3", "NIST2010") == set()
        with rt.read() as s:
            rec = get_record(s, RecordKey("MW-1", "NIST2010"))
            assert rec is not None and rec.status == "active" and rec.merged_into_id is None
            assert s.scalars(select(BlockingKey).where(BlockingKey.record_id == rec.id)).first() is not None
            person = s.get(Person, done.person_id)
            assert person is not None and person.is_active and person.merged_into_id is None
            entry = s.scalars(select(AuditEvent).where(AuditEvent.event_type == "unmerge")).one()
            assert entry.actor == "steward1" and entry.actor_type == "user"
        # consumers hear about both resulting sets
        assert sorted(last_pid3(rt)[-2:], key=len) == [
            "ML-3^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO",
            "MW-2^^^IHE2010&1.3.6.1.4.1.21367.2010.1.1&ISO~MW-1^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO"]

    def test_an_active_record_cannot_be_unmerged(self, merged: Runtime) -> None:
        with merged.write() as s, pytest.raises(Conflict):
            unmerge.undo_record_merge(s, RecordKey("ML-3", "NIST2010"), rt=merged, actor="steward1")

    def test_the_undone_record_accepts_updates_again(self, merged: Runtime) -> None:
        rt = merged
        with rt.write() as s:
            unmerge.undo_record_merge(s, RecordKey("MW-1", "NIST2010"), rt=rt, actor="steward1")
        with rt.write() as s:
            patients.register(s, feed("MW-1", "NIST2010", event=FeedEvent.UPDATE), rt=rt)
        assert xref(rt, "MW-1", "NIST2010") == {"MW-2@IHE2010"}


class TestUndoPersonMerge:
    def test_a_steward_person_merge_is_undone(self, make_runtime: Callable[..., Runtime]) -> None:
        rt = make_runtime()
        with rt.write() as s:
            patients.register(s, feed("PA-1", "NIST2010"), rt=rt)
            patients.register(s, feed("PB-1", "IHE2010", **OTHER), rt=rt)
        pa, pb = person_of(rt, "PA-1", "NIST2010"), person_of(rt, "PB-1", "IHE2010")
        assert pa is not None and pb is not None and pa != pb
        with rt.write() as s:
            links.move_person(s, pa, pb, method=links.LinkMethod.MANUAL, actor="steward1", reason="same")
        assert xref(rt, "PB-1", "IHE2010") == {"PA-1@NIST2010"}
        with rt.read() as s:
            offers = unmerge.undoable(s, pb)
        assert [(o.kind, o.person_id) for o in offers] == [("person-merge", pa)]
        with rt.write() as s:
            unmerge.undo_person_merge(s, pa, rt=rt, actor="steward1")
        assert xref(rt, "PB-1", "IHE2010") == set()
        assert person_of(rt, "PA-1", "NIST2010") == pa

    def test_an_active_person_cannot_be_unmerged(self, make_runtime: Callable[..., Runtime]) -> None:
        rt = make_runtime()
        with rt.write() as s:
            result = patients.register(s, feed("PA-1", "NIST2010"), rt=rt)
        with rt.write() as s, pytest.raises(Conflict):
            unmerge.undo_person_merge(s, result.person_id, rt=rt, actor="steward1")


class TestUndoLink:
    def test_an_automatic_link_is_undone_and_not_redone_by_the_next_update(
            self, make_runtime: Callable[..., Runtime]) -> None:
        rt = make_runtime()
        with rt.write() as s:
            patients.register(s, feed("LA-1", "NIST2010"), rt=rt)
            patients.register(s, feed("LA-2", "IHE2010"), rt=rt)
        assert xref(rt, "LA-1", "NIST2010") == {"LA-2@IHE2010"}
        with rt.read() as s:
            rec = get_record(s, RecordKey("LA-2", "IHE2010"))
            assert rec is not None
            offers = unmerge.undoable(s, links.person_of(s, rec.id) or 0)
        assert [(o.kind, o.record_id) for o in offers] == [("link", rec.id)]
        with rt.write() as s:
            done = unmerge.undo_link(s, rec.id, rt=rt, actor="steward1", reason="not the same")
        assert xref(rt, "LA-1", "NIST2010") == set()
        with rt.read() as s:
            assert s.scalars(select(MatchExclusion)).first() is not None
        with rt.write() as s:
            patients.register(s, feed("LA-2", "IHE2010", event=FeedEvent.UPDATE), rt=rt)
            patients.register(s, feed("LA-3", "HOSPA"), rt=rt)
        assert person_of(rt, "LA-2", "IHE2010") == done.person_id
        assert "LA-2@IHE2010" not in xref(rt, "LA-1", "NIST2010")

    def test_an_unlink_is_undone_and_its_exclusions_dropped(self, make_runtime: Callable[..., Runtime]) -> None:
        rt = make_runtime()
        with rt.write() as s:
            patients.register(s, feed("UA-1", "NIST2010"), rt=rt)
            patients.register(s, feed("UA-2", "IHE2010"), rt=rt)
        with rt.read() as s:
            rec = get_record(s, RecordKey("UA-2", "IHE2010"))
            assert rec is not None
            rid = rec.id
        with rt.write() as s:
            stewardship.unlink_record(s, rid, actor="steward1", reason="different", rt=rt)
        assert xref(rt, "UA-1", "NIST2010") == set()
        with rt.write() as s:
            unmerge.undo_link(s, rid, rt=rt, actor="steward1", reason="it was right")
        assert xref(rt, "UA-1", "NIST2010") == {"UA-2@IHE2010"}
        with rt.read() as s:
            assert s.scalars(select(MatchExclusion)).first() is None

    def test_a_record_alone_on_its_first_person_has_no_link_to_undo(self, make_runtime: Callable[..., Runtime]) -> None:
        rt = make_runtime()
        with rt.write() as s:
            result = patients.register(s, feed("SO-1", "NIST2010"), rt=rt)
        with rt.write() as s, pytest.raises(Conflict):
            unmerge.undo_link(s, result.record_id, rt=rt, actor="steward1")
        with rt.read() as s:
            assert s.get(SourceRecord, result.record_id) is not None
