"""ITI-10 delivery: send queued ``outbox_message`` rows to PIX Consumers over MLLP, with back-off.

The outbox (filled by :mod:`empi.notify` inside the writing transaction) is the only state, so a
restart resumes where it stopped. Each consumer's messages go out strictly in queue order: when the
oldest one fails, the consumer's later messages wait for it (a consumer must not see an old identifier
set after a newer one). A message is delivered when the consumer answers ``AA`` (or ``CA``); anything
else (no connection, timeout, ``AE``/``AR``) schedules a retry after ``base_delay * 2**attempts``
seconds, capped at ``max_delay``; after ``max_attempts`` the row is marked ``failed`` (visible with
``empi outbox list``; ``empi outbox retry`` queues it again). Delivery is at-least-once.

No network I/O happens inside a database transaction: a short read picks the message, a short write
records the outcome.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from empi import audit
from empi.config import Consumer
from empi.models import OutboxMessage, utcnow
from empi.notify import KIND, PENDING, pid3_of
from empi.runtime import Runtime

log = logging.getLogger("empi.mllp.notify")

START, END = b"\x0b", b"\x1c\x0d"
MAX_REPLY = 1_048_576


class DeliveryError(Exception):
    """The consumer could not be reached or did not accept the message (text holds no PHI)."""


def _open(consumer: Consumer, timeout: float) -> socket.socket:
    sock = socket.create_connection((consumer.host, consumer.port), timeout=timeout)
    if not consumer.tls:
        return sock
    context = ssl.create_default_context(cafile=consumer.ca_file or None)
    return context.wrap_socket(sock, server_hostname=consumer.host)


def _read_frame(sock: socket.socket) -> bytes:
    buf = b""
    while END not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise DeliveryError("the consumer closed the connection without a reply")
        buf += chunk
        if len(buf) > MAX_REPLY:
            raise DeliveryError("the consumer's reply is too large")
    start = buf.find(START)
    if start < 0:
        raise DeliveryError("the consumer's reply is not MLLP-framed")
    return buf[start + 1:buf.index(END, start)]


def ack_code(reply: bytes) -> str:
    """MSA-1 of an HL7 ACK ('' when there is no MSA segment)."""
    text = reply.decode("utf-8", errors="replace").replace("\r\n", "\r").replace("\n", "\r")
    for segment in text.split("\r"):
        if segment.startswith("MSA"):
            sep = segment[3:4] or "|"
            fields = segment.split(sep)
            return fields[1].strip().upper() if len(fields) > 1 else ""
    return ""


def send(consumer: Consumer, payload: str, *, timeout: float = 10.0) -> str:
    """Send one message and return the consumer's acknowledgment code."""
    try:
        with _open(consumer, timeout) as sock:
            sock.sendall(START + payload.encode("utf-8") + END)
            return ack_code(_read_frame(sock))
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError)
                            else type(exc).__name__) from None


def aware(at: datetime) -> datetime:
    """SQLite hands timestamps back without their (UTC) zone."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _audit_ids(payload: str) -> list[str]:
    out = []
    for rep in (pid3_of(payload) or "").split("~"):
        value, _, rest = rep.partition("^^^")
        _ns, _, authority = rest.partition("&")
        if value:
            out.append(f"{value}^^^&{authority}")
    return out


@dataclass
class OutboxWorker:
    """Delivers pending notifications; ``start()`` runs it in a daemon thread, ``run_once()`` in-line."""

    rt: Runtime
    poll_interval: float = 2.0
    base_delay: float = 2.0
    max_delay: float = 600.0
    max_attempts: int = 50
    timeout: float = 10.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> OutboxWorker:
        self._thread = threading.Thread(target=self._loop, name="iti10-outbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        PENDING.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            PENDING.clear()
            try:
                self.run_once()
            except Exception:  # the worker's outermost loop: log and keep going
                log.exception("ITI-10 outbox: delivery round failed")
            PENDING.wait(self.poll_interval)

    def run_once(self) -> int:
        """Deliver every message that is due; returns how many were delivered."""
        delivered = 0
        for consumer in self.rt.settings.consumers:
            while not self._stop.is_set():
                outcome = self._deliver_head(consumer)
                if outcome is not True:
                    break
                delivered += 1
        return delivered

    def _deliver_head(self, consumer: Consumer) -> bool | None:
        """True delivered, False failed (the consumer waits), None nothing due."""
        with self.rt.read() as session:
            head = session.scalars(select(OutboxMessage)
                                   .where(OutboxMessage.consumer == consumer.name, OutboxMessage.kind == KIND,
                                          OutboxMessage.status == "pending")
                                   .order_by(OutboxMessage.id).limit(1)).first()
            if head is None or aware(head.next_attempt_at) > utcnow():
                return None
            row_id, payload = head.id, head.payload
        error = None
        try:
            code = send(consumer, payload, timeout=self.timeout)
            if code not in ("AA", "CA"):
                error = f"the consumer answered {code or 'without an MSA segment'}"
        except DeliveryError as exc:
            error = str(exc)
        self._record(row_id, consumer, error)
        log.info("ITI-10 outbox message %s to %s: %s", row_id, consumer.name, "delivered" if error is None
                 else "failed")
        return error is None

    def _record(self, row_id: int, consumer: Consumer, error: str | None) -> None:
        with self.rt.write() as session:
            row = session.get(OutboxMessage, row_id)
            if row is None or row.status != "pending":
                return
            now = utcnow()
            row.attempts += 1
            if error is None:
                row.status, row.delivered_at, row.last_error = "delivered", now, None
            else:
                row.last_error = error[:1000]
                delay = min(self.max_delay, self.base_delay * 2 ** (row.attempts - 1))
                row.next_attempt_at = now + timedelta(seconds=delay)
                if self.max_attempts and row.attempts >= self.max_attempts:
                    row.status = "failed"
            if error is None or row.status == "failed":
                audit.record(session, event_type="ITI-10", action="R", actor=self.rt.settings.application,
                             outcome=audit.OUTCOME_SUCCESS if error is None else audit.OUTCOME_MAJOR,
                             source_address=f"{consumer.host}:{consumer.port}",
                             patient_ids=_audit_ids(row.payload), person_id=row.person_id,
                             detail={"consumer": consumer.name, "outbox_id": row.id, "attempts": row.attempts})


def start_worker(rt: Runtime) -> OutboxWorker | None:
    """Start the delivery thread when consumers are configured (``empi serve``)."""
    return OutboxWorker(rt).start() if rt.settings.consumers else None
