"""PIX benchmark over a real MLLP socket: ITI-8 feed rate and ITI-9 query rate/latency.

    .venv/bin/python benchmarks/mllp/bench_pix.py --records 100000                 # SQLite and PostgreSQL
    .venv/bin/python benchmarks/mllp/bench_pix.py --records 5000 --backends sqlite  # a quick run

Synthetic patients (invented names only) are spread over three domains; a patient has a record in
1-3 of them, and the copies carry realistic errors: typos, transposed day/month, nicknames, missing
phone/address/SSN. The region has about 20 patients per postal code (``--people-per-postal-code``; 0
gives the first generator's fixed 1,000 codes, about 57 patients a code at 100,000 records). Records are
fed in random order over ``--connections`` concurrent MLLP connections, sent from a separate client
process (``--client thread``: from threads of this process), to a listener started in this process
(``serve_in_thread``) on a fresh database; the feed rate is
printed per window of ``--window`` records, so the rate near 10,000 records can be compared with the
rate near 100,000. Then ``--queries`` ITI-9 queries run over the same number of connections.
PostgreSQL comes from ``--postgres-url`` / ``EMPI_TEST_POSTGRES_URL`` (an admin URL: a scratch
database is created and dropped).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import create_engine, text

from api.mllp.server import serve_in_thread
from empi.config import Settings, parse_settings
from empi.db import normalise_url
from empi.runtime import Runtime

DOMAINS = [("BENCHA", "2.25.9001"), ("BENCHB", "2.25.9002"), ("BENCHC", "2.25.9003")]
GIVEN = ["ALDRIC", "BRYNNA", "CORVIN", "DELPHA", "ELMIRO", "FAYLEN", "GARRIK", "HESTRA", "IVORNE", "JALISA",
         "KORBIN", "LUNETTE", "MARVEK", "NERISSA", "ORLAND", "PELLA", "QUINLAN", "ROSALEE", "SORREN", "TAMSIN",
         "ULRIKA", "VESPER", "WYNDHAM", "XANTHE", "YORICK", "ZELENA", "ROBERTO", "WILHELM", "KATRINE", "ELIZABET"]
NICK = {"ROBERTO": "BERTO", "WILHELM": "WILL", "KATRINE": "KATE", "ELIZABET": "LIZ", "ALDRIC": "AL", "MARVEK": "MARV"}
SYL = ["BAR", "COR", "DEL", "FEN", "GAL", "HOL", "KIR", "LOM", "MAR", "NOV", "PEL", "QUA", "ROS", "SAV", "TOR",
       "ULM", "VAN", "WES", "YAR", "ZEN", "BRI", "CAS", "DUN", "EST", "FOR", "GRE", "HAN", "IVE", "JOR", "KEL"]
STREETS = ["Quarry Lane", "Aster Way", "Juniper Road", "Falcon Crescent", "Mill Street", "Harbour Drive"]
CITIES = ["NORTHBY", "EASTWICK", "SOUTHAM", "WESTFORD", "MIDVALE", "LAKEMOOR"]


@dataclass(frozen=True, slots=True)
class Patient:
    family: str
    given: str
    dob: str  # YYYYMMDD
    sex: str
    street: str
    city: str
    postal: str
    phone: str
    ssn: str


def postal_code(i: int) -> str:
    """The i-th of up to 245,000 distinct Canadian-shaped postal codes (A9A9A9)."""
    return (f"{'KLMNP'[i % 5]}{i // 5 % 10}{'ABCEGHJ'[i // 50 % 7]}{i // 350 % 10}{'ABCEGHJ'[i // 3500 % 7]}"
            f"{i // 24500 % 10}")


def patients(n: int, rng: random.Random, postal_codes: int = 0) -> Iterator[Patient]:
    """``postal_codes``: how many codes the region has (0: the first generator's 1,000 codes K9A9B9)."""
    for i in range(n):
        family = "".join(rng.choice(SYL) for _ in range(rng.choice((2, 3)))) + SYL[i % len(SYL)][:1]
        yield Patient(family=family, given=rng.choice(GIVEN),
                      dob=f"{rng.randint(1925, 2020)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
                      sex=rng.choice("MF"), street=f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
                      city=rng.choice(CITIES),
                      postal=postal_code(rng.randrange(postal_codes)) if postal_codes
                      else f"K{rng.randint(0, 9)}A{rng.randint(0, 9)}B{rng.randint(0, 9)}",
                      phone=f"{rng.randint(200, 999)}{rng.randint(2000000, 9999999)}",
                      ssn=f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}")


def typo(s: str, rng: random.Random) -> str:
    i = rng.randrange(len(s))
    kind = rng.random()
    if kind < 0.4 and len(s) > 3:
        return s[:i] + s[i + 1:]
    if kind < 0.7 and i + 1 < len(s):
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s[:i] + rng.choice("AEIOURSTLN") + s[i + 1:]


def noisy(p: Patient, rng: random.Random) -> Patient:
    """A copy as another system recorded it."""
    r = rng.random()
    if r < 0.15:
        p = replace(p, family=typo(p.family, rng))
    elif r < 0.25:
        p = replace(p, given=NICK.get(p.given, typo(p.given, rng)))
    elif r < 0.32 and int(p.dob[6:]) <= 12:
        p = replace(p, dob=p.dob[:4] + p.dob[6:] + p.dob[4:6])  # day and month transposed
    if rng.random() < 0.2:
        p = replace(p, phone="")
    if rng.random() < 0.1:
        p = replace(p, street="", city="", postal="")
    if rng.random() < 0.3:
        p = replace(p, ssn="")
    return p


def adt(control_id: str, identifier: str, domain: str, p: Patient) -> bytes:
    address = f"{p.street}^^{p.city}^ON^{p.postal}" if p.street else ""
    phone = f"^PRN^PH^^^{p.phone[:3]}^{p.phone[3:]}" if p.phone else ""
    return (f"MSH|^~\\&|BENCH|BENCH|EMPI|EMPI|20240101120000||ADT^A04^ADT_A01|{control_id}|P|2.3.1\r"
            f"EVN||20240101120000\r"
            f"PID|||{identifier}^^^{domain}||{p.family}^{p.given}^^^^^L||{p.dob}|{p.sex}|||{address}||{phone}"
            f"||||||{p.ssn}\rPV1||O").encode()


def q23(control_id: str, identifier: str, domain: str) -> bytes:
    return (f"MSH|^~\\&|BENCH|BENCH|EMPI|EMPI|20240101120000||QBP^Q23^QBP_Q21|{control_id}|P|2.5\r"
            f"QPD|IHE PIX Query|Q{control_id}|{identifier}^^^{domain}|\rRCP|I").encode()


def postal_codes_for(n: int, people_per_postal_code: int) -> int:
    """How many postal codes `build_records` gives a region of ``n`` records (0: the fixed 1,000)."""
    return max(1, round(n / 1.75 / people_per_postal_code)) if people_per_postal_code else 0


def same_work_records(store: Sequence[tuple[str, str, Patient]], small: int, n: int, seed: int,
                      codes: int) -> list[tuple[str, str, Patient]]:
    """``n`` new records that find the same true matches in the store at ``small`` records as in the
    whole store: half are new copies (in a domain where they have none) of patients all of whose records
    are among the first ``small``; half are patients with no record at all (residents of the same region)."""
    rng = random.Random(seed + 2)
    where: dict[str, list[int]] = {}
    for i, (ident, _, _) in enumerate(store):
        where.setdefault(ident.split("-")[0], []).append(i)
    out: list[tuple[str, str, Patient]] = []
    for ident, _, p in store[:small]:
        patient = ident.split("-")[0]
        places = where.pop(patient, None)
        if places is None or max(places) >= small or len(places) == len(DOMAINS) or len(out) >= n // 2:
            continue
        taken = {int(store[i][0].rsplit("-", 1)[1]) for i in places}
        d = next(d for d in range(len(DOMAINS)) if d not in taken)
        out.append((f"{patient}-{d}", DOMAINS[d][0], noisy(p, rng)))
    for k, p in enumerate(patients(n - len(out), rng, codes)):
        out.append((f"N{k:07d}-0", DOMAINS[0][0], p))
    rng.shuffle(out)
    return out


def build_records(n: int, seed: int, people_per_postal_code: int = 0) -> list[tuple[str, str, Patient]]:
    """``n`` records of about n / 1.75 patients; ``people_per_postal_code`` sizes the region's postal codes
    (0: the first generator's fixed 1,000 codes, about 57 patients a code at 100,000 records)."""
    rng = random.Random(seed)
    out: list[tuple[str, str, Patient]] = []
    codes = postal_codes_for(n, people_per_postal_code)
    for k, p in enumerate(patients(n, rng, codes)):
        if len(out) >= n:
            break
        copies = rng.choices((1, 2, 3), weights=(0.45, 0.35, 0.2))[0]
        for n_copy, d in enumerate(rng.sample(range(3), copies)):
            out.append((f"P{k:07d}-{d}", DOMAINS[d][0], p if n_copy == 0 else noisy(p, rng)))
    out = out[:n]
    rng.shuffle(out)
    return out


class Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def call(self, payload: bytes) -> bytes:
        self.sock.sendall(b"\x0b" + payload + b"\x1c\x0d")
        while b"\x1c\x0d" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        frame, _, self.buf = self.buf.partition(b"\x1c\x0d")
        return frame


def run_parallel(port: int, messages: Sequence[bytes], connections: int, expect: bytes) -> tuple[float, list[float]]:
    """Send all messages over ``connections`` connections; return (elapsed s, latencies ms)."""
    lock = threading.Lock()
    it = iter(messages)
    latencies: list[float] = []
    failures: list[bytes] = []

    def worker() -> None:
        c = Conn(port)
        mine: list[float] = []
        while True:
            with lock:
                m = next(it, None)
            if m is None:
                break
            t = time.perf_counter()
            reply = c.call(m)
            mine.append((time.perf_counter() - t) * 1000)
            if expect not in reply:
                failures.append(reply[:200])
        c.sock.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        print(f"  !! {len(failures)} unexpected replies, first: {failures[0]!r}")
    return elapsed, latencies


class Client:
    """Where the sending side runs: ``run_parallel`` in threads of this process (``--client thread``, the
    listener then shares this interpreter's lock with its own clients), or in a separate client process
    (``--client process``, the default: sites send from their own machines)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._pipe: Any = None
        self._proc: Any = None
        if kind == "process":
            ctx = multiprocessing.get_context("spawn")
            self._pipe, child = ctx.Pipe()
            self._proc = ctx.Process(target=_client_loop, args=(child,), daemon=True)
            self._proc.start()

    def run(self, port: int, messages: Sequence[bytes], connections: int, expect: bytes) -> tuple[float, list[float]]:
        if self._proc is None:
            return run_parallel(port, messages, connections, expect)
        self._pipe.send((port, list(messages), connections, expect))
        elapsed, latencies, report = self._pipe.recv()
        if report:
            print(report)
        return elapsed, latencies

    def close(self) -> None:
        if self._proc is not None:
            self._pipe.send(None)
            self._proc.join(10)


def _client_loop(pipe: Any) -> None:
    import contextlib
    import io

    while (job := pipe.recv()) is not None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            elapsed, latencies = run_parallel(*job)
        pipe.send((elapsed, latencies, out.getvalue().rstrip()))


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else (values or [0])[0]


def settings(url: str) -> Settings:
    s = parse_settings({"service": {"mllp_workers": 8}, "domains": [
        {"namespace": ns, "universal_id": uid, "sources": ["BENCH|BENCH"]} for ns, uid in DOMAINS]})
    return replace(s, database_url=url)


class GcClock:
    """Time spent in the garbage collector (all generations), from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._started = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.full += info.get("generation") == 2

    def take(self) -> tuple[float, int]:
        out = (self.seconds, self.full)
        self.seconds, self.full = 0.0, 0
        return out


class Store:
    """The benchmark's database: start a listener on it, and copy it as it stands (a snapshot) or
    from a snapshot, so that the feed rate at two sizes can be measured in alternating rounds."""

    def __init__(self, backend: str, url: str, args: argparse.Namespace) -> None:
        self.backend, self.url, self.args = backend, url, args
        self.rt: Runtime | None = None
        self.handle = None
        self.copies: list[str] = []

    def start(self, url: str | None = None) -> int:
        self.rt = Runtime.start(settings(url or self.url), auto_migrate=True)
        self.handle = serve_in_thread(self.rt, decode_processes=self.args.decode_processes)
        return self.handle.port

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()
        if self.rt is not None:
            self.rt.close()
        self.rt = self.handle = None

    def snapshot(self, name: str) -> str:
        """A copy of the running store (nothing is in flight between windows); the listener keeps running."""
        if self.backend == "sqlite":
            assert self.rt is not None
            with self.rt.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            target = self.url.removeprefix("sqlite:///") + f".{name}"
            shutil.copyfile(self.url.removeprefix("sqlite:///"), target)
            self.copies.append(target)
            return target
        self.stop()  # PostgreSQL copies a database only while nobody is connected to it
        target = self._pg_copy(self.url.rsplit("/", 1)[1], name)
        self.start()
        return target

    def start_copy_of(self, snapshot: str, name: str) -> int:
        if self.backend == "sqlite":
            target = snapshot + f".{name}"
            shutil.copyfile(snapshot, target)
            self.copies.append(target)
            return self.start(f"sqlite:///{target}")
        return self.start(self.url.rsplit("/", 1)[0] + "/" + self._pg_copy(snapshot, name))

    def _pg_copy(self, source: str, name: str) -> str:
        target = f"{self.url.rsplit('/', 1)[1]}_{name}"
        admin = create_engine(normalise_url(self.args.postgres_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)'))
            # PostgreSQL 15 copies a template block by block through the write-ahead log by default: ~400 MB of
            # log at 100,000 records, whose checkpoint then ran during the timed round and slowed the larger
            # store's rounds most. FILE_COPY copies the files (with a checkpoint), and CHECKPOINT starts the
            # round with nothing left to write.
            file_copy = " STRATEGY FILE_COPY" if conn.dialect.server_version_info >= (15,) else ""
            conn.execute(text(f'CREATE DATABASE "{target}" TEMPLATE "{source}"{file_copy}'))
            conn.execute(text("CHECKPOINT"))
        admin.dispose()
        self.copies.append(target)
        return target

    def drop_copies(self) -> None:
        if self.backend == "sqlite":
            for path in self.copies:
                for suffix in ("", "-wal", "-shm"):
                    Path(path + suffix).unlink(missing_ok=True)
        else:
            admin = create_engine(normalise_url(self.args.postgres_url), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                for name in self.copies:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        self.copies = []


def bench(backend: str, url: str, args: argparse.Namespace, client: Client) -> None:
    everything = build_records(args.records + args.ab_feeds + args.ab_warmup, args.seed, args.people_per_postal_code)
    records, extra = everything[:args.records], everything[args.records:]
    store = Store(backend, url, args)
    port = store.start()
    assert store.rt is not None
    print(f"\n== {backend}: {len(records)} records over {len(DOMAINS)} domains, "
          f"{args.connections} connections, {store.rt.settings.mllp_workers} workers, "
          f"{args.decode_processes} decode processes, clients in {'a separate process' if args.client == 'process' else 'threads of this process'}")
    done = 0
    window_rates: list[tuple[int, float]] = []
    feed_lat: list[float] = []
    snapshots: dict[int, str] = {}
    clock = GcClock()
    total_start = time.perf_counter()
    while done < len(records):
        chunk = records[done:done + args.window]
        msgs = [adt(f"F{done + i}", ident, dom, p) for i, (ident, dom, p) in enumerate(chunk)]
        elapsed, lat = client.run(port, msgs, args.connections, b"MSA|AA|")
        done += len(chunk)
        feed_lat += lat
        window_rates.append((done, len(chunk) / elapsed))
        gc_seconds, gc_full = clock.take()
        print(f"  feed  store {done:>7,} records: {len(chunk) / elapsed:7.1f} msg/s "
              f"(p50 {pct(lat, 50):6.1f} ms, p99 {pct(lat, 99):6.1f} ms; garbage collector "
              f"{gc_seconds / elapsed:.0%} of the time, {gc_full} full collections)", flush=True)
        if args.ab_rounds and extra and (done == args.ab_small or done == len(records)):
            paused = time.perf_counter()
            snapshots[done] = store.snapshot(f"at{done}")
            port = store.handle.port if store.handle is not None else port
            total_start += time.perf_counter() - paused  # the copy is not feed time
    total = time.perf_counter() - total_start
    print(f"  feed  overall: {len(records) / total:.1f} msg/s, p50 {pct(feed_lat, 50):.1f} ms, "
          f"p99 {pct(feed_lat, 99):.1f} ms")
    rng = random.Random(args.seed + 1)
    sample = [records[rng.randrange(len(records))] for _ in range(args.queries)]
    msgs = [q23(f"Q{i}", ident, dom) for i, (ident, dom, _) in enumerate(sample)]
    client.run(port, msgs[: min(200, len(msgs))], args.connections, b"MSA|AA|")  # warm-up
    elapsed, lat = client.run(port, msgs, args.connections, b"MSA|AA|")
    print(f"  query ITI-9: {len(msgs) / elapsed:.1f} queries/s, p50 {pct(lat, 50):.2f} ms, "
          f"p99 {pct(lat, 99):.2f} ms")
    first = window_rates[0][1]
    last = window_rates[-1][1]
    print(f"  feed rate first window (<= {window_rates[0][0]:,}): {first:.1f} msg/s; "
          f"last window (<= {window_rates[-1][0]:,}): {last:.1f} msg/s")
    store.stop()
    try:
        if len(snapshots) == 2:
            print("  size comparison, new records of the feed (in the larger store more of them find their "
                  "other copies, and are scored against them):")
            compare_sizes(store, snapshots, extra, args, client)
            same = same_work_records(records, args.ab_small, len(extra), args.seed,
                                     postal_codes_for(len(everything), args.people_per_postal_code))
            copies = sum(not ident.startswith("N") for ident, _, _ in same)
            print(f"  size comparison, the same work at both sizes: {copies} new copies of patients whose records "
                  f"are all in the smaller store, {len(same) - copies} patients seen nowhere")
            compare_sizes(store, snapshots, same, args, client)
    finally:
        if args.keep_stores and backend == "sqlite":
            Path(args.keep_stores).mkdir(parents=True, exist_ok=True)
            for size, path in snapshots.items():
                shutil.copyfile(path, Path(args.keep_stores) / f"store{size}.db")
            print(f"  stores kept in {args.keep_stores}: store{{size}}.db for sizes {sorted(snapshots)}")
        store.drop_copies()


def compare_sizes(store: Store, snapshots: dict[int, str], extra: Sequence[tuple[str, str, Patient]],
                  args: argparse.Namespace, client: Client) -> None:
    """The same ``--ab-feeds`` new records fed into a copy of the store at each size, in alternating
    rounds (small, large, large, small, ...), so that a machine whose speed drifts over the run (a
    shared host) weighs on both sizes alike; each round first feeds ``--ab-warmup`` other new records, untimed,
    to the listener just started on the copy. Medians per size, and their ratio."""
    warm = [adt(f"AW{i}", ident, dom, p) for i, (ident, dom, p) in enumerate(extra[:args.ab_warmup])]
    msgs = [adt(f"AB{i}", ident, dom, p) for i, (ident, dom, p) in enumerate(extra[args.ab_warmup:])]
    sizes = sorted(snapshots)
    rates: dict[int, list[float]] = {size: [] for size in sizes}
    print(f"  A/B: {len(msgs)} new records fed into a copy of the store at {sizes[0]:,} and at {sizes[1]:,} "
          f"records, {args.ab_rounds} alternating rounds, each after {len(warm)} other new records (not timed)")
    for r in range(args.ab_rounds):
        for size in (sizes if r % 2 == 0 else sizes[::-1]):
            port = store.start_copy_of(snapshots[size], f"r{r}")
            try:
                if warm:  # a listener just started on the copy: warm its caches on other records first
                    client.run(port, warm, args.connections, b"MSA|AA|")
                elapsed, lat = client.run(port, msgs, args.connections, b"MSA|AA|")
            finally:
                store.stop()
            rates[size].append(len(msgs) / elapsed)
            print(f"    round {r + 1} store {size:>7,}: {len(msgs) / elapsed:7.1f} msg/s "
                  f"(p50 {pct(lat, 50):6.1f} ms, p99 {pct(lat, 99):6.1f} ms)", flush=True)
    small, large = (statistics.median(rates[size]) for size in sizes)
    print(f"  feed rate at {sizes[0]:,} vs {sizes[1]:,} records (medians): {small:.1f} vs {large:.1f} msg/s, "
          f"ratio {large / small:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--window", type=int, default=10_000)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--decode-processes", type=int, default=0,
                    help="HL7 parse worker processes (0: parse in the database threads)")
    ap.add_argument("--postgres-url", default=os.environ.get("EMPI_TEST_POSTGRES_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--ab-rounds", type=int, default=3,
                    help="rounds of the size comparison: the same new records fed into copies of the store "
                         "at --ab-small records and at --records records, alternately (0: no comparison)")
    ap.add_argument("--ab-small", type=int, default=10_000)
    ap.add_argument("--ab-feeds", type=int, default=2_000, help="new records fed in each round")
    ap.add_argument("--ab-warmup", type=int, default=300,
                    help="other new records fed (not timed) before each round: the listener started on the "
                         "copy warms its caches, as the windowed run's long-running listener has")
    ap.add_argument("--client", choices=("process", "thread"), default="process",
                    help="send from a separate client process (default), or from threads of the listener's own "
                         "process (which then share its interpreter lock)")
    ap.add_argument("--people-per-postal-code", type=int, default=20,
                    help="patients per postal code (a real region: about 20); 0: the first generator's "
                         "1,000 codes whatever the size (about 57 patients a code at 100,000 records)")
    ap.add_argument("--keep-stores", metavar="DIR",
                    help="SQLite: keep the two stores of the size comparison in DIR (store10000.db, ...) for profiling")
    args = ap.parse_args()
    args.window = min(args.window, args.records)
    client = Client(args.client)
    try:
        run_backends(args, client)
    finally:
        client.close()


def run_backends(args: argparse.Namespace, client: Client) -> None:
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as d:
                bench("sqlite", f"sqlite:///{d}/bench.db", args, client)
        elif backend == "postgres":
            admin = create_engine(normalise_url(args.postgres_url), isolation_level="AUTOCOMMIT")
            name = f"empi_bench_{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                bench("postgres", normalise_url(args.postgres_url).rsplit("/", 1)[0] + f"/{name}", args, client)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
