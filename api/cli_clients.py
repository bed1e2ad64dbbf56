"""``empi clients``: register FHIR edge-device clients (bearer tokens with IHE IUA scopes) and list them."""

from __future__ import annotations

import argparse

from api.cli import add_common, runtime_from
from api.fhir.auth import SCOPES, create_client, list_clients, revoke_client


def _add(args: argparse.Namespace) -> int:
    rt = runtime_from(args)
    try:
        with rt.write() as session:
            token = create_client(session, args.name, args.scope or [])
    finally:
        rt.close()
    print(f"client {args.name!r} registered. Its bearer token is shown only once; store it now:")
    print(token)
    return 0


def _list(args: argparse.Namespace) -> int:
    rt = runtime_from(args)
    try:
        with rt.read() as session:
            rows = [(c.name, c.scopes, "active" if c.is_active else "revoked",
                     c.created_at.strftime("%Y-%m-%d %H:%M")) for c in list_clients(session)]
    finally:
        rt.close()
    rows.insert(0, ("NAME", "SCOPES", "STATUS", "CREATED"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _revoke(args: argparse.Namespace) -> int:
    rt = runtime_from(args)
    try:
        with rt.write() as session:
            revoke_client(session, args.name)
    finally:
        rt.close()
    print(f"client {args.name!r} revoked")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("clients", help="FHIR API clients (edge devices) and their bearer tokens")
    csub = p.add_subparsers(dest="action", required=True)
    scope_help = "scope(s) the client may use, repeatable or comma-separated: " + ", ".join(SCOPES)
    ap = csub.add_parser("add", help="register a client and print its bearer token (once)")
    add_common(ap)
    ap.add_argument("name")
    ap.add_argument("--scope", action="append", required=True, help=scope_help)
    ap.set_defaults(func=_add)
    lp = csub.add_parser("list", help="list the registered clients (never their tokens)")
    add_common(lp)
    lp.set_defaults(func=_list)
    rp = csub.add_parser("revoke", help="deactivate a client's token")
    add_common(rp)
    rp.add_argument("name")
    rp.set_defaults(func=_revoke)
