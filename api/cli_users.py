"""``empi users add NAME --role steward|viewer``: create review-queue accounts.

The password is read with a hidden prompt (asked twice) on a terminal, or as the first line of
standard input otherwise (``printf '%s\\n' "$PW" | empi users add alice --role steward``); it never
appears on the command line.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from api.cli import CliError, add_common, runtime_from
from empi import users


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise CliError("the passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _add(args: argparse.Namespace) -> int:
    password = _read_password()
    if not password:
        raise CliError("no password given (type it at the prompt, or pipe it on standard input)")
    rt = runtime_from(args)
    try:
        with rt.write() as session:
            user = users.add_user(session, args.name, password, role=args.role)
            name, role = user.username, user.role
    finally:
        rt.close()
    print(f"user {name} added with role {role}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("users", help="review-queue accounts")
    usub = p.add_subparsers(dest="action", required=True)
    ap = usub.add_parser("add", help="add a steward (may decide) or a viewer (may only look)")
    add_common(ap)
    ap.add_argument("name", help="the sign-in name")
    ap.add_argument("--role", required=True, choices=users.ROLES)
    ap.set_defaults(func=_add)
