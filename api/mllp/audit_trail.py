"""Audit records for the ITI-8 feed (A01 A04 A05 A08 A40) and ITI-9 PIX query handlers.

:func:`audited` wraps a handler without changing what it answers. A feed is audited inside its own unit
of work, so a change is never committed unaudited (action C for A01/A04/A05, U for A08 and A40). A
query is audited after its read-only unit, its row group-committed with concurrent queries' rows (action E, the QPD as the query,
the disclosed identifiers as the patients). A rejected message is audited too, with outcome 8 (or 12 for
an internal error). The actor is the sender (MSH-3|MSH-4); ITI-21 and ITI-30 audit in their own modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from api.mllp import acks
from api.mllp.acks import Failure
from api.mllp.hl7v2 import Message
from empi import audit
from empi.commands import MergeRecords, RecordKey, RegisterSourceRecord
from empi.runtime import Runtime

# (message type, trigger) -> (event type, action)
TRANSACTIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("ADT", "A01"): ("ITI-8", "C"), ("ADT", "A04"): ("ITI-8", "C"), ("ADT", "A05"): ("ITI-8", "C"),
    ("ADT", "A08"): ("ITI-8", "U"), ("ADT", "A40"): ("ITI-8", "U"), ("QBP", "Q23"): ("ITI-9", "E"),
}


@dataclass(frozen=True, slots=True)
class Audited:
    """The handler's own command plus what the audit record needs from the message (picklable)."""

    command: Any
    control_id: str
    sender: str
    query: str | None


@dataclass(frozen=True, slots=True)
class Answer:
    result: Any
    patient_ids: tuple[str, ...]


def _pid(key: RecordKey, registry: Any) -> str:
    domain = registry.get(key.domain)
    return f"{key.identifier}^^^&{domain.universal_id if domain else key.domain}&ISO"


def _keys(command: Any) -> list[RecordKey]:
    if isinstance(command, RegisterSourceRecord):
        return [command.key]
    if isinstance(command, MergeRecords):
        return [command.surviving, command.subsumed]
    key = getattr(command, "key", None)
    return [key] if isinstance(key, RecordKey) else []


def _record(session: Session, rt: Runtime, *, event_type: str, action: str, actor: str, control_id: str,
            patient_ids: list[str], person_id: int | None = None, query: str | None = None,
            outcome: int = audit.OUTCOME_SUCCESS) -> None:
    audit.record(session, event_type=event_type, action=action, actor=actor or "unknown", outcome=outcome,
                 patient_ids=patient_ids, person_id=person_id, query=query, detail={"control_id": control_id})


def audited(handler: Any, event_type: str, action: str) -> Any:
    """The same handler, writing an audit record for every message it serves."""

    def decode(msg: Message, ctx: Any) -> Audited:
        query = msg.segment("QPD") if action == "E" else None
        return Audited(handler.decode(msg, ctx), msg.control_id, "|".join(msg.sender), query)

    def run(session: Session, cmd: Audited, rt: Runtime) -> Answer:
        result = handler.run(session, cmd.command, rt)
        ids = [_pid(k, rt.registry) for k in _keys(cmd.command)]
        if action == "E":  # the disclosed identifiers join the queried one
            ids += [_pid(RecordKey(x.identifier, x.domain), rt.registry) for x in getattr(result, "identifiers", [])]
        else:
            _record(session, rt, event_type=event_type, action=action, actor=cmd.sender, control_id=cmd.control_id,
                    patient_ids=ids, person_id=getattr(result, "person_id", None))
        return Answer(result, tuple(ids))

    def reply(msg: Message, rt: Runtime, answer: Answer) -> str:
        if action == "E":  # committed with concurrent queries' rows, before the answer leaves
            audit.group_commit(rt).record(
                event_type=event_type, action=action, actor="|".join(msg.sender) or "unknown",
                patient_ids=list(answer.patient_ids), person_id=getattr(answer.result, "person_id", None),
                query=msg.segment("QPD"), detail={"control_id": msg.control_id})
        return str(handler.reply(msg, rt, answer.result))

    def fail(msg: Message, rt: Runtime, failure: Failure) -> str:
        outcome = audit.OUTCOME_MAJOR if failure.code == acks.INTERNAL_ERROR else (
            audit.OUTCOME_MINOR if action == "E" else audit.OUTCOME_SERIOUS)
        with rt.write() as session:
            _record(session, rt, event_type=event_type, action=action, actor="|".join(msg.sender),
                    control_id=msg.control_id, patient_ids=[], outcome=outcome,
                    query=msg.segment("QPD") if action == "E" else None)
        return str(handler.fail(msg, rt, failure))

    return replace(handler, decode=decode, run=run, reply=reply, fail=fail)


def audited_table(table: Mapping[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    """Audited versions of the ITI-8 and ITI-9 entries of a dispatch table."""
    return {key: audited(table[key], *TRANSACTIONS[key]) for key in TRANSACTIONS if key in table}
