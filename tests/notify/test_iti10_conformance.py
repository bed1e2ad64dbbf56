"""Conformance: ../shared/conformance/README.md §5 (ITI-10) during the §3.8 Update-and-Link scenario.

The §3.8 messages go over a real MLLP socket to the listener; a PIX Consumer (python-hl7's MLLP
server) with domains of interest NIST2010 and IHE2010 receives the outbox's ADT^A31 messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from api.mllp.notify import OutboxWorker
from api.mllp.server import serve_in_thread
from empi.config import Consumer
from empi.runtime import Runtime
from tests.conformance.test_hl7v2_conformance import corpus, p_nist  # noqa: F401  (fixture)
from tests.mllp.support import Client, Hl7, read_file
from tests.notify.receiver import Receiver, fields
from tests.notify.test_outbox import rows

pytestmark = pytest.mark.conformance

TT444 = "TT444^^^NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO"
TT888 = "TT888^^^IHE2010&1.3.6.1.4.1.21367.2010.1.1&ISO"


def test_5_update_and_link_notifies_the_consumer(make_runtime: Callable[..., Runtime], corpus: Path) -> None:  # noqa: F811
    with Receiver() as rx:
        consumer = Consumer(name="pix-consumer", host="127.0.0.1", port=rx.port, domains=("NIST2010", "IHE2010"))
        rt = make_runtime(replace(p_nist(), consumers=(consumer,)))
        handle = serve_in_thread(rt)
        worker = OutboxWorker(rt, timeout=5.0)
        try:
            with Client(handle.port) as client:
                def send(name: str) -> Hl7:
                    return Hl7.of(client.send(read_file(corpus, name)))

                assert send("iti8-adt-a04-nist-link-s1-tt444-nist2010.hl7").msa1 == "AA"
                assert send("iti8-adt-a04-nist-link-s2-tt888-ihe2010-wrong-demo.hl7").msa1 == "AA"
                assert send("iti9-qbp-q23-nist-link-s3-not-linked-nf.hl7").qak2 == "NF"
                worker.run_once()
                before = len(rx.messages)
                assert send("iti8-adt-a08-nist-link-s4-fix-demographics.hl7").msa1 == "AA"
                worker.run_once()
                assert send("iti9-qbp-q23-nist-link-s5-linked-ok.hl7").qak2 == "OK"
        finally:
            handle.stop()
    # steps 1 and 2: one A31 each, with a single ID
    assert [fields(m, "PID")[3] for m in rx.messages[:before]] == [TT444, TT888]
    linked = [m for m in rx.messages[before:] if set(fields(m, "PID")[3].split("~")) == {TT444, TT888}]
    assert linked, rx.messages
    for m in rx.messages:
        msh = fields(m, "MSH")
        assert msh[9] == "ADT^A31^ADT_A05" and msh[12] == "2.5"
        assert fields(m, "EVN")
        assert fields(m, "PID")[5] == " "
        assert fields(m, "PV1")[2] == "N" and not any(fields(m, "PV1")[3:]) and fields(m, "PV1")[1] == ""
    # the consumer's AA was accepted: every message delivered, none left pending
    assert {r.status for r in rows(rt)} == {"delivered"}
