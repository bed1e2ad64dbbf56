"""Parsing and mapping of ITI-8 / ITI-9 messages to commands (no sockets, no database)."""

from __future__ import annotations

import pytest

from api.mllp import hl7v2
from api.mllp.hl7v2 import MessageError, QueryError, split, unescape
from empi.commands import UNSET, FeedEvent, RecordKey
from empi.config import DomainRegistry
from empi.errors import InvalidInput, MalformedAuthority, UnknownAuthority
from tests.conftest import nist_settings
from tests.mllp.messages import NIST, NIST2, adt, merge, q23


@pytest.fixture(scope="module")
def registry() -> DomainRegistry:
    return nist_settings().registry


def command(message: str, registry: DomainRegistry) -> hl7v2.RegisterSourceRecord:
    return hl7v2.register_command(split(message.encode()), registry)


class TestSplit:
    def test_header_when_standard(self) -> None:
        msg = split(adt(control_id=" SP1").encode())
        assert (msg.message_type, msg.trigger, msg.structure) == ("ADT", "A04", "ADT_A01")
        assert msg.control_id == " SP1"  # verbatim, leading space kept
        assert msg.version == "2.3.1"
        assert msg.sender == ("NIST_SENDER", "NIST")

    def test_newline_separators_when_lf_or_crlf(self) -> None:
        for sep in ("\n", "\r\n"):
            msg = split(adt().replace("\r", sep).encode())
            assert [s[:3] for s in msg.segments] == ["MSH", "EVN", "PID", "PV1"]

    def test_two_component_msh9(self) -> None:
        msg = split(q23(f"X^^^{NIST}", msh9="QBP^Q23").encode())
        assert (msg.message_type, msg.trigger, msg.structure) == ("QBP", "Q23", "")

    @pytest.mark.parametrize("raw", [b"", b"hello", b"PID|||1", b"MSH", b"MSH|^~|x", b"MSHa^~\\&|"])
    def test_rejects_when_not_hl7(self, raw: bytes) -> None:
        with pytest.raises(MessageError):
            split(raw)

    def test_latin1_payload_is_decoded(self, registry: DomainRegistry) -> None:
        cmd = hl7v2.register_command(split(adt(name="CÔTÉ^ÉLISE").encode("latin-1")), registry)
        assert cmd.demographics.names[0].family == "CÔTÉ"

    def test_custom_encoding_characters(self, registry: DomainRegistry) -> None:
        text = adt().replace("^~\\&", "#*!$").replace("^", "#").replace("NIST2010&2", "NIST2010$2")
        text = text.replace("&ISO", "$ISO")
        cmd = command(text, registry)
        assert cmd.key == RecordKey("T-1", "NIST2010")
        assert cmd.demographics.names[0].given == "TINA"


class TestEscapes:
    def test_unescape_all_separators(self) -> None:
        assert unescape("A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\F") == "A|B^C&D~E\\F"

    def test_unescape_hex_and_formatting(self) -> None:
        assert unescape("\\X41\\B\\H\\C\\N\\") == "ABC"

    def test_values_decoded_in_commands(self, registry: DomainRegistry) -> None:
        cmd = command(adt(pid3=f"A\\S\\1^^^{NIST}", name="O\\T\\NEIL^JO\\F\\E"), registry)
        assert cmd.key.identifier == "A^1"
        assert (cmd.demographics.names[0].family, cmd.demographics.names[0].given) == ("O&NEIL", "JO|E")


class TestDemographics:
    def test_fields_mapped(self, registry: DomainRegistry) -> None:
        text = adt(name="TESTER^TINA^Q^JR^DR^^L~TESTY^T^^^^^A", ssn="123-45-6789",
                   extra_pid="|||||||||||Y").replace("||19800102", "|MAIDEN^M^^^^^M|19800102")
        text = text.replace("|||1 Test Road", "|||1 Test Road^Apt 2^^^^^H~PO Box 9^^TESTVILLE^ON^K0K0K0^CAN^M").replace(
            "|^PRN^PH^^^555^5550100||", "|^PRN^PH^^^555^5550100|(555)555-0199|").replace("||123-45", "|ACCT-1^^^X|123-45")
        cmd = command(text, registry)
        d = cmd.demographics
        assert [(n.family, n.given, n.middle, n.suffix, n.prefix, n.use) for n in d.names] == [
            ("TESTER", "TINA", "Q", "JR", "DR", "L"), ("TESTY", "T", None, None, None, "A")]
        assert d.birth_date == "1980-01-02"
        assert d.sex == "F"
        assert d.mothers_maiden_name == "MAIDEN"
        assert [(a.line1, a.line2, a.city, a.country, a.use) for a in d.addresses] == [
            ("1 Test Road", "Apt 2", None, None, "H"), ("PO Box 9", None, "TESTVILLE", "CAN", "M")]
        assert d.phones == ["5555550100", "(555)555-0199"]
        assert d.account_number == "ACCT-1"
        assert d.ssn == "123-45-6789"
        assert d.is_deceased is True
        assert cmd.event is FeedEvent.CREATE
        assert cmd.source == "NIST_SENDER|NIST"

    def test_update_event_when_a08(self, registry: DomainRegistry) -> None:
        assert command(adt("A08"), registry).event is FeedEvent.UPDATE

    def test_absent_fields_unset_and_explicit_null_deletes(self, registry: DomainRegistry) -> None:
        cmd = command(adt(sex='""', address='""', dob="", phone="", ssn='""'), registry)
        d = cmd.demographics
        assert d.sex is None and d.ssn is None
        assert d.addresses == []
        assert d.birth_date is UNSET and d.phones is UNSET and d.mothers_maiden_name is UNSET
        assert d.health_card is UNSET

    @pytest.mark.parametrize(("raw", "iso"), [("1980", "1980"), ("198002", "1980-02"), ("19800229", "1980-02-29"),
                                              ("198002291230", "1980-02-29"), ("20000101000000.123-0500", "2000-01-01")])
    def test_partial_and_full_dates(self, raw: str, iso: str) -> None:
        assert hl7v2.parse_hl7_date(raw, field="PID-7") == iso

    @pytest.mark.parametrize("raw", ["19810229", "1980-01-02", "abc", "19801301", "198"])
    def test_bad_dates_rejected(self, raw: str) -> None:
        with pytest.raises(InvalidInput) as info:
            hl7v2.parse_hl7_date(raw, field="PID-7")
        assert info.value.field == "PID-7"


class TestIdentifiers:
    def test_missing_cx4_filled_from_sender_when_one_domain(self) -> None:
        registry = nist_settings().registry
        cmd = command(adt(pid3="H-1", sender="HIS|HOSPA"), registry)
        assert cmd.key == RecordKey("H-1", "HOSPA")

    def test_missing_cx4_rejected_when_sender_feeds_several(self, registry: DomainRegistry) -> None:
        with pytest.raises(UnknownAuthority) as info:
            command(adt(pid3="H-1"), registry)
        assert (info.value.field, info.value.index) == ("PID-3.4", 0)

    def test_namespace_only_and_oid_only_resolve(self, registry: DomainRegistry) -> None:
        assert command(adt(pid3="A^^^NIST2010-2"), registry).key == RecordKey("A", "NIST2010-2")
        assert command(adt(pid3="A^^^&2.16.840.1.113883.3.72.5.9.3&ISO"), registry).key == RecordKey("A", "NIST2010-3")

    def test_malformed_authority_rejected(self, registry: DomainRegistry) -> None:
        with pytest.raises(MalformedAuthority):
            command(adt(pid3="A^^^&&ISO"), registry)
        with pytest.raises(MalformedAuthority):
            command(adt(pid3=f"A^^^{NIST}~B^^^&2.16.840.1.113883.3.72.5.9.1"), registry)

    def test_unknown_authority_reports_repetition(self, registry: DomainRegistry) -> None:
        with pytest.raises(UnknownAuthority) as info:
            command(adt(pid3="A^^^NOPE~B^^^ALSO_NOPE"), registry)
        assert (info.value.field, info.value.index) == ("PID-3.4", 0)

    def test_first_resolving_repetition_is_key_and_others_kept(self, registry: DomainRegistry) -> None:
        cmd = command(adt(pid3=f"S-1^^^SSA^SS~A-1^^^{NIST2}~B-1^^^{NIST}^PI"), registry)
        assert cmd.key == RecordKey("A-1", "NIST2010-2")
        others = [(o.value, o.domain, o.type, o.authority) for o in cmd.demographics.other_identifiers]
        assert others == [("S-1", None, "SS", "SSA"), ("B-1", "NIST2010", "PI", None)]

    def test_health_card_repetition_fills_health_card(self, registry: DomainRegistry) -> None:
        cmd = command(adt(pid3=f"1234567890^^^ONHCN^JHN~A-1^^^{NIST}"), registry)
        assert cmd.key == RecordKey("A-1", "NIST2010")
        assert cmd.demographics.health_card == "1234567890"

    def test_jhn_without_authority_and_pid2(self, registry: DomainRegistry) -> None:
        assert command(adt(pid3=f"9876543210^^^^JHN~A-1^^^{NIST}"), registry).demographics.health_card == "9876543210"
        assert command(adt(pid2="1112223333^^^ONHCN"), registry).demographics.health_card == "1112223333"

    def test_health_card_only_record_keyed_by_health_card(self, registry: DomainRegistry) -> None:
        cmd = command(adt(pid3="1234567890^^^ONHCN^JHN"), registry)
        assert cmd.key == RecordKey("1234567890", "ONHCN")

    def test_missing_pid3(self, registry: DomainRegistry) -> None:
        with pytest.raises(InvalidInput):
            command(adt(pid3=""), registry)

    def test_merge_command(self, registry: DomainRegistry) -> None:
        cmd = hl7v2.merge_command(split(merge().encode()), registry)
        assert cmd.surviving == RecordKey("T-2", "NIST2010")
        assert cmd.subsumed == RecordKey("T-1", "NIST2010")

    def test_merge_without_mrg(self, registry: DomainRegistry) -> None:
        with pytest.raises(InvalidInput):
            hl7v2.merge_command(split(merge().rsplit("\r", 1)[0].encode()), registry)


class TestPixQuery:
    def test_domains_resolved_in_any_form(self, registry: DomainRegistry) -> None:
        q = hl7v2.pix_query(split(q23(f"X^^^{NIST}", domains="^^^NIST2010-2~^^^&2.16.840.1.113883.3.72.5.9.3&ISO")
                                  .encode()), registry)
        assert q.key == RecordKey("X", "NIST2010")
        assert q.domains == ("NIST2010-2", "NIST2010-3")

    def test_no_domains_means_all(self, registry: DomainRegistry) -> None:
        assert hl7v2.pix_query(split(q23(f"X^^^{NIST}").encode()), registry).domains is None

    @pytest.mark.parametrize(("pid", "domains", "erl"), [
        ("X^^^NOPE", "", "QPD^1^3^1^4"), ("X", "", "QPD^1^3^1^4"), ("X^^^&&ISO", "", "QPD^1^3^1^4"),
        (f"X^^^{NIST}", "^^^NIST2010-2~^^^NOPE", "QPD^1^4^2"), (f"^^^{NIST}", "", "QPD^1^3^1^1")])
    def test_errors_located(self, registry: DomainRegistry, pid: str, domains: str, erl: str) -> None:
        with pytest.raises(QueryError) as info:
            hl7v2.pix_query(split(q23(pid, domains=domains).encode()), registry)
        assert info.value.location.erl() == erl

    def test_rsp_echoes_raw_qpd_and_escapes_ids(self, registry: DomainRegistry) -> None:
        from empi.commands import CrossReference, CrossReferences

        msg = split(q23(f"A\\F\\B^^^{NIST}", tag="T\\S\\1").encode())
        result = CrossReferences(1, "R1", [CrossReference("X|Y", "NIST2010-2", 2)])
        text = hl7v2.rsp_k23(msg, application="EMPI", facility="EMPI", registry=registry, result=result)
        segs = text.split("\r")
        assert segs[2] == "QAK|T\\S\\1|OK"
        assert segs[3] == f"QPD|IHE PIX Query|T\\S\\1|A\\F\\B^^^{NIST}|"
        assert segs[4] == f"PID|||X\\F\\Y^^^{NIST2}||~^^^^^^S"
