"""``empi outbox list|retry`` and ``empi unmerge`` through the real command line entry point."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from api.cli import main
from api.mllp.notify import OutboxWorker
from empi import patients
from empi.commands import MergeRecords, RecordKey
from empi.runtime import Runtime
from tests.notify.factories import feed
from tests.notify.receiver import Receiver
from tests.notify.test_outbox import consumer, rows
from tests.notify.test_unmerge import OTHER, xref

CONFIG = """
[regional]
namespace = "EMPI"
universal_id = "2.25.1234567"
universal_id_type = "ISO"

[[domains]]
namespace = "NIST2010"
universal_id = "2.16.840.1.113883.3.72.5.9.1"

[[domains]]
namespace = "IHE2010"
universal_id = "1.3.6.1.4.1.21367.2010.1.1"

[[consumers]]
name = "pixc"
host = "127.0.0.1"
port = {port}
domains = ["NIST2010", "IHE2010"]
"""


def config(tmp_path: Path, port: int) -> str:
    path = tmp_path / "empi.toml"
    path.write_text(CONFIG.format(port=port))
    return str(path)


def test_outbox_list_shows_failures_without_payloads_and_retry_requeues(
        make_runtime: Callable[..., Runtime], database_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with Receiver(mode="close") as rx:
        rt = make_runtime(consumers=(consumer(rx.port),))
        with rt.write() as s:
            patients.register(s, feed("CL-1", "NIST2010"), rt=rt)
        OutboxWorker(rt, timeout=5.0, max_attempts=1).run_once()
    args = ["--config", config(tmp_path, rx.port), "--database-url", database_url]
    assert main(["outbox", "list", *args]) == 0
    out = capsys.readouterr().out
    assert "failed" in out and "pixc" in out and "closed" in out
    assert "CL-1" not in out  # no identifiers on screen
    assert main(["outbox", "list", "--status", "pending", *args]) == 0
    assert "no pending outbox messages" in capsys.readouterr().out
    assert main(["outbox", "retry", "--failed", *args]) == 0
    assert "1 message(s) queued again" in capsys.readouterr().out
    assert [(r.status, r.attempts) for r in rows(rt)] == [("pending", 1)]
    assert main(["outbox", "retry", *args]) == 2
    assert "give message ids" in capsys.readouterr().err
    with Receiver() as rx2:  # delivered now, then purged
        rt2 = make_runtime(consumers=(consumer(rx2.port),))
        assert OutboxWorker(rt2, timeout=5.0).run_once() == 1
    assert main(["outbox", "purge", "--older-than", "1", *args]) == 0
    assert "0 delivered message(s) removed" in capsys.readouterr().out
    assert main(["outbox", "purge", "--older-than", "0", *args]) == 0
    assert "1 delivered message(s) removed" in capsys.readouterr().out
    assert rows(rt) == []


def test_unmerge_undoes_an_a40_and_reports_bad_input(make_runtime: Callable[..., Runtime], database_url: str,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rt = make_runtime()
    with rt.write() as s:
        patients.register(s, feed("MW-1", "NIST2010"), rt=rt)
        patients.register(s, feed("MW-2", "IHE2010"), rt=rt)
        patients.register(s, feed("ML-3", "NIST2010", **OTHER), rt=rt)
        patients.merge(s, MergeRecords(surviving=RecordKey("ML-3", "NIST2010"), subsumed=RecordKey("MW-1", "NIST2010")),
                       rt=rt)
    args = ["--config", config(tmp_path, 9), "--database-url", database_url]
    assert main(["unmerge", "--identifier", "MW-1", "--domain", "NIST2010", "--reason", "wrong", *args]) == 0
    assert "undone (record-merge): 2 record(s)" in capsys.readouterr().out
    assert xref(rt, "MW-1", "NIST2010") == {"MW-2@IHE2010"}
    # again: nothing left to undo, one clear line, no traceback
    assert main(["unmerge", "--identifier", "MW-1", "--domain", "NIST2010", *args]) == 2
    err = capsys.readouterr().err
    assert "not merged" in err and "Traceback" not in err
    assert main(["unmerge", "--identifier", "MW-1", "--domain", "NOPE", *args]) == 2
    assert main(["unmerge", *args]) == 2
    # the record's latest link change (here: its move back) can be undone too
    assert main(["unmerge", "--link", "--identifier", "MW-2", "--domain", "IHE2010", *args]) == 0
    assert xref(rt, "MW-1", "NIST2010") == set()
