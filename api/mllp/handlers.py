"""Message dispatch: (message type, trigger) -> Handler, and ``process(rt, raw) -> reply bytes``.

No sockets here, so tests call :func:`process` directly. A :class:`Handler` says how to turn the
message into a command (no database), run it inside the unit of work, and answer success or failure
in the transaction's own reply shape (ACK for feeds, RSP^K23 for PIX queries). To serve another
transaction (QBP^Q22 PDQ, QCN^J01, ITI-30 A28/A31/A47/A24/A37) add an entry with :func:`register`.

``process`` opens ``rt.write()`` or ``rt.read()`` and builds the AA only after the unit of work has
exited, i.e. after the commit. Every failure, including a bug, still gets exactly one reply.
"""

from __future__ import annotations

import copyreg
import logging
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from api.mllp import acks, hl7v2
from api.mllp.acks import Failure, Location
from api.mllp.hl7v2 import Message, MessageError, QueryError
from empi import patients, xref
from empi.commands import UNSET
from empi.config import DomainRegistry, Settings
from empi.errors import EmpiError, UnknownIdentifier
from empi.runtime import Runtime

log = logging.getLogger("api.mllp")

Decode = Callable[[Message, Any], Any]  # (message, DecodeContext) -> command
Run = Callable[[Session, Any, Runtime], Any]
Reply = Callable[[Message, Runtime, Any], str]
Fail = Callable[[Message, Runtime, Failure], str]
Locate = Callable[[EmpiError], Location | None]


@dataclass(frozen=True, slots=True)
class Handler:
    decode: Decode  # message -> command; raises EmpiError for bad content
    run: Run  # command -> result, inside the unit of work
    reply: Reply  # result -> reply text
    fail: Fail  # failure -> reply text, same message structure as ``reply``
    locate: Locate = lambda exc: None  # where a domain error raised by ``run`` points
    writes: bool = True


def _ack(msg: Message, rt: DecodeContext, failure: Failure | None = None) -> str:
    s = rt.settings
    if failure is None:
        return acks.ack(msg.context, application=s.application, facility=s.facility)
    return acks.ack(msg.context, application=s.application, facility=s.facility, ack_code=failure.ack_code,
                    failures=(failure,))


def _feed_reply(msg: Message, rt: Runtime, _result: Any) -> str:
    return _ack(msg, rt)


def _feed_fail(msg: Message, rt: Runtime, failure: Failure) -> str:
    return _ack(msg, rt, failure)


def _locate_register(exc: EmpiError) -> Location | None:
    field = exc.field or ""
    if field.endswith(".domain"):
        return Location("PID", 3, 1, 4)
    if field.startswith("identifier"):
        return Location("PID", 3, 1, 1)
    return None


def _locate_merge(exc: EmpiError) -> Location | None:
    field = exc.field or ""
    if field.startswith("subsumed"):
        return Location("MRG", 1, 1, 4 if field.endswith(".domain") else 1)
    if field.startswith(("surviving", "identifier")):
        return Location("PID", 3, 1, 4 if field.endswith(".domain") else 1)
    return None


def _register(msg: Message, rt: Runtime) -> Any:
    return hl7v2.register_command(msg, rt.registry)


def _merge(msg: Message, rt: Runtime) -> Any:
    return hl7v2.merge_command(msg, rt.registry)


def _run_register(session: Session, cmd: Any, rt: Runtime) -> Any:
    return patients.register(session, cmd, rt=rt)


def _run_merge(session: Session, cmd: Any, rt: Runtime) -> Any:
    return patients.merge(session, cmd, rt=rt)


def _pix_decode(msg: Message, rt: Runtime) -> Any:
    return hl7v2.pix_query(msg, rt.registry)


def _pix_run(session: Session, query: Any, rt: Runtime) -> Any:
    try:
        return xref.cross_references(session, query.key, rt=rt,
                                     domains=list(query.domains) if query.domains else None)
    except UnknownIdentifier as exc:  # ITI-9 case 3: known domain, unknown (or merged-away) ID
        raise QueryError(exc.message, Location("QPD", 3, 1, 1)) from None


def _pix_reply(msg: Message, rt: Runtime, result: Any) -> str:
    s = rt.settings
    return hl7v2.rsp_k23(msg, application=s.application, facility=s.facility, registry=rt.registry, result=result)


def _pix_fail(msg: Message, rt: Runtime, failure: Failure) -> str:
    s = rt.settings
    return hl7v2.rsp_k23(msg, application=s.application, facility=s.facility, registry=rt.registry,
                         failure=failure)


FEED = Handler(decode=_register, run=_run_register, reply=_feed_reply, fail=_feed_fail, locate=_locate_register)
MERGE = Handler(decode=_merge, run=_run_merge, reply=_feed_reply, fail=_feed_fail, locate=_locate_merge)
PIX_QUERY = Handler(decode=_pix_decode, run=_pix_run, reply=_pix_reply, fail=_pix_fail, writes=False,
                    locate=lambda exc: Location("QPD", 3, 1, 1))

HANDLERS: dict[tuple[str, str], Handler] = {
    # ITI-8 Patient Identity Feed (v2.3.1)
    ("ADT", "A01"): FEED,
    ("ADT", "A04"): FEED,
    ("ADT", "A05"): FEED,
    ("ADT", "A08"): FEED,
    ("ADT", "A40"): MERGE,
    # ITI-9 PIX Query (v2.5)
    ("QBP", "Q23"): PIX_QUERY,
}


def register(message_type: str, trigger: str, handler: Handler) -> None:
    """Serve another (type, trigger), e.g. ``register("QBP", "Q22", PDQ_QUERY)``."""
    HANDLERS[(message_type.upper(), trigger.upper())] = handler


class DecodeContext(Protocol):
    """What decoding needs: a Runtime, or the settings/registry pair a parse worker process holds."""

    settings: Settings
    registry: DomainRegistry


def _unset() -> Any:
    return UNSET


# Commands cross a process boundary when decoding runs in a worker process: keep UNSET a singleton.
copyreg.pickle(type(UNSET), lambda _: (_unset, ()))


@dataclass(frozen=True, slots=True)
class Decoded:
    """Stage 1 output (picklable): the message and its command, or the reply already decided."""

    msg: Message | None
    command: Any = None
    failure: Failure | None = None
    reply: str | None = None
    outcome: str = ""


def process(rt: Runtime, raw: bytes, handlers: Mapping[tuple[str, str], Handler] | None = None) -> bytes:
    """Handle one message payload (MLLP envelope already removed) and return the reply payload."""
    return execute(rt, decode(rt, raw, handlers), handlers)


def decode(ctx: DecodeContext, raw: bytes, handlers: Mapping[tuple[str, str], Handler] | None = None) -> Decoded:
    """Stage 1, CPU only (no database): split, route, parse and map to a command."""
    table = HANDLERS if handlers is None else handlers
    try:
        msg = hl7v2.split(raw)
    except MessageError as exc:
        return Decoded(None, reply=reject(ctx, exc.code), outcome=f"AR/{exc.code}")
    handler = table.get((msg.message_type, msg.trigger))
    if handler is None:
        known_type = any(t == msg.message_type for t, _ in table)
        code = acks.UNSUPPORTED_EVENT if known_type else acks.UNSUPPORTED_MESSAGE_TYPE
        failure = Failure("AR", code, Location("MSH", 9, 1, 2 if known_type else 1))
        return Decoded(msg, reply=_ack(msg, ctx, failure), outcome=f"AR/{code}")
    try:
        return Decoded(msg, command=handler.decode(msg, ctx))  # type: ignore[arg-type]
    except QueryError as exc:
        return Decoded(msg, failure=Failure("AE", exc.code, exc.location, exc.message))
    except EmpiError as exc:
        return Decoded(msg, failure=acks.failure_for(exc, handler.locate(exc)))
    except Exception as exc:  # noqa: BLE001 - a parser bug must still get an answer
        _log_internal(msg, exc)
        return Decoded(msg, failure=Failure("AR", acks.INTERNAL_ERROR))


def execute(rt: Runtime, decoded: Decoded, handlers: Mapping[tuple[str, str], Handler] | None = None) -> bytes:
    """Stage 2: run the command in its unit of work and build the reply (AA only after the commit)."""
    started = time.perf_counter()
    msg = decoded.msg
    if msg is None or decoded.reply is not None:
        reply, outcome = decoded.reply or reject(rt), decoded.outcome
    else:
        handler = (HANDLERS if handlers is None else handlers)[(msg.message_type, msg.trigger)]
        reply, outcome = _run(rt, msg, handler, decoded)
    log.info("mllp control_id=%s type=%s outcome=%s ms=%.1f", msg.control_id if msg else "-",
             f"{msg.message_type}^{msg.trigger}" if msg else "-", outcome, (time.perf_counter() - started) * 1000)
    return reply.encode("utf-8")


def _run(rt: Runtime, msg: Message, handler: Handler, decoded: Decoded) -> tuple[str, str]:
    try:
        failure = decoded.failure
        if failure is None:
            try:
                with (rt.write() if handler.writes else rt.read()) as session:
                    result = handler.run(session, decoded.command, rt)
            except QueryError as exc:
                failure = Failure("AE", exc.code, exc.location, exc.message)
            except EmpiError as exc:
                failure = acks.failure_for(exc, handler.locate(exc))
        if failure is None:
            return handler.reply(msg, rt, result), "AA"
        return handler.fail(msg, rt, failure), f"{failure.ack_code}/{failure.code}"
    except Exception as exc:  # noqa: BLE001 - the outermost adapter loop: log without PHI, answer, keep serving
        _log_internal(msg, exc)
        failure = Failure("AR", acks.INTERNAL_ERROR)
        try:
            return handler.fail(msg, rt, failure), "AR/207"
        except Exception:  # noqa: BLE001 - even the error reply failed: fall back to a bare ACK
            return _ack(msg, rt, failure), "AR/207"


def _log_internal(msg: Message, exc: Exception) -> None:
    where = traceback.extract_tb(exc.__traceback__)[-1]
    log.error("mllp control_id=%s internal error %s at %s:%s", msg.control_id, type(exc).__name__,
              where.filename.rsplit("/", 1)[-1], where.lineno)


def reject(rt: DecodeContext, code: int = acks.SEGMENT_SEQUENCE, head: bytes = b"") -> str:
    """AR for a payload that is not HL7 (or too large); MSA-2 echoes MSH-10 when it can be found."""
    ctx = acks.ReplyContext()
    if head:
        try:
            ctx = hl7v2.split(head).context
        except MessageError:
            pass
    return acks.ack(ctx, application=rt.settings.application, facility=rt.settings.facility, ack_code="AR",
                    failures=(Failure("AR", code),))


# ITI-21 PDQ (QBP^Q22, QCN^J01) and ITI-30 (A28 A31 A47 A24 A37) live in their own modules, which
# list their handlers' fields.
from api.mllp import iti30, pdq

for _table in (pdq.HANDLERS, iti30.HANDLERS):
    HANDLERS.update({key: Handler(**fields) for key, fields in _table.items()})

# ITI-8 and ITI-9 are audited by a wrapper (api.mllp.audit_trail); the handlers above stay as they are.
from api.mllp import audit_trail

HANDLERS.update(audit_trail.audited_table(HANDLERS))
