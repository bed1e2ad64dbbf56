"""ACK building blocks and the EmpiError -> ACK table (no sockets, no database)."""

from __future__ import annotations

import pytest

from api.mllp import acks
from api.mllp.acks import Failure, Location, ReplyContext
from empi import errors
from empi.errors import EmpiError


def _subclasses(cls: type[EmpiError]) -> list[type[EmpiError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out += _subclasses(sub)
    return out


class TestErrorTable:
    @pytest.mark.parametrize("kind", _subclasses(EmpiError), ids=lambda k: k.__name__)
    def test_every_error_is_mapped(self, kind: type[EmpiError]) -> None:
        failure = acks.failure_for(kind("x", field="PID-3.4", index=1))
        assert failure.ack_code in {"AE", "AR"}
        assert failure.code in acks.ERROR_TEXT
        assert failure.location == Location("PID", 3, 2, 4)

    def test_specific_codes(self) -> None:
        assert acks.failure_for(errors.UnknownAuthority("x")).code == 204
        assert acks.failure_for(errors.MalformedAuthority("x")).code == 204
        assert acks.failure_for(errors.UnknownIdentifier("x")).code == 204
        assert acks.failure_for(errors.InvalidInput("x")).code == 102

    def test_default_location_when_field_is_not_hl7(self) -> None:
        default = Location("MRG", 1, 1, 1)
        assert acks.failure_for(errors.UnknownIdentifier("x", field="subsumed"), default).location == default


class TestLocation:
    @pytest.mark.parametrize(("loc", "erl"), [
        (Location("MSH", 9, 1, 1), "MSH^1^9^1^1"), (Location("QPD", 4, 2), "QPD^1^4^2"),
        (Location("PID", 7), "PID^1^7"), (Location("PID", 3, None, 4), "PID^1^3^1^4")])
    def test_erl(self, loc: Location, erl: str) -> None:
        assert loc.erl() == erl

    @pytest.mark.parametrize("spec", [None, "", "identifier", "subsumed.domain", "PI-3", "PID-x"])
    def test_unparsable_specs(self, spec: str | None) -> None:
        assert Location.parse(spec) is None


class TestAck:
    ctx = ReplyContext(sending_application="SRC", sending_facility="FAC", control_id=" 42",
                       processing_id="T", version="2.3.1", trigger="A04")

    def test_aa(self) -> None:
        segs = acks.ack(self.ctx, application="EMPI", facility="HOSP").split("\r")
        msh = segs[0].split("|")
        assert msh[1:6] == ["^~\\&", "EMPI", "HOSP", "SRC", "FAC"]
        assert msh[8] == "ACK^A04^ACK" and msh[10] == "T" and msh[11] == "2.3.1"
        assert len(msh[9]) <= 20
        assert segs[1] == "MSA|AA| 42"
        assert segs[2:] == [""]

    def test_ae_fills_err1_for_v231(self) -> None:
        text = acks.ack(self.ctx, application="E", facility="F", ack_code="AE",
                        failures=(Failure("AE", 204, Location("PID", 3, 1, 4)),))
        assert text.split("\r")[2] == ("ERR|PID^1^3^204&Unknown key identifier&HL70357|PID^1^3^1^4|"
                                       "204^Unknown key identifier^HL70357|E")

    def test_err1_empty_for_v25(self) -> None:
        ctx = ReplyContext(control_id="1", version="2.5", trigger="A01")
        text = acks.ack(ctx, application="E", facility="F", ack_code="AR",
                        failures=(Failure("AR", 200, Location("MSH", 9, 1, 1)),))
        assert text.split("\r")[2] == "ERR||MSH^1^9^1^1|200^Unsupported message type^HL70357|E"

    def test_application_is_escaped(self) -> None:
        assert acks.ack(self.ctx, application="A|B", facility="F").split("\r")[0].split("|")[2] == "A\\F\\B"

    def test_control_ids_unique(self) -> None:
        ids = {acks.control_id() for _ in range(10000)}
        assert len(ids) == 10000
