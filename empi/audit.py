"""The audit trail: every query and every change, append-only.

Adapters call :func:`record` inside their unit of work (or in a unit of their own for reads), with
who (``actor``), what (``event_type`` such as ``ITI-9``, ``action`` C/R/U/D/E), which patients
(identifiers as ``value^^^&uid&ISO`` strings, and the person id where known) and the outcome.
Listeners in ``SINKS`` (for example an RFC 5424 syslog sender) get every event as it is stored, with the
session, so they can act once it commits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from empi.models import AuditEvent, utcnow

OUTCOME_SUCCESS = 0
OUTCOME_MINOR = 4  # e.g. an unknown identifier in a query
OUTCOME_SERIOUS = 8  # rejected input
OUTCOME_MAJOR = 12  # internal failure

# A sink gets the writing session (to act after its commit) and the stored event.
SINKS: list[Callable[[Session, AuditEvent], None]] = []

_INSERT = insert(AuditEvent.__table__)  # a constant statement, compiled once


def record(session: Session, *, event_type: str, action: str, actor: str, outcome: int = OUTCOME_SUCCESS,
           actor_type: str = "system", source_address: str | None = None,
           patient_ids: Sequence[str] = (), person_id: int | None = None, query: str | None = None,
           detail: dict[str, Any] | None = None) -> AuditEvent:
    values: dict[str, Any] = {
        "at": utcnow(), "event_type": event_type, "action": action, "actor": actor, "actor_type": actor_type,
        "outcome": outcome, "source_address": source_address, "patient_ids": list(patient_ids),
        "person_id": person_id, "query": query, "detail": detail,
    }
    # a Core insert: the ORM unit of work costs several times more and nothing here needs identity tracking
    key = session.execute(_INSERT, values).inserted_primary_key
    event = AuditEvent(id=key[0] if key else None, **values)  # transient: for the sinks and the caller
    for sink in SINKS:
        sink(session, event)
    return event
