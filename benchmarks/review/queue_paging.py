"""How fast is the steward queue with many open tasks? Prints figures; asserts nothing.

    .venv/bin/python benchmarks/review/queue_paging.py [--tasks 10000] [--database-url URL]

It registers 40 uncertain pairs through ``empi.patients.register`` (so every task is real), then
copies those tasks in bulk up to ``--tasks`` open tasks with spread-out creation times (copying is
only for the benchmark: a feed of 20,000 records would take minutes). Then it times the queries the
queue page runs: the first page, a page deep in the queue (keyset after the 9,950th task), the
per-reason counts, a domain filter, and the queue page over HTTP.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert, select, text  # noqa: E402

from empi import review, users  # noqa: E402
from empi.models import ReviewTask  # noqa: E402
from empi.runtime import Runtime  # noqa: E402
from tests.conftest import nist_settings  # noqa: E402
from tests.review.conftest import SCORECARD  # noqa: E402
from tests.review.seed import uncertain_pair  # noqa: E402


def timed(label: str, fn: Callable[[], object], runs: int = 20) -> None:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    print(f"  {label:<44} median {statistics.median(times):7.2f} ms   max {max(times):7.2f} ms")


def seed(rt: Runtime, total: int) -> None:
    for n in range(40):
        uncertain_pair(rt, n)
    with rt.write() as session:
        real = list(session.scalars(select(ReviewTask)))
        start = datetime.now(UTC) - timedelta(days=60)
        rows = []
        for i in range(total - len(real)):
            t = real[i % len(real)]
            rows.append(
                {
                    "record_id": t.record_id,
                    "domain": t.domain,
                    "reason": ("uncertain", "ambiguous")[i % 2],
                    "status": "open",
                    "best_score": t.best_score,
                    "candidates": t.candidates,
                    "scorecard_id": t.scorecard_id,
                    "scorecard_version": t.scorecard_version,
                    "created_at": start + timedelta(minutes=i),
                }
            )
        for chunk in range(0, len(rows), 2000):
            session.execute(insert(ReviewTask), rows[chunk : chunk + 2000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--database-url", help="an empty migrated database; default: a temporary SQLite file")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{tmp.name}/bench.db"
    rt = Runtime.start(
        replace(nist_settings(), database_url=url, scorecard=str(SCORECARD)), auto_migrate=True
    )
    t0 = time.perf_counter()
    seed(rt, args.tasks)
    with rt.read() as session:
        count = session.scalar(select(text("count(*)")).select_from(ReviewTask))
        ordered = review.list_open_tasks(session, limit=args.tasks)
        deep = ordered[-50]
    print(f"{rt.engine.dialect.name}: {count} open review tasks (seeded in {time.perf_counter() - t0:.1f} s)")
    cursor = (deep.created_at, deep.id)
    with rt.read() as session:
        timed("first page (50, oldest first)", lambda: review.list_open_tasks(session, limit=51))
        timed(
            f"deep page (keyset after task #{args.tasks - 50})",
            lambda: review.list_open_tasks(session, after=cursor, limit=51),
        )
        timed("counts per reason", lambda: review.count_open_tasks(session))
        timed("domain filter, first page", lambda: review.list_open_tasks(session, domain="HOSPB", limit=51))
        timed(
            "older than 30 days, first page",
            lambda: review.list_open_tasks(
                session, older_than=datetime.now(UTC) - timedelta(days=30), limit=51
            ),
        )
    _http(rt, deep.id)
    rt.close()


def _http(rt: Runtime, after: int) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with rt.write() as session:
        user = users.add_user(session, "bench", "bench-password", role="viewer")
        token, _ = users.start_session(session, user)
    client = TestClient(create_app(rt))
    client.cookies.set("empi_session", token, path="/review")
    assert client.get("/review").status_code == 200
    timed("GET /review (whole page, in-process)", lambda: client.get("/review"), runs=10)
    timed("GET /review?after=<deep> (whole page)", lambda: client.get(f"/review?after={after}"), runs=10)


if __name__ == "__main__":
    main()
