"""empi.search: the transport-neutral demographic query shared by PDQ and PDQm."""

from __future__ import annotations

import pytest

from empi import patients, search
from empi.commands import Address, Demographics, PersonName, RecordKey, RegisterSourceRecord
from empi.runtime import Runtime
from empi.search import DateCriterion, IdentifierCriterion, Match, PatientQuery, Text


def _add(rt: Runtime, identifier: str, family: str, given: str, *, domain: str = "NIST2010", born: str | None = None,
         sex: str | None = None, city: str | None = None, postal: str | None = None, phone: str | None = None,
         maiden: str | None = None, account: str | None = None) -> None:
    demo = Demographics(names=[PersonName(family=family, given=given)], birth_date=born, sex=sex,
                        addresses=[Address(line1="1 Main St", city=city, postal_code=postal)] if city else [],
                        phones=[phone] if phone else [], mothers_maiden_name=maiden, account_number=account)
    with rt.write() as s:
        patients.register(s, RegisterSourceRecord(key=RecordKey(identifier, domain), demographics=demo), rt=rt)


@pytest.fixture
def people(rt: Runtime) -> Runtime:
    _add(rt, "A1", "Nxeal", "Jermaino", born="1970-01-02", sex="M", city="Hampton", postal="37658",
         phone="(555) 123-4567", account="1007240")
    _add(rt, "A2", "NXEAL", "Ruth", born="1972-03-06", sex="F", maiden="Vasquez")
    _add(rt, "A3", "O'Neal-Smith", "Rúth", born="1972", sex="F", domain="NIST2010-2")
    _add(rt, "A4", "Lxeighton", "Barbara", born="1990-12-31", sex="F", domain="IHE2010")
    return rt


def _ids(rt: Runtime, q: PatientQuery, **kw: int) -> list[str]:
    with rt.read() as s:
        page = search.find(s, q, rt=rt, **kw)
        return [r.identifier for r in page.records]


class TestFind:
    def test_prefix_family_is_case_insensitive_when_default_match(self, people: Runtime) -> None:
        assert _ids(people, PatientQuery(family=[Text.of("nxe")])) == ["A1", "A2"]

    def test_exact_match_needs_the_whole_name_when_exact(self, people: Runtime) -> None:
        assert _ids(people, PatientQuery(family=[Text.of("NXE", match=Match.EXACT)])) == []
        assert _ids(people, PatientQuery(family=[Text.of("nxeal", match=Match.EXACT)])) == ["A1", "A2"]

    def test_accents_and_punctuation_are_ignored_when_normalised(self, people: Runtime) -> None:
        q = PatientQuery(family=[Text.of("oneal smith", match=Match.EXACT)], given=[Text.of("ruth")])
        assert _ids(people, q) == ["A3"]

    def test_wildcards_match_when_pdq_style(self, people: Runtime) -> None:
        assert _ids(people, PatientQuery(family=[Text.of("L*TON", match=Match.WILDCARD)])) == ["A4"]
        assert _ids(people, PatientQuery(family=[Text.of("NXEA?", match=Match.WILDCARD)])) == ["A1", "A2"]

    def test_or_within_and_across_criteria(self, people: Runtime) -> None:
        q = PatientQuery(given=[Text.of("Ruth", "Barbara")], sex=("F",))
        assert _ids(people, q) == ["A2", "A3", "A4"]
        q = PatientQuery(family=[Text.of("NXEAL")], sex=("F",))
        assert _ids(people, q) == ["A2"]

    @pytest.mark.parametrize(("prefix", "value", "expected"), [
        ("eq", "1972-03-06", ["A2"]), ("eq", "1972", ["A2", "A3"]), ("lt", "1972", ["A1"]),
        ("ge", "1972-01-01", ["A2", "A3", "A4"]), ("gt", "1972", ["A4"]), ("le", "1970-01", ["A1"]),
        ("ne", "1972", ["A1", "A4"]),
    ])
    def test_birth_date_comparisons_when_prefixed(self, people: Runtime, prefix: str, value: str,
                                                  expected: list[str]) -> None:
        assert _ids(people, PatientQuery(birth_date=[DateCriterion(value, prefix)])) == expected

    def test_identifier_and_domain_filters(self, people: Runtime) -> None:
        assert _ids(people, PatientQuery(identifiers=[(IdentifierCriterion("A4", "ihe2010"),)])) == ["A4"]
        assert _ids(people, PatientQuery(identifiers=[(IdentifierCriterion("A4", "NIST2010"),)])) == []
        assert _ids(people, PatientQuery(family=[Text.of("N", "O")], domains=("NIST2010-2",))) == ["A3"]

    def test_address_phone_maiden_and_account(self, people: Runtime) -> None:
        assert _ids(people, PatientQuery(city=[Text.of("hamp")])) == ["A1"]
        assert _ids(people, PatientQuery(address=[Text.of("3765")])) == ["A1"]
        assert _ids(people, PatientQuery(phone=[Text.of("555-123-4567")])) == ["A1"]
        assert _ids(people, PatientQuery(mothers_maiden_name=[Text.of("vasq")])) == ["A2"]
        assert _ids(people, PatientQuery(account_number=("1007240",))) == ["A1"]

    def test_paging_reports_the_total_when_limited(self, people: Runtime) -> None:
        with people.read() as s:
            page = search.find(s, PatientQuery(sex=("F",)), rt=people, offset=1, limit=1)
            assert page.total == 3
            assert [r.identifier for r in page.records] == ["A3"]

    def test_deleted_records_are_not_found(self, people: Runtime) -> None:
        with people.write() as s:
            patients.delete(s, RecordKey("A2", "NIST2010"), rt=people)
        assert _ids(people, PatientQuery(family=[Text.of("NXEAL")])) == ["A1"]


class TestScoredCandidates:
    def test_identical_demographics_score_highest(self, people: Runtime) -> None:
        from empi.models import SourceRecord
        from empi.records import apply_demographics

        probe = SourceRecord(domain="", identifier="", names=[], addresses=[], phones=[], other_identifiers=[])
        apply_demographics(probe, Demographics(names=[PersonName(family="NXEAL", given="RUTH")],
                                               birth_date="1972-03-06", sex="F"))
        with people.read() as s:
            scored = search.scored_candidates(s, probe, rt=people)
            assert scored[0].record.identifier == "A2"
            assert all(scored[0].score.total > other.score.total for other in scored[1:])
