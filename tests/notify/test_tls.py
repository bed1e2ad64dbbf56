"""ITI-10 over TLS: a consumer with ``tls = true`` and a CA file gets its notifications encrypted."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from api.mllp.notify import OutboxWorker
from empi import patients
from empi.config import Consumer
from empi.runtime import Runtime
from tests.notify.factories import feed
from tests.notify.receiver import Receiver, fields
from tests.notify.test_outbox import rows


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "consumer.pem", tmp_path / "consumer.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def test_notifications_go_over_tls_and_an_untrusted_consumer_is_refused(
        make_runtime: Callable[..., Runtime], certificate: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    with Receiver(ssl=server_ctx) as rx:
        trusted = Consumer(name="tls", host="127.0.0.1", port=rx.port, domains=("NIST2010",), tls=True,
                           ca_file=str(cert))
        rt = make_runtime(consumers=(trusted,))
        with rt.write() as s:
            patients.register(s, feed("TL-1", "NIST2010"), rt=rt)
        assert OutboxWorker(rt, timeout=5.0).run_once() == 1
        assert fields(rx.messages[0], "PID")[3].startswith("TL-1^^^NIST2010&")
        rt.close()
        # the same listener, but the EMPI does not trust its certificate (system CAs only)
        untrusted = Consumer(name="tls", host="127.0.0.1", port=rx.port, domains=("NIST2010",), tls=True)
        rt2 = make_runtime(consumers=(untrusted,))
        with rt2.write() as s:
            patients.register(s, feed("TL-2", "NIST2010", family="Ostrander", given="Pim", birth_date="1990-02-02",
                                      sex="M"), rt=rt2)
        assert OutboxWorker(rt2, timeout=5.0).run_once() == 0
    failed = [r for r in rows(rt2) if r.status == "pending"]
    assert len(failed) == 1 and "SSL" in (failed[0].last_error or "")
    assert len(rx.messages) == 1
