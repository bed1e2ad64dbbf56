"""One FHIR interaction = one unit of work with its audit record.

Changes (ITI-104): the work and its audit event commit together, so a change is never unaudited.
Queries (action ``E`` or ``R``): the work runs in a read-only unit, then its audit event is committed
by :class:`empi.audit.GroupCommit` before the answer is sent. Concurrent queries share one write
transaction for their audit rows (group commit), so a query costs no write transaction of its own;
no answer leaves before its audit row is durable.
Failure: the work rolls back and the failure is audited on its own, then the error propagates to the
route, which answers with an OperationOutcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from api.fhir.auth import Caller
from api.fhir.errors import FhirError, from_core
from empi import audit
from empi.commands import RecordKey
from empi.errors import EmpiError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from empi.runtime import Runtime

T = TypeVar("T")
READ_ACTIONS = ("E", "R")


@dataclass(slots=True)
class Note:
    """What the work tells the audit trail: the patients involved and the action taken."""

    action: str
    patient_ids: list[str] = field(default_factory=list)
    person_id: int | None = None

    def key(self, rt: Runtime, key: RecordKey) -> None:
        domain = rt.registry.get(key.domain)
        uid = domain.universal_id if domain else key.domain
        self.patient_ids.append(f"{key.identifier}^^^&{uid}&ISO")


def group_commit(rt: Runtime) -> audit.GroupCommit:
    return audit.group_commit(rt)


def perform(rt: Runtime, who: Caller, event_type: str, action: str, work: Callable[[Session, Note], T], *,
            query: str | None = None, address: str | None = None) -> T:
    note = Note(action=action)
    base: dict[str, Any] = {"event_type": event_type, "actor": who.name, "actor_type": "client",
                            "source_address": address, "query": query}
    try:
        if action in READ_ACTIONS:
            with rt.read() as session:
                result = work(session, note)
            group_commit(rt).record(**base, action=note.action, patient_ids=note.patient_ids,
                                    person_id=note.person_id)
            return result
        with rt.write() as session:
            result = work(session, note)
            audit.record(session, **base, action=note.action, patient_ids=note.patient_ids, person_id=note.person_id)
        return result
    except (FhirError, EmpiError) as exc:
        error = exc if isinstance(exc, FhirError) else from_core(exc)
        outcome = audit.OUTCOME_MINOR if error.status == 404 else audit.OUTCOME_SERIOUS
        with rt.write() as session:
            audit.record(session, **base, action=note.action, patient_ids=note.patient_ids, outcome=outcome,
                         detail={"status": error.status, "code": error.code})
        raise
