"""Feeding, matching, merging and cross-referencing through the core services, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from empi import links, patients, xref
from empi.commands import (Demographics, FeedEvent, FeedOutcome, LinkMethod, MergeRecords, PersonName, RecordKey,
                            RegisterSourceRecord)
from empi.errors import Conflict, InvalidInput, UnknownAuthority, UnknownIdentifier
from empi.models import BlockingKey, Link, LinkEvent, MatchExclusion, Person, ReviewTask, SourceRecord
from empi.runtime import Runtime
from scoring import score_pair
from tests.core.factories import feed, person

VALID_HC = "9876543217"  # passes the Ontario mod-10 check (synthetic)
OTHER_VALID_HC = "1234567897"


def register(rt: Runtime, identifier: str, domain: str, p: dict, **kw):  # type: ignore[no-untyped-def]
    with rt.write() as s:
        return patients.register(s, feed(identifier, domain, p, **kw), rt=rt)


def ids(rt: Runtime, identifier: str, domain: str, domains=None) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with rt.read() as s:
        refs = xref.cross_references(s, RecordKey(identifier, domain), rt=rt, domains=domains)
    return {(r.identifier, r.domain) for r in refs.identifiers}


def find_variant(rt: Runtime, decision: str) -> dict:  # type: ignore[no-untyped-def]
    """A perturbation of the base person whose score against it falls in ``decision``, per the live card."""
    variants = [
        person(birth_date="1981-03-14", phone=None),
        person(given_name="Anna", phone=None),
        person(given_name="Anna", birth_date="1980-03-15", phone=None),
        person(address_line="99 King St", postal_code="K7K 1A1", phone=None),
        person(birth_date="1980-04-14", phone=None, address_line="40 Union St"),
        person(family_name="Kowalski", birth_date="1981-03-14", phone=None),
        person(given_name="Marta", phone=None, postal_code="K7K 2B2"),
        person(address_line=None, city=None, postal_code=None, phone=None),
        person(birth_date="1980-03-14", given_name="M", phone=None),
        person(middle_name="J", birth_date="1982-03-14", phone=None),
        person(family_name="Kowal", birth_date="1980-03-15", phone=None),
        person(given_name="Marie", birth_date="1981-03-14", phone=None, address_line="5 Bay St"),
        person(given_name="Anna", birth_date="1981-03-14", phone=None, address_line="99 King St"),
        person(given_name="Marya", birth_date="1981-03-14", sex="M", phone=None, address_line=None, city=None,
               postal_code=None),
    ]
    for v in variants:
        if score_pair(rt.card, person(), v).decision == decision and score_pair(rt.card, person(), v).rule is None:
            return v
    pytest.fail(f"no variant scores {decision!r} with card {rt.card.id}@{rt.card.version}")


class TestRegister:
    def test_identical_demographics_in_two_domains_link_to_one_person(self, rt: Runtime) -> None:
        a = register(rt, "A1", "HOSPA", person())
        b = register(rt, "B1", "HOSPB", person())
        assert a.outcome == FeedOutcome.NEW_PERSON and a.created
        assert b.outcome == FeedOutcome.LINKED and b.person_id == a.person_id and b.score is not None
        assert ids(rt, "A1", "HOSPA") == {("B1", "HOSPB")}
        assert ids(rt, "B1", "HOSPB") == {("A1", "HOSPA")}
        with rt.read() as s:
            link = s.get(Link, b.record_id)
            assert link is not None and link.method == LinkMethod.SCORECARD
            assert link.scorecard_version == rt.card.version and link.breakdown and link.breakdown["fields"]

    def test_a_different_person_gets_a_new_regional_id(self, rt: Runtime) -> None:
        a = register(rt, "A1", "HOSPA", person())
        b = register(rt, "B1", "HOSPB", person(given_name="Tomasz", family_name="Zielinski", sex="M",
                                                 birth_date="1955-11-02", address_line="7 Elm Ave",
                                                 postal_code="K1A 0B1", phone="613-555-0199"))
        assert b.outcome == FeedOutcome.NEW_PERSON and b.person_id != a.person_id
        assert a.regional_id != b.regional_id and len(b.regional_id) == 10
        assert ids(rt, "A1", "HOSPA") == set()

    def test_the_same_identifier_in_two_domains_is_two_records(self, rt: Runtime) -> None:
        register(rt, "123", "HOSPA", person())
        register(rt, "123", "HOSPB", person(given_name="Tomasz", family_name="Zielinski", sex="M",
                                            birth_date="1955-11-02", phone=None, address_line="7 Elm Ave"))
        with rt.read() as s:
            assert s.scalar(select(func.count()).select_from(SourceRecord)) == 2

    def test_uncertain_score_gives_a_new_person_and_a_review_task_with_breakdown(self, rt: Runtime) -> None:
        a = register(rt, "A1", "HOSPA", person())
        b = register(rt, "B1", "HOSPB", find_variant(rt, "uncertain"))
        assert b.outcome == FeedOutcome.REVIEW and b.person_id != a.person_id and b.review_task_id
        with rt.read() as s:
            task = s.get(ReviewTask, b.review_task_id)
            assert task is not None and task.status == "open" and task.reason == "uncertain"
            assert task.candidates[0]["person_id"] == a.person_id
            assert task.candidates[0]["fields"] and rt.card.lower <= task.best_score <= rt.card.upper

    def test_same_valid_health_card_links_whatever_the_score(self, rt: Runtime) -> None:
        a = register(rt, "A1", "HOSPA", person(health_card=VALID_HC))
        b = register(rt, "B1", "HOSPB", person(health_card=VALID_HC, given_name="Mary-Ann", phone=None,
                                               address_line="1 Other Rd", postal_code="M4C 1A1"))
        assert b.person_id == a.person_id
        with rt.read() as s:
            assert s.get(Link, b.record_id).method == LinkMethod.DETERMINISTIC  # type: ignore[union-attr]

    def test_different_valid_health_cards_never_link_automatically(self, rt: Runtime) -> None:
        a = register(rt, "A1", "HOSPA", person(health_card=VALID_HC))
        b = register(rt, "B1", "HOSPB", person(health_card=OTHER_VALID_HC))
        assert b.person_id != a.person_id

    def test_the_likeliest_candidates_are_scored_first_when_a_block_is_crowded(self, make_runtime) -> None:  # type: ignore[no-untyped-def]
        rt = make_runtime(max_candidates=3)
        target = register(rt, "A0", "HOSPA", person())
        neighbours = [("Tomasz", "Zielinski", "1955-11-02"), ("Kwame", "Mensah", "1990-07-30"),
                      ("Ingrid", "Halvorsen", "2003-12-01"), ("Omar", "Haddad", "1971-04-19"),
                      ("Yuki", "Tanaka", "1988-08-08"), ("Ana", "Ferreira", "1966-01-25")]
        for n, (given, family, born) in enumerate(neighbours):  # same building, other people
            register(rt, f"A{n + 1}", "HOSPA", person(given_name=given, family_name=family, birth_date=born,
                                                      phone=f"613-555-03{n:02d}"))
        again = register(rt, "B0", "HOSPB", person())
        assert again.person_id == target.person_id

    def test_unknown_domain_is_rejected_and_nothing_is_stored(self, rt: Runtime) -> None:
        with pytest.raises(UnknownAuthority), rt.write() as s:
            patients.register(s, feed("X1", "NOPE", person()), rt=rt)
        with rt.read() as s:
            assert s.scalar(select(func.count()).select_from(SourceRecord)) == 0

    def test_a_bad_birth_date_is_invalid_input(self, rt: Runtime) -> None:
        with pytest.raises(InvalidInput) as err, rt.write() as s:
            patients.register(s, feed("X1", "HOSPA", person(birth_date="1980-02-30")), rt=rt)
        assert err.value.field == "birth_date"

    def test_blocking_keys_are_stored_for_candidate_lookup(self, rt: Runtime) -> None:
        a = register(rt, "A1", "HOSPA", person())
        with rt.read() as s:
            keys = s.scalars(select(BlockingKey.key).where(BlockingKey.record_id == a.record_id)).all()
        assert keys and all(":" in k for k in keys)


class TestUpdate:
    def test_absent_fields_keep_and_null_fields_delete(self, rt: Runtime) -> None:
        register(rt, "A1", "HOSPA", person())
        with rt.write() as s:
            patients.register(s, RegisterSourceRecord(
                key=RecordKey("A1", "HOSPA"), demographics=Demographics(sex=None, birth_date="1980-03-15"),
                event=FeedEvent.UPDATE), rt=rt)
        with rt.read() as s:
            rec = s.scalars(select(SourceRecord)).one()
            assert rec.sex is None and rec.birth_date == "1980-03-15"
            assert rec.family_name == "Kowalczyk" and rec.postal_code == "K7L 3N6"

    def test_an_update_that_fixes_demographics_links_the_record(self, rt: Runtime) -> None:
        a = register(rt, "A1", "HOSPA", person())
        wrong = person(given_name="T", family_name="Tow", birth_date="1979-05-15", phone=None)
        b = register(rt, "B1", "HOSPB", wrong)
        assert b.person_id != a.person_id
        fixed = register(rt, "B1", "HOSPB", person(), event=FeedEvent.UPDATE)
        assert not fixed.created and fixed.person_id == a.person_id
        assert ids(rt, "A1", "HOSPA") == {("B1", "HOSPB")}
        with rt.read() as s:
            actions = s.scalars(select(LinkEvent.action).where(LinkEvent.record_id == b.record_id)).all()
            assert actions == ["link", "relink"]
            assert s.get(Person, b.person_id).is_active is False  # type: ignore[union-attr]

    def test_an_update_that_breaks_the_match_splits_the_record_off(self, rt: Runtime) -> None:
        a = register(rt, "A1", "HOSPA", person())
        b = register(rt, "B1", "HOSPB", person())
        assert b.person_id == a.person_id
        moved = register(rt, "B1", "HOSPB", person(given_name="Tomasz", family_name="Zielinski", sex="M",
                                                   birth_date="1955-11-02", address_line="7 Elm Ave",
                                                   postal_code="K1A 0B1", phone="613-555-0199"),
                         event=FeedEvent.UPDATE)
        assert moved.person_id != a.person_id
        assert ids(rt, "A1", "HOSPA") == set()

    def test_a_manual_link_is_never_overridden_by_matching(self, rt: Runtime) -> None:
        a = register(rt, "A1", "HOSPA", person())
        other = person(given_name="Tomasz", family_name="Zielinski", sex="M", birth_date="1955-11-02",
                       address_line="7 Elm Ave", postal_code="K1A 0B1", phone="613-555-0199")
        b = register(rt, "B1", "HOSPB", other)
        with rt.write() as s:  # a steward says they are the same person
            rec = s.get(SourceRecord, b.record_id)
            links.set_link(s, rec, a.person_id, method=LinkMethod.MANUAL, action="link", actor="steward")
        again = register(rt, "B1", "HOSPB", other, event=FeedEvent.UPDATE)
        assert again.person_id == a.person_id and again.outcome == FeedOutcome.UNCHANGED

    def test_a_remembered_different_person_is_not_linked(self, rt: Runtime) -> None:
        a = register(rt, "A1", "HOSPA", person())
        b = register(rt, "B1", "HOSPB", person(given_name="Tomasz", family_name="Zielinski", sex="M",
                                               birth_date="1955-11-02", address_line="7 Elm Ave",
                                               postal_code="K1A 0B1", phone="613-555-0199"))
        with rt.write() as s:
            s.add(MatchExclusion(record_a_id=a.record_id, record_b_id=b.record_id, actor="steward"))
        again = register(rt, "B1", "HOSPB", person(), event=FeedEvent.UPDATE)
        assert again.person_id != a.person_id


class TestMerge:
    def test_merge_replaces_the_subsumed_identifier_everywhere(self, rt: Runtime) -> None:
        old = register(rt, "MW-1", "HOSPA", person())
        register(rt, "MW-2", "HOSPB", person())
        new = register(rt, "ML-3", "HOSPA", person(family_name="Lincoln", address_line="4 New St",
                                                   postal_code="K7K 5C5", phone=None, given_name="Marie"))
        with rt.write() as s:
            patients.merge(s, MergeRecords(surviving=RecordKey("ML-3", "HOSPA"), subsumed=RecordKey("MW-1", "HOSPA")),
                           rt=rt)
        assert ids(rt, "MW-2", "HOSPB") == {("ML-3", "HOSPA")}
        with pytest.raises(UnknownIdentifier), rt.read() as s:
            xref.cross_references(s, RecordKey("MW-1", "HOSPA"), rt=rt)
        with rt.read() as s:
            assert s.get(SourceRecord, old.record_id).status == "merged"  # type: ignore[union-attr]
            assert links.person_of(s, new.record_id) == links.person_of(s, old.record_id + 1)

    def test_an_unknown_subsumed_identifier_is_rejected(self, rt: Runtime) -> None:
        register(rt, "ML-3", "HOSPA", person())
        with pytest.raises(UnknownIdentifier), rt.write() as s:
            patients.merge(s, MergeRecords(surviving=RecordKey("ML-3", "HOSPA"), subsumed=RecordKey("NOPE", "HOSPA")),
                           rt=rt)

    def test_merging_across_domains_is_rejected(self, rt: Runtime) -> None:
        register(rt, "A1", "HOSPA", person())
        register(rt, "B1", "HOSPB", person())
        with pytest.raises(InvalidInput), rt.write() as s:
            patients.merge(s, MergeRecords(surviving=RecordKey("A1", "HOSPA"), subsumed=RecordKey("B1", "HOSPB")), rt=rt)

    def test_a_merged_identifier_cannot_be_fed_again(self, rt: Runtime) -> None:
        register(rt, "A1", "HOSPA", person())
        register(rt, "A2", "HOSPA", person())
        with rt.write() as s:
            patients.merge(s, MergeRecords(surviving=RecordKey("A2", "HOSPA"), subsumed=RecordKey("A1", "HOSPA")), rt=rt)
        with pytest.raises(Conflict), rt.write() as s:
            patients.register(s, feed("A1", "HOSPA", person()), rt=rt)

    def test_merge_into_an_unknown_identifier_renames_the_record(self, rt: Runtime) -> None:
        register(rt, "A1", "HOSPA", person())
        register(rt, "B1", "HOSPB", person())
        with rt.write() as s:
            patients.merge(s, MergeRecords(surviving=RecordKey("A9", "HOSPA"), subsumed=RecordKey("A1", "HOSPA"),
                                           demographics=Demographics(names=[PersonName(family="Kowalczyk",
                                                                                       given="Maria")])), rt=rt)
        assert ids(rt, "B1", "HOSPB") == {("A9", "HOSPA")}


class TestCrossReferences:
    def test_domain_filter_and_regional_publication(self, make_runtime) -> None:  # type: ignore[no-untyped-def]
        rt = make_runtime(publish_regional_id=True)
        a = register(rt, "A1", "HOSPA", person())
        register(rt, "B1", "HOSPB", person())
        register(rt, "B2", "HOSPB", person())
        assert ids(rt, "A1", "HOSPA") == {("B1", "HOSPB"), ("B2", "HOSPB"), (a.regional_id, "EMPI")}
        assert ids(rt, "A1", "HOSPA", domains=["HOSPB"]) == {("B1", "HOSPB"), ("B2", "HOSPB")}
        assert ids(rt, "A1", "HOSPA", domains=["EMPI"]) == {(a.regional_id, "EMPI")}
        assert ids(rt, "B1", "HOSPB", domains=["HOSPB"]) == {("B2", "HOSPB")}

    def test_a_query_by_regional_id_returns_every_record(self, rt: Runtime) -> None:
        a = register(rt, "A1", "HOSPA", person())
        register(rt, "B1", "HOSPB", person())
        assert ids(rt, a.regional_id, "EMPI") == {("A1", "HOSPA"), ("B1", "HOSPB")}
        assert ids(rt, a.regional_id, "EMPI", domains=["HOSPB"]) == {("B1", "HOSPB")}
        with pytest.raises(UnknownIdentifier), rt.read() as s:
            xref.cross_references(s, RecordKey("0000000000", "EMPI"), rt=rt)

    def test_regional_id_is_not_published_by_default(self, rt: Runtime) -> None:
        register(rt, "A1", "HOSPA", person())
        assert ids(rt, "A1", "HOSPA") == set()

    def test_deleted_records_are_no_longer_cross_referenced(self, rt: Runtime) -> None:
        register(rt, "A1", "HOSPA", person())
        register(rt, "B1", "HOSPB", person())
        with rt.write() as s:
            patients.delete(s, RecordKey("B1", "HOSPB"), rt=rt)
        assert ids(rt, "A1", "HOSPA") == set()
        with pytest.raises(UnknownIdentifier), rt.read() as s:
            xref.cross_references(s, RecordKey("B1", "HOSPB"), rt=rt)


class TestStoredRowsOfANewRecord:
    """What a feed writes for a record new in its transaction. On PostgreSQL the record, its keys and names
    go in one statement, and its link, history row and a new person's regional ID in another; the rows must
    be what the general path writes on SQLite."""

    def stored(self, rt: Runtime, identifier: str, domain: str) -> dict:  # type: ignore[type-arg]
        from empi.models import RecordName
        from empi.records import scoring_view
        from empi.text import luhn_digit
        from scoring import blocking_keys

        with rt.read() as s:
            rec = s.scalars(select(SourceRecord).where(SourceRecord.identifier == identifier,
                                                       SourceRecord.domain == domain)).one()
            link = s.get(Link, rec.id)
            assert link is not None
            prsn = s.get(Person, link.person_id)
            assert prsn is not None and prsn.regional_id == f"{prsn.id:09d}" + luhn_digit(f"{prsn.id:09d}")
            keys = set(s.scalars(select(BlockingKey.key).where(BlockingKey.record_id == rec.id)))
            assert keys == set(blocking_keys(scoring_view(rec)))
            names = sorted(s.execute(select(RecordName.family_norm, RecordName.given_norm, RecordName.use)
                                     .where(RecordName.record_id == rec.id)).all())
            events = s.execute(select(LinkEvent.action, LinkEvent.from_person_id, LinkEvent.to_person_id,
                                      LinkEvent.method, LinkEvent.score, LinkEvent.actor)
                               .where(LinkEvent.record_id == rec.id)).all()
            return dict(record=rec, link=link, person=prsn, names=names, events=events)

    def test_a_new_person(self, rt: Runtime) -> None:
        cmd = feed("A1", "HOSPA", person(phone=None))
        cmd.demographics.names.append(PersonName(family="Nowak", given="Maria", use="M"))
        cmd.demographics.is_deceased = False
        with rt.write() as s:
            result = patients.register(s, cmd, rt=rt)
        got = self.stored(rt, "A1", "HOSPA")
        rec, link = got["record"], got["link"]
        assert rec.status == "active" and rec.is_deceased is False and rec.merged_into_id is None
        assert [n["family"] for n in rec.names] == ["Kowalczyk", "Nowak"] and rec.names[1]["use"] == "M"
        assert rec.addresses[0]["postal_code"] == "K7L 3N6" and rec.phones == [] and rec.other_identifiers == []
        assert rec.created_at is not None and rec.created_at == rec.updated_at
        assert got["names"] == [("KOWALCZYK", "MARIA", None), ("NOWAK", "MARIA", "M")]
        assert link.method == LinkMethod.NEW.value and link.person_id == result.person_id
        assert link.breakdown is None and link.score is None and link.created_by == "TEST"
        assert got["person"].regional_id == result.regional_id and got["person"].is_active
        assert got["events"] == [("link", None, result.person_id, LinkMethod.NEW.value, None, "TEST")]

    def test_a_record_joining_a_person(self, rt: Runtime) -> None:
        first = register(rt, "A1", "HOSPA", person())
        second = register(rt, "B1", "HOSPB", person())
        assert second.outcome == FeedOutcome.LINKED and second.person_id == first.person_id
        got = self.stored(rt, "B1", "HOSPB")
        link = got["link"]
        assert link.method == LinkMethod.SCORECARD.value and link.score == second.score
        assert link.scorecard_id == rt.card.id and link.scorecard_version == rt.card.version
        assert isinstance(link.breakdown, dict) and link.breakdown["total"] == second.score
        assert got["events"] == [("link", None, first.person_id, LinkMethod.SCORECARD.value, second.score, "TEST")]
        with rt.read() as s:
            assert s.scalar(select(func.count()).select_from(Person)) == 1
