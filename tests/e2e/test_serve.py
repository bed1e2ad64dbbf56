"""`empi serve` as a real process: HTTP /health and the OpenAPI docs, and the MLLP listener, together."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

START, END = b"\x0b", b"\x1c\r"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mllp(port: int, message: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(START + message.encode() + END)
        data = b""
        while not data.endswith(END):
            chunk = s.recv(65536)
            assert chunk, "the listener closed the connection without a reply"
            data += chunk
    return data[1:-2].decode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, int, subprocess.Popen[str]]]:
    http, port = free_port(), free_port()
    env = dict(os.environ, EMPI_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}")
    env.pop("EMPI_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--http-port", str(http), "--mllp-port",
                             str(port)], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"empi serve exited: {proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("empi serve did not become healthy in 60 s")
    yield http, port, proc
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_serve_runs_http_and_mllp_on_a_fresh_sqlite_database(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    http, port, _ = served
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/health") as r:
        health = json.load(r)
    assert health["status"] == "ok" and health["database"] == "ok" and health["backend"] == "sqlite"
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/openapi.json") as r:
        assert "/health" in json.load(r)["paths"]
    assert (tmp_path / "serve.db").exists()  # migrated on first start

    pid = ("PID|||{id}^^^{ns}&{oid}&ISO||KOWALCZYK^MARIA||19800314|F|||12 LAKESHORE RD^^KINGSTON^ON^K7L3N6")
    for n, (ident, ns, oid) in enumerate([("A-1", "NIST2010", "2.16.840.1.113883.3.72.5.9.1"),
                                          ("B-1", "NIST2010-2", "2.16.840.1.113883.3.72.5.9.2")]):
        ack = mllp(port, "\r".join([
            f"MSH|^~\\&|NIST_SENDER|NIST|EMPI|EMPI|20261128100000||ADT^A04^ADT_A01|FEED{n}|P|2.3.1",
            "EVN|A04|20261128100000", pid.format(id=ident, ns=ns, oid=oid), "PV1||O"]))
        assert "MSA|AA|FEED%d" % n in ack
    rsp = mllp(port, "\r".join([
        "MSH|^~\\&|CONSUMER|NIST|EMPI|EMPI|20261128100001||QBP^Q23^QBP_Q21|Q1|P|2.5",
        "QPD|IHE PIX Query|TAG1|A-1^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO",
        "RCP|I"]))
    assert "MSA|AA|Q1" in rsp and "QAK|TAG1|OK" in rsp
    pid_segment = next(seg for seg in rsp.split("\r") if seg.startswith("PID|"))
    assert pid_segment == "PID|||B-1^^^NIST2010-2&2.16.840.1.113883.3.72.5.9.2&ISO||~^^^^^^S"
