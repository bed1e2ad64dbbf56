"""ITI-83 ($ihe-pix) throughput and latency beside a bare FastAPI endpoint, same run, same machine.

    .venv/bin/python benchmarks/fhir/bench_iti83.py                        # 100,000 patients, SQLite
    .venv/bin/python benchmarks/fhir/bench_iti83.py --patients 5000 --duration 5   # a quick run
    .venv/bin/python benchmarks/fhir/bench_iti83.py --backend postgres     # EMPI_TEST_POSTGRES_URL (admin URL)

What is measured: the full HTTP app (``create_app``: bearer-token check, cross-reference query, audit
row committed, Parameters built with fhir.resources, JSON out) under uvicorn, against a bare FastAPI
app whose sync endpoint returns a fixed small JSON body, under the same uvicorn settings. Both servers
run in this process (one thread each, access log off); the load comes from a separate process:
``wrk`` with a Lua script that asks for a random patient's cross-references on each request, or, when
wrk is missing, a threaded httpx client in a subprocess. Install wrk first (Debian/Ubuntu:
``apt-get install -y wrk``; macOS: ``brew install wrk``): the httpx fallback is a weak load generator
(Python threads on the same cores), so its figures understate both servers and the ratio. The script
prints which generator it used. Rounds alternate bare and ITI-83 so machine noise hits both; every
round is printed, the ratio uses the medians.

Patients are loaded directly (persons, source records and links, as ``empi.patients.register`` leaves
them for the PIX query path; blocking keys are not needed by ITI-83): every patient has a record in
BENCHA and BENCHB, every third one also in BENCHC. The database starts empty in a scratch location.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response
from sqlalchemy import create_engine, insert, text

from api.app import create_app
from api.fhir.auth import create_client
from empi.config import parse_settings
from empi.db import normalise_url
from empi.models import Link, Person, SourceRecord
from empi.runtime import Runtime
from empi.text import luhn_digit, search_norm

DOMAINS = [("BENCHA", "2.25.9101"), ("BENCHB", "2.25.9102"), ("BENCHC", "2.25.9103")]
SYL = ["BAR", "COR", "DEL", "FEN", "GAL", "HOL", "KIR", "LOM", "MAR", "NOV", "PEL", "QUA", "ROS", "SAV", "TOR"]
GIVEN = ["ALDRIC", "BRYNNA", "CORVIN", "DELPHA", "ELMIRO", "FAYLEN", "GARRIK", "HESTRA", "IVORNE", "JALISA"]


def load(rt: Runtime, patients: int, chunk: int = 5000) -> int:
    """Insert ``patients`` persons with 2-3 linked records each; returns the number of records."""
    now = datetime.now(UTC)
    record_id = 0
    with rt.write() as session:
        for start in range(0, patients, chunk):
            persons, records, links = [], [], []
            for i in range(start, min(start + chunk, patients)):
                pid = i + 1
                base = f"{pid:09d}"
                persons.append({"id": pid, "regional_id": base + luhn_digit(base), "is_active": True,
                                "created_at": now, "updated_at": now})
                family = SYL[i % 15] + SYL[(i // 15) % 15] + SYL[(i // 225) % 15]
                given = GIVEN[i % 10]
                for d, (ns, _) in enumerate(DOMAINS):
                    if d == 2 and i % 3:
                        continue
                    record_id += 1
                    records.append({
                        "id": record_id, "domain": ns, "identifier": f"{ns[-1]}{i:07d}", "status": "active",
                        "family_name": family, "given_name": given, "family_norm": search_norm(family),
                        "given_norm": search_norm(given), "birth_date": f"{1930 + i % 90}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                        "sex": "MF"[i % 2], "names": [{"family": family, "given": given, "use": "L"}],
                        "addresses": [], "phones": [], "other_identifiers": [], "created_at": now, "updated_at": now})
                    links.append({"record_id": record_id, "person_id": pid, "method": "scorecard",
                                  "created_by": "bench", "created_at": now})
            session.execute(insert(Person), persons)
            session.execute(insert(SourceRecord), records)
            session.execute(insert(Link), links)
        if rt.is_postgres:
            for table in ("person", "source_record"):
                session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))"))
    return record_id


def bare_app() -> FastAPI:
    app = FastAPI()
    body = json.dumps({"resourceType": "Parameters", "parameter": [
        {"name": "targetIdentifier", "valueIdentifier": {"system": "urn:oid:2.25.9102", "value": "B0000001"}}]})

    @app.get("/bare")
    def bare() -> Response:
        return Response(content=body, media_type="application/fhir+json")

    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[int]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


WRK_SCRIPT = """
token = "{token}"
patients = {patients}
pix = {pix}
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Accept"] = "application/fhir+json"
request = function()
  if pix then
    local i = math.random(0, patients - 1)
    return wrk.format("GET", string.format("/fhir/Patient/$ihe-pix?sourceIdentifier=urn:oid:2.25.9101%%7CA%07d", i))
  end
  return wrk.format("GET", "/bare")
end
"""

HTTPX_WORKER = """
import random, statistics, sys, threading, time, httpx, json
url, token, patients, pix, duration, conns = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", float(sys.argv[5]), int(sys.argv[6])
lat, errors, lock = [], [0], threading.Lock()
def work():
    mine, bad = [], 0
    with httpx.Client(headers={"Authorization": "Bearer " + token, "Accept": "application/fhir+json"}) as c:
        end = time.perf_counter() + duration
        while time.perf_counter() < end:
            path = f"/fhir/Patient/$ihe-pix?sourceIdentifier=urn:oid:2.25.9101|A{random.randrange(patients):07d}" if pix else "/bare"
            t = time.perf_counter(); r = c.get(url + path); mine.append((time.perf_counter() - t) * 1000)
            bad += r.status_code != 200
    with lock:
        lat.extend(mine); errors[0] += bad
ts = [threading.Thread(target=work) for _ in range(conns)]
[t.start() for t in ts]; [t.join() for t in ts]
q = statistics.quantiles(lat, n=100)
print(json.dumps({"rps": len(lat) / duration, "p50": q[49], "p99": q[98], "errors": errors[0], "requests": len(lat)}))
"""


def run_wrk(port: int, token: str, patients: int, pix: bool, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT.format(token=token, patients=patients, pix="true" if pix else "false"))
    try:
        out = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
                              "-s", f.name, f"http://127.0.0.1:{port}"], capture_output=True, text=True,
                             check=True).stdout
    finally:
        os.unlink(f.name)
    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed: {out[-500:]}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
            "p99": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
            "errors": float(errors.group(1)) if errors else 0.0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}  # type: ignore[dict-item]


def _ms(value: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", value)
    if match is None:
        raise ValueError(f"unexpected wrk latency {value!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_httpx(port: int, token: str, patients: int, pix: bool, args: argparse.Namespace) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", HTTPX_WORKER, f"http://127.0.0.1:{port}", token, str(patients),
                          "1" if pix else "0", str(args.duration), str(args.connections)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


@contextmanager
def database(args: argparse.Namespace) -> Iterator[str]:
    if args.backend == "sqlite":
        directory = tempfile.mkdtemp(prefix="bench-iti83-")
        try:
            yield f"sqlite:///{directory}/empi.db"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    admin_url = args.postgres_url or os.environ.get("EMPI_TEST_POSTGRES_URL")
    if not admin_url:
        raise SystemExit("--backend postgres needs --postgres-url or EMPI_TEST_POSTGRES_URL")
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"bench_iti83_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{normalise_url(admin_url).rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--patients", type=int, default=100_000)
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    p.add_argument("--rounds", type=int, default=3, help="alternating bare / ITI-83 rounds")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--postgres-url")
    p.add_argument("--tool", choices=("auto", "wrk", "httpx"), default="auto")
    args = p.parse_args()
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "httpx")
    measure = run_wrk if tool == "wrk" else run_httpx

    with database(args) as url:
        settings = replace(parse_settings({"domains": [{"namespace": ns, "universal_id": uid} for ns, uid in DOMAINS]}),
                           database_url=url)
        rt = Runtime.start(settings, auto_migrate=True)
        t0 = time.perf_counter()
        n_records = load(rt, args.patients)
        print(f"loaded {args.patients:,} patients ({n_records:,} source records) into {rt.engine.dialect.name} "
              f"in {time.perf_counter() - t0:.1f}s")
        with rt.write() as session:
            token = create_client(session, "bench", ["ITI-83"])
        print(f"load generator: {tool}, {args.connections} connections, {args.duration}s per measurement, "
              f"{os.cpu_count()} CPUs (shared machine: figures are noisy)")
        with serve(create_app(rt)) as pix_port, serve(bare_app()) as bare_port:
            _check(pix_port, token)
            measure(bare_port, token, args.patients, False, replace_duration(args, 2))  # warm-up
            measure(pix_port, token, args.patients, True, replace_duration(args, 2))
            bare, pix = [], []
            for n in range(1, args.rounds + 1):
                bare.append(measure(bare_port, token, args.patients, False, args))
                pix.append(measure(pix_port, token, args.patients, True, args))
                for label, r in (("bare FastAPI", bare[-1]), ("ITI-83 $ihe-pix", pix[-1])):
                    print(f"  round {n} {label:16s} {r['rps']:8.0f} req/s  p50 {r['p50']:7.2f} ms  "
                          f"p99 {r['p99']:7.2f} ms  non-2xx {int(r['errors'])}")
        rt.close()
    med = {k: (statistics.median(r[k] for r in bare), statistics.median(r[k] for r in pix)) for k in ("rps", "p50", "p99")}
    print(textwrap.dedent(f"""
        median of {args.rounds} rounds        bare FastAPI   ITI-83
          requests/s                 {med['rps'][0]:10.0f}   {med['rps'][1]:8.0f}
          p50 latency (ms)           {med['p50'][0]:10.2f}   {med['p50'][1]:8.2f}
          p99 latency (ms)           {med['p99'][0]:10.2f}   {med['p99'][1]:8.2f}
        ITI-83 / bare throughput ratio: {med['rps'][1] / med['rps'][0]:.2f} (target >= 0.50)"""))


def replace_duration(args: argparse.Namespace, seconds: int) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "duration": seconds})


def _check(port: int, token: str) -> None:
    """The benchmark is only meaningful if the answers are right: spot-check one."""
    import httpx

    r = httpx.get(f"http://127.0.0.1:{port}/fhir/Patient/$ihe-pix",
                  params={"sourceIdentifier": "urn:oid:2.25.9101|A0000003"},
                  headers={"Authorization": f"Bearer {token}"})
    values = sorted(p["valueIdentifier"]["value"] for p in r.json().get("parameter", []) if p["name"] == "targetIdentifier")
    assert r.status_code == 200 and values == ["B0000003", "C0000003"], (r.status_code, values)


if __name__ == "__main__":
    main()
