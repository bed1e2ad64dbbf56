"""RFC 5424 audit copies (empi.syslog) received by a local UDP socket, as an ATNA collector would."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator

import pytest

from api.mllp import handlers
from empi import audit
from empi.config import ConfigError
from empi.runtime import Runtime
from empi.syslog import SyslogSink, parse_target


@pytest.fixture
def collector() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    yield sock
    sock.close()
    for sink in [s for s in audit.SINKS if isinstance(s, SyslogSink)]:
        sink.close()


def receive(sock: socket.socket) -> tuple[str, ET.Element]:
    data, _ = sock.recvfrom(65535)
    header, bom, body = data.partition(b" \xef\xbb\xbf")
    assert bom, data[:80]
    return header.decode("ascii"), ET.fromstring(body.decode("utf-8"))


def test_an_event_is_sent_after_commit_in_rfc5424_with_an_atna_message(
        make_runtime: Callable[..., Runtime], collector: socket.socket) -> None:
    rt = make_runtime(audit_syslog=f"127.0.0.1:{collector.getsockname()[1]}")
    with pytest.raises(RuntimeError), rt.write() as s:  # rolled back: never reported
        audit.record(s, event_type="ITI-9", action="E", actor="ROLLED|BACK")
        raise RuntimeError("abort")
    with rt.write() as s:
        audit.record(s, event_type="ITI-9", action="E", actor="PIXC|TEST", source_address="127.0.0.1",
                     patient_ids=["SY-1^^^&2.16.840.1.113883.3.72.5.9.1&ISO"], query="QPD|IHE PIX Query|Q1")
    header, msg = receive(collector)
    pri_version, timestamp, host, app, procid, msgid, sd = header.split(" ")
    assert pri_version == "<85>1"  # authpriv.notice, RFC 5424 version 1
    assert timestamp.endswith("Z") and "T" in timestamp and host and app == "EMPI" and procid == "-"
    assert (msgid, sd) == ("IHE+RFC-3881", "-")
    assert msg.tag == "AuditMessage"
    ident = msg.find("EventIdentification")
    assert ident is not None and ident.get("EventActionCode") == "E" and ident.get("EventOutcomeIndicator") == "0"
    assert msg.find("EventIdentification/EventID").get("csd-code") == "110112"  # type: ignore[union-attr]
    assert msg.find("EventIdentification/EventTypeCode").get("csd-code") == "ITI-9"  # type: ignore[union-attr]
    participant = msg.find("ActiveParticipant")
    assert participant is not None and participant.get("UserID") == "PIXC|TEST"
    objects = msg.findall("ParticipantObjectIdentification")
    assert objects[0].get("ParticipantObjectID") == "SY-1^^^&2.16.840.1.113883.3.72.5.9.1&ISO"
    assert objects[1].get("ParticipantObjectTypeCodeRole") == "24"


def test_an_mllp_transaction_is_reported(make_runtime: Callable[..., Runtime], collector: socket.socket) -> None:
    rt = make_runtime(audit_syslog=f"127.0.0.1:{collector.getsockname()[1]}")
    raw = ("MSH|^~\\&|HIS|HOSPA|EMPI|EMPI|20260101120000||ADT^A28^ADT_A05|S1|P|2.5\rEVN||20260101120000\r"
           "PID|||SY-2^^^HOSPA||SYSLOGGE^ODA||19700101|F\rPV1||N")
    assert b"MSA|AA|S1" in handlers.process(rt, raw.encode())
    _, msg = receive(collector)
    assert msg.find("EventIdentification/EventTypeCode").get("csd-code") == "ITI-30"  # type: ignore[union-attr]
    assert msg.find("EventIdentification").get("EventActionCode") == "C"  # type: ignore[union-attr]


def test_a_bad_target_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError):
        parse_target("collector-without-port")
    assert parse_target("[::1]:514") == ("::1", 514)
