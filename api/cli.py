"""The ``empi`` command line.

Each feature module contributes sub-commands through a ``register(subparsers)`` function listed in
``COMMAND_MODULES``. A command returns an exit code; problems are printed as one clear line, never as a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from empi.config import ConfigError, Settings, load_settings
from empi.errors import EmpiError

COMMAND_MODULES: list[str] = ["api.cli", "api.cli_users", "api.cli_clients", "api.cli_tuning", "api.cli_ops"]


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="configuration file (TOML); default: $EMPI_CONFIG or the packaged default")
    p.add_argument("--database-url", help="SQLAlchemy URL; default: $EMPI_DATABASE_URL or the config's")


def settings_from(args: argparse.Namespace, **overrides: object) -> Settings:
    clean = {k: v for k, v in overrides.items() if v is not None}
    return load_settings(args.config, database_url=args.database_url, overrides=clean)


def runtime_from(args: argparse.Namespace, **overrides: object):  # type: ignore[no-untyped-def]
    from empi.runtime import Runtime

    return Runtime.start(settings_from(args, **overrides))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.mllp.server import serve_in_thread

    rt = runtime_from(args, http_port=args.http_port, mllp_port=args.mllp_port, http_host=args.host,
                      mllp_host=args.host)
    s = rt.settings
    mllp = serve_in_thread(rt, host=s.mllp_host, port=s.mllp_port, decode_processes=max(0, s.decode_processes))
    from api.mllp.notify import start_worker

    outbox = start_worker(rt)  # ITI-10 delivery, when consumers are configured
    logging.getLogger("empi").info("MLLP listening on %s:%s; HTTP on %s:%s (%s)", s.mllp_host, mllp.port,
                                   s.http_host, s.http_port, rt.engine.dialect.name)
    try:
        uvicorn.run(create_app(rt), host=s.http_host, port=s.http_port, log_level="info")
    finally:
        if outbox is not None:
            outbox.stop()
        mllp.stop()
        rt.close()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from empi.db import migrate

    s = settings_from(args)
    migrate(s.database_url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def _domains_list(args: argparse.Namespace) -> int:
    s = settings_from(args)
    rows = [("NAMESPACE", "UNIVERSAL ID", "TYPE", "FHIR SYSTEM", "ROLE", "SOURCES")]
    for d in (*s.domains, s.regional):
        role = "regional" if d.is_regional else ("health-card" if d.is_health_card else "source")
        if d.is_regional:
            role += " (published)" if s.publish_regional_id else " (not published)"
        rows.append((d.namespace, d.universal_id, d.universal_id_type, d.system, role, ", ".join(d.sources)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the HTTP app and the MLLP listener")
    add_common(p)
    p.add_argument("--host", help="address to listen on (HTTP and MLLP)")
    p.add_argument("--http-port", type=int, help="HTTP port (default 8080)")
    p.add_argument("--mllp-port", type=int, help="MLLP port (default 2575)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("migrate", help="bring the database schema up to date")
    add_common(p)
    p.add_argument("--revision", default="head")
    p.set_defaults(func=_migrate)

    p = sub.add_parser("domains", help="identity domains")
    dsub = p.add_subparsers(dest="action", required=True)
    lp = dsub.add_parser("list", help="list the configured identity domains")
    add_common(lp)
    lp.set_defaults(func=_domains_list)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="empi", description="Enterprise Master Patient Index")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("EMPI_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"empi: configuration error: {exc}", file=sys.stderr)
        return 2
    except (CliError, EmpiError) as exc:
        print(f"empi: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the outermost loop: one line, no traceback, unless asked
        if os.environ.get("EMPI_DEBUG"):
            raise
        print(f"empi: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
