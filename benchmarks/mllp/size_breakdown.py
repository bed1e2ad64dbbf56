"""What the feed rate's fall with the store's size is made of (SQLite, in-process, one thread).

    .venv/bin/python benchmarks/mllp/bench_pix.py --records 100000 --backends sqlite --ab-rounds 1 \\
        --keep-stores /tmp/stores                                  # once: keeps store10000.db, store100000.db
    .venv/bin/python benchmarks/mllp/size_breakdown.py --stores /tmp/stores

The "same work" records of bench_pix.py (new copies of patients all of whose records are in the smaller
store, and patients seen nowhere) are fed into a fresh copy of each kept store through the MLLP handler
(`api.mllp.handlers.process`: parse, match, commit, ACK) without a socket, in alternating chunks of
``--chunk`` records (small store, large store, large, small, ...), so that a host whose speed drifts weighs
on both sizes alike. Three set-ups, each on fresh copies:

* ``served``: the service as it runs;
* ``no-single-key``: the candidate statement keeps only records sharing at least two blocking keys with the
  new record. In this population a record sharing one key is a coincidence (another patient with the same
  birth date in the same city, the same given-name initial at the same postal code); their number grows with
  the store, and each costs its fetch and a score bound. This set-up changes decisions where a true copy
  shares a single key: its link count is printed, and is not the service's behaviour;
* ``no-matching``: no candidate at all (every record is a new person): what parsing, storing and indexing a
  record and committing it cost at each size.

For each set-up and size: milliseconds a feed (wall clock and the thread's CPU time), candidate rows, score
bounds, full scores and links a feed; then the ratio of the large store's time to the small one's. The
``--stores`` must come from bench_pix.py run with the same ``--records``, ``--seed``, ``--ab-small``,
``--ab-feeds``, ``--ab-warmup`` and ``--people-per-postal-code`` as given here.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_pix as bp  # noqa: E402

from api.mllp.handlers import process  # noqa: E402
from empi import matching  # noqa: E402
from empi.runtime import Runtime  # noqa: E402
from scoring import engine  # noqa: E402

SETUPS = ("served", "no-single-key", "no-matching")


@contextmanager
def setup(name: str, counts: collections.Counter[str]) -> Iterator[None]:
    """Run the service as ``name`` describes, counting rows, bounds, full scores and links into ``counts``."""
    rows_of, sql, decide = matching._candidate_rows, matching._CANDIDATE_SQL, matching.decide
    bound, score = engine.Scorer.bound, engine.Scorer.score
    cache = dict(matching._CANDIDATE_SQLITE)

    def rows(session: Any, keys: list[str], rid: int, limit: int) -> list[tuple[Any, ...]]:
        if name == "no-matching":
            return []
        found = rows_of(session, keys, rid, limit)
        counts["rows"] += len(found)
        return found

    def counted(method: Callable[..., Any], key: str) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            counts[key] += 1
            return method(*args)
        return wrapper

    def decided(*args: Any, **kwargs: Any) -> Any:
        decision = decide(*args, **kwargs)
        counts["links"] += decision.kind == "link"
        return decision

    matching._candidate_rows, matching.decide = rows, decided
    engine.Scorer.bound = counted(bound, "bounds")  # type: ignore[method-assign]
    engine.Scorer.score = counted(score, "scores")  # type: ignore[method-assign]
    if name == "no-single-key":
        matching._CANDIDATE_SQL = sql.replace("GROUP BY blocking_key.record_id",
                                              "GROUP BY blocking_key.record_id HAVING count(*) >= 2")
        matching._CANDIDATE_SQLITE.clear()
    try:
        yield
    finally:
        matching._candidate_rows, matching._CANDIDATE_SQL, matching.decide = rows_of, sql, decide
        engine.Scorer.bound, engine.Scorer.score = bound, score  # type: ignore[method-assign]
        matching._CANDIDATE_SQLITE.clear()
        matching._CANDIDATE_SQLITE.update(cache)


def run(name: str, stores: Path, sizes: tuple[int, int], warm: list[bytes], timed: list[bytes], chunk: int,
        scratch: Path) -> dict[int, dict[str, float]]:
    counts: dict[int, collections.Counter[str]] = {size: collections.Counter() for size in sizes}
    wall = dict.fromkeys(sizes, 0.0)
    cpu = dict.fromkeys(sizes, 0.0)
    runtimes: dict[int, Runtime] = {}
    try:
        for size in sizes:
            copy = scratch / f"{name}-{size}.db"
            shutil.copyfile(stores / f"store{size}.db", copy)
        os.sync()  # the copies written out before the clock starts, not while it runs
        for size in sizes:
            copy = scratch / f"{name}-{size}.db"
            runtimes[size] = Runtime.start(bp.settings(f"sqlite:///{copy}"))
        scratch_counts: collections.Counter[str] = collections.Counter()
        for size in sizes:  # the listener's caches warmed on other new records, as bench_pix.py does
            with setup(name, scratch_counts):
                for raw in warm:
                    _feed(runtimes[size], raw)
        for start in range(0, len(timed), chunk):
            for size in (sizes if start // chunk % 2 == 0 else sizes[::-1]):
                with setup(name, counts[size]):
                    t0, c0 = time.perf_counter(), time.thread_time()
                    for raw in timed[start:start + chunk]:
                        _feed(runtimes[size], raw)
                    wall[size] += time.perf_counter() - t0
                    cpu[size] += time.thread_time() - c0
    finally:
        for rt in runtimes.values():
            rt.close()
    n = len(timed)
    return {size: {"wall": wall[size] / n * 1e3, "cpu": cpu[size] / n * 1e3,
                   **{key: value / n for key, value in counts[size].items()}} for size in sizes}


def _feed(rt: Runtime, raw: bytes) -> bytes:
    ack = process(rt, raw)
    if b"MSA|AA|" not in ack:
        raise SystemExit(f"a feed was not accepted: {ack[:200]!r}")
    return ack


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stores", type=Path, required=True, help="the --keep-stores directory of bench_pix.py")
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--ab-small", type=int, default=10_000)
    ap.add_argument("--ab-feeds", type=int, default=2_000)
    ap.add_argument("--ab-warmup", type=int, default=300)
    ap.add_argument("--people-per-postal-code", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=50,
                    help="records fed into one store before switching to the other")
    ap.add_argument("--repeats", type=int, default=2,
                    help="runs of each set-up (in turn: served, no-single-key, ...)")
    ap.add_argument("--setups", default=",".join(SETUPS))
    ap.add_argument("--timed", type=int, default=0,
                    help="feed only the first N timed records (0: all; a quick look)")
    args = ap.parse_args()
    sizes = (args.ab_small, args.records)
    for size in sizes:
        if not (args.stores / f"store{size}.db").exists():
            raise SystemExit(f"{args.stores / f'store{size}.db'} is missing: "
                             "run bench_pix.py with --keep-stores first")
    names = args.setups.split(",")
    unknown = set(names) - set(SETUPS)
    if unknown:
        raise SystemExit(f"unknown set-up(s) {sorted(unknown)}: choose from {', '.join(SETUPS)}")
    everything = bp.build_records(args.records + args.ab_feeds + args.ab_warmup, args.seed,
                                  args.people_per_postal_code)
    same = bp.same_work_records(everything[:args.records], args.ab_small, args.ab_feeds + args.ab_warmup,
                                args.seed, bp.postal_codes_for(len(everything), args.people_per_postal_code))
    msgs = [bp.adt(f"SB{i}", ident, dom, p) for i, (ident, dom, p) in enumerate(same)]
    warm, timed = msgs[:args.ab_warmup], msgs[args.ab_warmup:]
    timed = timed[:args.timed] if args.timed else timed
    print(f"{len(timed)} same-work records fed into copies of the store at {sizes[0]:,} and {sizes[1]:,} "
          f"records, alternating every {args.chunk}, after {len(warm)} other new records (not timed); "
          "one thread, no socket")
    ratios: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(dir=args.stores) as scratch:
        for repeat in range(args.repeats):
            for name in names:
                result = run(name, args.stores, sizes, warm, timed, args.chunk, Path(scratch))
                for size in sizes:
                    r = result[size]
                    print(f"  {name:13} store {size:>7,}: {r['wall']:.3f} ms a feed (CPU {r['cpu']:.3f} ms); "
                          f"a feed: {r.get('rows', 0):.2f} candidate rows, {r.get('bounds', 0):.2f} bounds, "
                          f"{r.get('scores', 0):.2f} full scores, {r.get('links', 0):.2f} links", flush=True)
                small, large = (result[size]["wall"] for size in sizes)
                cpu_small, cpu_large = (result[size]["cpu"] for size in sizes)
                ratios[name].append((small / large, cpu_small / cpu_large))
                print(f"  {name:13} run {repeat + 1}: feed rate at {sizes[1]:,} / at {sizes[0]:,}: "
                      f"{small / large:.3f} (CPU time: {cpu_small / cpu_large:.3f})")
                for path in Path(scratch).iterdir():
                    path.unlink()
    print("feed rate ratio (large / small store), each run: wall clock (CPU time)")
    for name in names:
        print(f"  {name:13} " + ", ".join(f"{wall:.3f} ({cpu:.3f})" for wall, cpu in ratios[name]))


if __name__ == "__main__":
    main()
