"""Operator commands: the ITI-10 outbox (``empi outbox list|retry``) and undo (``empi unmerge``).

Outbox listings show delivery state only (ids, consumer, status, attempts, times, the last error),
never the message payload, which holds patient identifiers.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, select, update

from api.cli import CliError, add_common, runtime_from
from empi.commands import RecordKey
from empi.models import OutboxMessage, Person, utcnow

STATUSES = ("pending", "delivered", "failed")


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _when(at: object) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if hasattr(at, "strftime") else ""


def _outbox_list(args: argparse.Namespace) -> int:
    rt = runtime_from(args)
    try:
        q = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(args.limit)
        if args.status != "all":
            q = q.where(OutboxMessage.status == args.status)
        if args.consumer:
            q = q.where(OutboxMessage.consumer == args.consumer)
        with rt.read() as session:
            found = list(session.scalars(q))
        rows = [("ID", "CONSUMER", "KIND", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "CREATED", "LAST ERROR")]
        for m in reversed(found):
            next_at = _when(m.next_attempt_at) if m.status == "pending" else ""
            rows.append((str(m.id), m.consumer, m.kind, m.status, str(m.attempts), next_at, _when(m.created_at),
                         (m.last_error or "")[:80]))
        if len(rows) == 1:
            print(f"no {'' if args.status == 'all' else args.status + ' '}outbox messages")
        else:
            _table(rows)
    finally:
        rt.close()
    return 0


def _outbox_retry(args: argparse.Namespace) -> int:
    if not args.ids and not args.failed:
        raise CliError("give message ids or --failed")
    rt = runtime_from(args)
    try:
        stmt = update(OutboxMessage).where(OutboxMessage.status != "delivered")
        stmt = stmt.where(OutboxMessage.id.in_(args.ids)) if args.ids else stmt.where(OutboxMessage.status == "failed")
        with rt.write() as session:
            count = session.execute(stmt.values(status="pending", next_attempt_at=utcnow())).rowcount
    finally:
        rt.close()
    print(f"{count} message(s) queued again")
    return 0


def _outbox_purge(args: argparse.Namespace) -> int:
    if args.days < 0:
        raise CliError("--older-than must not be negative")
    rt = runtime_from(args)
    try:
        cutoff = utcnow() - timedelta(days=args.days)
        with rt.write() as session:
            count = session.execute(delete(OutboxMessage).where(OutboxMessage.status == "delivered",
                                                                OutboxMessage.delivered_at < cutoff)).rowcount
    finally:
        rt.close()
    print(f"{count} delivered message(s) removed")
    return 0


def _unmerge(args: argparse.Namespace) -> int:
    from empi import unmerge

    actor = args.actor or f"cli:{getpass.getuser()}"
    if args.person is None and not (args.identifier and args.domain):
        raise CliError("give --identifier and --domain, or --person")
    rt = runtime_from(args)
    try:
        with rt.write() as session:
            if args.person is not None:
                person_id = session.scalar(select(Person.id).where(Person.regional_id == args.person))
                if person_id is None:
                    raise CliError("no person has that regional ID")
                done = unmerge.undo_person_merge(session, person_id, rt=rt, actor=actor, reason=args.reason)
            else:
                domain = rt.registry.get(args.domain)
                if domain is None:
                    raise CliError(f"unknown domain {args.domain!r}")
                key = RecordKey(args.identifier, domain.namespace)
                if args.link:
                    from empi.records import get_record

                    record = get_record(session, key)
                    if record is None:
                        raise CliError("the identifier is not known")
                    done = unmerge.undo_link(session, record.id, rt=rt, actor=actor, reason=args.reason)
                else:
                    done = unmerge.undo_record_merge(session, key, rt=rt, actor=actor, reason=args.reason)
            regional = session.scalar(select(Person.regional_id).where(Person.id == done.person_id))
    finally:
        rt.close()
    print(f"undone ({done.kind}): {len(done.record_ids)} record(s) on person {regional}; "
          f"{len(done.changed_persons)} person(s) changed")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("outbox", help="ITI-10 update notifications waiting, delivered or failed")
    osub = p.add_subparsers(dest="action", required=True)
    lp = osub.add_parser("list", help="list outbox messages (newest last)")
    add_common(lp)
    lp.add_argument("--status", choices=(*STATUSES, "all"), default="all")
    lp.add_argument("--consumer", help="only this consumer's messages")
    lp.add_argument("--limit", type=int, default=100)
    lp.set_defaults(func=_outbox_list)
    rp = osub.add_parser("retry", help="queue failed (or the given) messages again, now")
    add_common(rp)
    rp.add_argument("ids", nargs="*", type=int)
    rp.add_argument("--failed", action="store_true", help="every failed message")
    rp.set_defaults(func=_outbox_retry)
    pp = osub.add_parser("purge", help="remove delivered messages older than --older-than days")
    add_common(pp)
    pp.add_argument("--older-than", dest="days", type=int, default=30, metavar="DAYS")
    pp.set_defaults(func=_outbox_purge)

    p = sub.add_parser("unmerge", help="undo a merge (or, with --link, a record's latest link)")
    add_common(p)
    p.add_argument("--identifier", help="the subsumed (or, with --link, the linked) record's identifier")
    p.add_argument("--domain", help="its domain namespace")
    p.add_argument("--person", help="regional ID of a person merged into another")
    p.add_argument("--link", action="store_true", help="undo the record's latest link instead of a merge")
    p.add_argument("--reason", help="why (kept in the link history and the audit trail)")
    p.add_argument("--actor", help="who (default: cli:<login>)")
    p.set_defaults(func=_unmerge)
