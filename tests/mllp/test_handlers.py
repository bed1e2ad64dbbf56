"""``process(rt, raw)``: dispatch, units of work and error replies, without sockets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.orm import Session

from api.mllp import handlers
from api.mllp.handlers import process
from empi import patients, xref
from empi.commands import RecordKey
from empi.runtime import Runtime
from tests.mllp.messages import NIST, NIST2, adt, merge, q23
from tests.mllp.support import Hl7, count_records, stored


def send(rt: Runtime, message: str) -> Hl7:
    return Hl7.of(process(rt, message.encode()))


class TestFeeds:
    def test_aa_and_stored_when_valid(self, rt: Runtime) -> None:
        r = send(rt, adt(control_id="C1"))
        assert (r.msa1, r.get("MSA", 2), r.get("MSH", 9)) == ("AA", "C1", "ACK^A04^ACK")
        record = stored(rt, "T-1", "NIST2010")
        assert record is not None and record.family_name == "TESTER" and record.birth_date == "1980-01-02"

    @pytest.mark.parametrize("trigger", ["A01", "A04", "A05", "A08"])
    def test_each_feed_trigger_upserts(self, rt: Runtime, trigger: str) -> None:
        assert send(rt, adt(trigger)).msa1 == "AA"
        assert send(rt, adt(trigger, name="TESTER^TANYA")).msa1 == "AA"
        record = stored(rt, "T-1", "NIST2010")
        assert record is not None and record.given_name == "TANYA"
        assert count_records(rt) == 1

    def test_explicit_null_deletes_and_absent_keeps(self, rt: Runtime) -> None:
        assert send(rt, adt(ssn="111-22-3333")).msa1 == "AA"
        assert send(rt, adt("A08", sex='""', address="", ssn="", phone='""')).msa1 == "AA"
        record = stored(rt, "T-1", "NIST2010")
        assert record is not None
        assert record.sex is None and record.phone is None and record.phones == []
        assert record.address_line == "1 Test Road" and record.ssn == "111-22-3333"

    def test_bad_birth_date_is_ae_102_at_pid7(self, rt: Runtime) -> None:
        r = send(rt, adt(dob="19811341"))
        assert r.msa1 == "AE"
        assert r.errors() == [("PID^1^7", "102", "E")]
        assert count_records(rt) == 0

    def test_unknown_authority_is_ae_204_at_repetition(self, rt: Runtime) -> None:
        r = send(rt, adt(pid3="A^^^NOPE~B^^^NOPE2"))
        assert r.msa1 == "AE" and r.errors() == [("PID^1^3^1^4", "204", "E")]
        assert r.get("ERR", 1) == "PID^1^3^204&Unknown key identifier&HL70357"
        assert count_records(rt) == 0

    def test_missing_pid_is_ae(self, rt: Runtime) -> None:
        r = send(rt, adt().replace("\rPID", "\rZZZ"))
        assert r.msa1 == "AE"

    def test_extra_segments_tolerated(self, rt: Runtime) -> None:
        r = send(rt, adt(segments="PD1|||CLINIC\rNK1|1|DOE^JO|SPO\rZPI|x|y", version="2.5",
                         sender="NIST_SENDER|NIST").replace("\rEVN", "\rSFT|V|1|P|1\rEVN"))
        assert r.msa1 == "AA"

    def test_merge_then_old_id_unknown(self, rt: Runtime) -> None:
        assert send(rt, adt(control_id="1")).msa1 == "AA"
        assert send(rt, adt(control_id="2", pid3=f"T-2^^^{NIST}", name="TESTER^TINA")).msa1 == "AA"
        r = send(rt, merge())
        assert (r.msa1, r.get("MSH", 9)) == ("AA", "ACK^A40^ACK")
        r = send(rt, q23(f"T-1^^^{NIST}"))
        assert r.msa1 == "AE" and r.errors()[0][:2] == ("QPD^1^3^1^1", "204")

    def test_merge_unknown_subsumed_is_ae_204_at_mrg1(self, rt: Runtime) -> None:
        assert send(rt, adt(pid3=f"T-2^^^{NIST}")).msa1 == "AA"
        r = send(rt, merge(subsumed=f"NOPE-1^^^{NIST}"))
        assert r.msa1 == "AE" and r.errors()[0][:2] == ("MRG^1^1^1^1", "204")

    def test_merge_across_domains_is_ae(self, rt: Runtime) -> None:
        assert send(rt, adt(pid3=f"T-2^^^{NIST}")).msa1 == "AA"
        assert send(rt, adt(pid3=f"T-1^^^{NIST2}")).msa1 == "AA"
        r = send(rt, merge(subsumed=f"T-1^^^{NIST2}"))
        assert r.msa1 == "AE" and r.errors()


class TestRouting:
    def test_unknown_type_is_ar_200(self, rt: Runtime) -> None:
        r = send(rt, adt().replace("ADT^A04", "XYZ^A04"))
        assert r.msa1 == "AR" and r.errors() == [("MSH^1^9^1^1", "200", "E")]
        assert r.get("MSH", 9) == "ACK^A04^ACK"

    def test_unknown_trigger_is_ar_201(self, rt: Runtime) -> None:
        r = send(rt, adt("A99"))
        assert r.msa1 == "AR" and r.errors() == [("MSH^1^9^1^2", "201", "E")]

    @pytest.mark.parametrize("raw", [b"", b"garbage", b"PID|||x", b"\xff\xfe\x00MSH"])
    def test_unparsable_is_ar(self, rt: Runtime, raw: bytes) -> None:
        r = Hl7.of(process(rt, raw))
        assert r.msa1 == "AR" and r.get("MSA", 2) == "" and r.errors()

    def test_registered_handler_is_dispatched(self, rt: Runtime) -> None:
        table = dict(handlers.HANDLERS)
        table[("ADT", "A31")] = handlers.FEED
        r = Hl7.of(process(rt, adt("A31").encode(), table))
        assert r.msa1 == "AA" and r.get("MSH", 9) == "ACK^A31^ACK"


class TestFailures:
    def test_internal_error_is_ar_207_never_a_traceback(self, rt: Runtime, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
        def boom(*a: Any, **k: Any) -> None:
            raise RuntimeError("TESTER 1980-01-02 secret")

        monkeypatch.setattr(patients, "register", boom)
        r = send(rt, adt(control_id="C9"))
        assert (r.msa1, r.get("MSA", 2)) == ("AR", "C9")
        assert r.errors()[0][1] == "207"
        assert "secret" not in r.raw and "Traceback" not in r.raw
        assert "TESTER" not in caplog.text and "secret" not in caplog.text

    def test_query_internal_error_is_rsp_ar(self, rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(xref, "cross_references", lambda *a, **k: 1 / 0)
        r = send(rt, q23(f"T-1^^^{NIST}"))
        assert r.get("MSH", 9) == "RSP^K23^RSP_K23"
        assert (r.msa1, r.qak2) == ("AR", "AR") and r.errors()[0][1] == "207"

    def test_no_aa_when_commit_fails(self, rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        original = rt.write

        @contextmanager
        def failing_write() -> Iterator[Session]:
            with original() as session:
                yield session
                raise OSError("disk full at commit")

        monkeypatch.setattr(rt, "write", failing_write)
        r = send(rt, adt())
        assert r.msa1 == "AR" and r.errors()[0][1] == "207"
        assert count_records(rt) == 0

    def test_logs_control_id_type_outcome_without_phi(self, rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level("INFO", logger="api.mllp")
        send(rt, adt(control_id="LOG1", ssn="999-88-7777"))
        send(rt, adt(control_id="LOG2", pid3="X^^^NOPE"))
        assert "control_id=LOG1 type=ADT^A04 outcome=AA" in caplog.text
        assert "control_id=LOG2 type=ADT^A04 outcome=AE/204" in caplog.text
        for phi in ("TESTER", "TINA", "1980", "999-88-7777", "T-1", "Test Road", "NOPE"):
            assert phi not in caplog.text


class TestQueries:
    def test_found_not_found_and_queried_id_excluded(self, rt: Runtime) -> None:
        assert send(rt, adt(control_id="1")).msa1 == "AA"
        r = send(rt, q23(f"T-1^^^{NIST}"))
        assert (r.msa1, r.qak2) == ("AA", "NF") and "PID" not in r.names
        assert send(rt, adt(control_id="2", pid3=f"T-9^^^{NIST2}")).msa1 == "AA"
        r = send(rt, q23(f"T-1^^^{NIST}"))
        assert (r.msa1, r.qak2) == ("AA", "OK")
        assert r.get("PID", 3) == f"T-9^^^{NIST2}"
        with rt.read() as session:
            refs = xref.cross_references(session, RecordKey("T-9", "NIST2010-2"), rt=rt)
        assert [(x.identifier, x.domain) for x in refs.identifiers] == [("T-1", "NIST2010")]

    def test_regional_id_published_only_when_switched_on(self, make_runtime: Any) -> None:
        from dataclasses import replace

        from tests.conftest import nist_settings

        rt = make_runtime(replace(nist_settings(), publish_regional_id=True))
        assert send(rt, adt()).msa1 == "AA"
        r = send(rt, q23(f"T-1^^^{NIST}"))
        assert r.qak2 == "OK" and r.pid3()[0].endswith("@EMPI")
