"""RFC 5424 syslog copies of audit events (IHE ATNA style), sent over UDP (RFC 5426) to a collector.

Configured with ``[service] audit_syslog = "host:port"``. :func:`install` appends a sink to
``empi.audit.SINKS``; the sink renders each stored event as a DICOM-style ``AuditMessage`` (the
ATNA payload) when it is recorded, and sends it only after the recording transaction commits, so a
rolled-back change is never reported. Sending never fails the transaction: network errors are logged
(without content) and dropped; the database table remains the record of truth.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from empi import audit
from empi.config import ConfigError
from empi.models import AuditEvent

log = logging.getLogger("empi.syslog")

FACILITY_AUTHPRIV = 10
SEVERITY_NOTICE = 5
MSGID = "IHE+RFC-3881"
MAX_DATAGRAM = 65000

# DICOM event IDs: a query (action E) is 110112 Query; every other event is 110110 Patient Record.
_EVENT_ID = {"E": ("110112", "Query")}
_DEFAULT_EVENT = ("110110", "Patient Record")


def parse_target(value: str) -> tuple[str, int]:
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError([f"audit_syslog must be 'host:port', not {value!r}"])
    return host.strip("[]"), int(port)


def _ts(at: datetime | None) -> str:
    at = at or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def audit_message(ev: AuditEvent, *, source: str) -> str:
    """The ATNA (DICOM PS3.15 A.5) AuditMessage for one audit event."""
    code, name = _EVENT_ID.get(ev.action, _DEFAULT_EVENT)
    parts = [
        "<AuditMessage>",
        (f'<EventIdentification EventActionCode={quoteattr(ev.action)} EventDateTime="{_ts(ev.at)}" '
        f'EventOutcomeIndicator="{ev.outcome}">'),
        f'<EventID csd-code="{code}" codeSystemName="DCM" originalText="{name}"/>',
        (f'<EventTypeCode csd-code={quoteattr(ev.event_type)} codeSystemName="IHE Transactions" '
        f"originalText={quoteattr(ev.event_type)}/>"),
        "</EventIdentification>",
        f"<ActiveParticipant UserID={quoteattr(ev.actor)} UserIsRequestor=\"true\""
        + (f' NetworkAccessPointID={quoteattr(ev.source_address)} NetworkAccessPointTypeCode="2"'
           if ev.source_address else "") + "/>",
        f"<AuditSourceIdentification AuditSourceID={quoteattr(source)}/>",
    ]
    for pid in ev.patient_ids or []:
        parts.append(f'<ParticipantObjectIdentification ParticipantObjectID={quoteattr(str(pid))} '
                     'ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1">'
                     '<ParticipantObjectIDTypeCode csd-code="2" codeSystemName="RFC-3881" '
                     'originalText="Patient Number"/></ParticipantObjectIdentification>')
    if ev.query:
        import base64

        parts.append('<ParticipantObjectIdentification ParticipantObjectTypeCode="2" '
                     'ParticipantObjectTypeCodeRole="24">'
                     f'<ParticipantObjectIDTypeCode csd-code={quoteattr(ev.event_type)} codeSystemName="IHE Transactions" '
                     f'originalText={quoteattr(ev.event_type)}/>'
                     f"<ParticipantObjectQuery>{escape(base64.b64encode(ev.query.encode()).decode())}"
                     "</ParticipantObjectQuery></ParticipantObjectIdentification>")
    parts.append("</AuditMessage>")
    return "".join(parts)


def frame(ev: AuditEvent, *, app: str, hostname: str) -> bytes:
    """``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - BOM MSG`` (RFC 5424 section 6)."""
    pri = FACILITY_AUTHPRIV * 8 + SEVERITY_NOTICE
    header = f"<{pri}>1 {_ts(ev.at)} {hostname or '-'} {app or '-'} - {MSGID} -"
    return header.encode("ascii", errors="replace") + b" \xef\xbb\xbf" + audit_message(ev, source=app).encode()


class SyslogSink:
    """An ``empi.audit.SINKS`` entry sending to one UDP collector after each commit."""

    def __init__(self, host: str, port: int, *, app: str = "EMPI") -> None:
        self.target = (host, port)
        self.app = app.replace(" ", "_")[:48]
        self.hostname = socket.gethostname().split(".")[0][:255]
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._lock = threading.Lock()

    def __call__(self, session: Session, ev: AuditEvent) -> None:
        data = frame(ev, app=self.app, hostname=self.hostname)[:MAX_DATAGRAM]

        def after_commit(_session: Session) -> None:
            self.send(data)

        sa_event.listen(session, "after_commit", after_commit, once=True)

    def send(self, data: bytes) -> None:
        try:
            with self._lock:
                self._sock.sendto(data, self.target)
        except OSError as exc:
            log.warning("audit syslog: could not send to the collector (%s)", type(exc).__name__)

    def close(self) -> None:
        if self in audit.SINKS:
            audit.SINKS.remove(self)
        self._sock.close()


def install(target: str, *, app: str = "EMPI") -> SyslogSink:
    """Append a sink for ``host:port`` to ``empi.audit.SINKS`` (once per target and application)."""
    host, port = parse_target(target)
    for sink in audit.SINKS:
        if isinstance(sink, SyslogSink) and sink.target == (host, port) and sink.app == app.replace(" ", "_")[:48]:
            return sink
    sink = SyslogSink(host, port, app=app)
    audit.SINKS.append(sink)
    return sink
