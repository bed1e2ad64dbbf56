"""PIX update notifications (ITI-10): fill the durable outbox when persons' cross-references change.

:func:`on_change` is a runtime change listener. It runs inside the writing transaction, so a
notification is stored exactly when the change is committed. For each configured consumer and each
changed person it writes one ``outbox_message`` row holding an ``ADT^A31^ADT_A05`` v2.5 text
[ITI TF-2 3.10]: MSH, EVN, PID (PID-3 every identifier of the person in the consumer's domains of
interest, fully qualified, same-domain identifiers consecutive; PID-5 a single space) and PV1
(PV1-2 ``N``). A notification identical to the last one queued for that consumer and person is not
queued again. The delivery worker (``api.mllp.notify``) sends the rows.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from empi.config import Consumer, Domain
from empi.models import OutboxMessage, Person, utcnow
from empi.xref import person_identifiers

if TYPE_CHECKING:
    from empi.runtime import Runtime

KIND = "ITI-10"
_DEDUP_WINDOW = 200

# Set after a transaction that queued notifications commits; the delivery worker waits on it.
PENDING = threading.Event()

_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def _esc(value: str) -> str:
    for char, seq in _ESCAPES:
        value = value.replace(char, seq)
    return value


def _cx(identifier: str, domain: Domain) -> str:
    return (f"{_esc(identifier)}^^^{_esc(domain.namespace)}&{_esc(domain.universal_id)}"
            f"&{_esc(domain.universal_id_type)}")


def _wanted(consumer: Consumer, namespace: str) -> bool:
    return not consumer.domains or namespace.upper() in {d.upper() for d in consumer.domains}


def identifier_list(session: Session, person_id: int, consumer: Consumer, *, rt: Runtime) -> str:
    """PID-3 for the consumer: the person's identifiers in its domains, grouped by domain."""
    reps: list[str] = []
    for ref in person_identifiers(session, person_id):  # ordered by domain, then identifier
        domain = rt.registry.get(ref.domain)
        if domain is not None and _wanted(consumer, domain.namespace):
            reps.append(_cx(ref.identifier, domain))
    regional = rt.registry.regional
    if rt.settings.publish_regional_id and regional is not None and _wanted(consumer, regional.namespace):
        person = session.get(Person, person_id)
        if person is not None and person.is_active and person.regional_id:
            reps.append(_cx(person.regional_id, regional))
    return "~".join(reps)


def _ts(at: datetime) -> str:
    return at.strftime("%Y%m%d%H%M%S") + "+0000"


def build_a31(*, pid3: str, control_id: str, at: datetime, consumer: Consumer, rt: Runtime) -> str:
    """The ITI-10 message text, segments separated by carriage returns."""
    s = rt.settings
    ts = _ts(at)
    # MSH-5/MSH-6 are required (TF-2 C.2.2): the consumer's configured names, else its name.
    msh = (f"MSH|^~\\&|{_esc(s.application)}|{_esc(s.facility)}|{_esc(consumer.application or consumer.name)}|"
           f"{_esc(consumer.facility or consumer.name)}|{ts}||ADT^A31^ADT_A05|{control_id}|P|2.5")
    return "\r".join((msh, f"EVN||{ts}", f"PID|||{pid3}|| ", "PV1||N")) + "\r"


def _already_sent(session: Session, consumer: str, person_id: int, pid3: str) -> bool:
    """True when the consumer's latest word on every one of these identifiers is this very set.

    The last message for the person must carry the same set, and no later message (about another
    person, after a merge or a move) may mention any of its identifiers. Past ``_DEDUP_WINDOW`` later
    messages, the set is simply sent again.
    """
    last = session.execute(select(OutboxMessage.id, OutboxMessage.payload)
                           .where(OutboxMessage.consumer == consumer, OutboxMessage.kind == KIND,
                                  OutboxMessage.person_id == person_id)
                           .order_by(OutboxMessage.id.desc()).limit(1)).first()
    if last is None or pid3_of(last.payload) != pid3:
        return False
    later = session.scalars(select(OutboxMessage.payload)
                            .where(OutboxMessage.consumer == consumer, OutboxMessage.kind == KIND,
                                   OutboxMessage.id > last.id)
                            .limit(_DEDUP_WINDOW + 1)).all()
    if len(later) > _DEDUP_WINDOW:
        return False
    mine = set(pid3.split("~"))
    return not any(mine & set((pid3_of(p) or "").split("~")) for p in later)


def pid3_of(payload: str) -> str | None:
    for segment in payload.split("\r"):
        if segment.startswith("PID|"):
            fields = segment.split("|")
            return fields[3] if len(fields) > 3 else ""
    return None


def queue(session: Session, rt: Runtime, person_ids: Sequence[int]) -> list[OutboxMessage]:
    """Queue one notification per interested consumer and changed person; returns the new rows."""
    rows: list[OutboxMessage] = []
    for consumer in rt.settings.consumers:
        for person_id in person_ids:
            pid3 = identifier_list(session, person_id, consumer, rt=rt)
            if not pid3 or _already_sent(session, consumer.name, person_id, pid3):
                continue  # nothing in its domains, or the same set it already has
            at = utcnow()
            row = OutboxMessage(consumer=consumer.name, kind=KIND, person_id=person_id, payload="",
                                status="pending", attempts=0, next_attempt_at=at, created_at=at)
            session.add(row)
            session.flush()
            row.payload = build_a31(pid3=pid3, control_id=f"{rt.settings.application}-N{row.id}", at=at,
                                    consumer=consumer, rt=rt)
            rows.append(row)
    return rows


def _wake(_session: Session) -> None:
    PENDING.set()


def on_change(session: Session, rt: Runtime, person_ids: Sequence[int]) -> None:
    """Runtime change listener (see ``Runtime.listeners``)."""
    if queue(session, rt, person_ids):
        event.listen(session, "after_commit", _wake, once=True)
