"""ITI-10: the outbox is filled in the writing transaction and delivered over real MLLP sockets."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from api.mllp.notify import OutboxWorker, aware
from empi import patients
from empi.commands import MergeRecords, RecordKey
from empi.config import Consumer
from empi.models import AuditEvent, OutboxMessage, utcnow
from empi.runtime import Runtime
from tests.notify.factories import feed
from tests.notify.receiver import Receiver, fields

NIST2010 = "NIST2010&2.16.840.1.113883.3.72.5.9.1&ISO"
IHE2010 = "IHE2010&1.3.6.1.4.1.21367.2010.1.1&ISO"


def consumer(port: int, *, name: str = "pixc", domains: tuple[str, ...] = ("NIST2010", "IHE2010")) -> Consumer:
    return Consumer(name=name, host="127.0.0.1", port=port, domains=domains, application="PIXC", facility="TEST")


def rows(rt: Runtime) -> list[OutboxMessage]:
    with rt.read() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def worker(rt: Runtime, **kw: float) -> OutboxWorker:
    return OutboxWorker(rt, timeout=5.0, **kw)  # type: ignore[arg-type]


class TestQueue:
    def test_a31_is_queued_with_every_id_of_the_person_when_records_link(self, make_runtime: Callable[..., Runtime]) -> None:
        rt = make_runtime(consumers=(consumer(9),))
        with rt.write() as s:
            patients.register(s, feed("QX-1", "NIST2010"), rt=rt)
        with rt.write() as s:
            patients.register(s, feed("QX-2", "IHE2010"), rt=rt)
            patients.register(s, feed("QX-3", "HOSPA"), rt=rt)  # outside the domains of interest
        queued = rows(rt)
        assert len(queued) == 2  # the third feed leaves the consumer's set unchanged: not queued again
        last = queued[-1].payload
        assert last.endswith("\r") and "\n" not in last
        msh, evn, pid, pv1 = (fields(last, n) for n in ("MSH", "EVN", "PID", "PV1"))
        assert msh[9] == "ADT^A31^ADT_A05" and msh[12] == "2.5" and msh[10] == f"EMPI-N{queued[-1].id}"
        assert msh[5:7] == ["PIXC", "TEST"]
        assert evn[2]
        assert pid[3].split("~") == [f"QX-2^^^{IHE2010}", f"QX-1^^^{NIST2010}"]
        assert pid[5] == " " and len(pid) == 6
        assert pv1 == ["PV1", "", "N"]

    def test_nothing_is_queued_when_the_person_has_no_id_in_the_domains_of_interest(
            self, make_runtime: Callable[..., Runtime]) -> None:
        rt = make_runtime(consumers=(consumer(9),))
        with rt.write() as s:
            patients.register(s, feed("QX-9", "HOSPB"), rt=rt)
        assert rows(rt) == []

    def test_a_consumer_without_domains_gets_every_domain(self, make_runtime: Callable[..., Runtime]) -> None:
        rt = make_runtime(consumers=(consumer(9, domains=()),))
        with rt.write() as s:
            patients.register(s, feed("QX-9", "HOSPB"), rt=rt)
        assert "QX-9^^^HOSPB&2.25.1002&ISO" in rows(rt)[0].payload

    def test_nothing_is_queued_when_the_transaction_rolls_back(self, make_runtime: Callable[..., Runtime]) -> None:
        rt = make_runtime(consumers=(consumer(9),))
        with pytest.raises(RuntimeError), rt.write() as s:
            patients.register(s, feed("QX-1", "NIST2010"), rt=rt)
            raise RuntimeError("boom")
        assert rows(rt) == []

    def test_a_merge_notifies_the_surviving_set_without_the_subsumed_id(self, make_runtime: Callable[..., Runtime]) -> None:
        rt = make_runtime(consumers=(consumer(9),))
        with rt.write() as s:
            patients.register(s, feed("MA-1", "NIST2010"), rt=rt)
            patients.register(s, feed("MA-2", "NIST2010", family="Brackwater", given="Ivo", birth_date="1950-01-02",
                                      sex="M"), rt=rt)
        with rt.write() as s:
            patients.merge(s, MergeRecords(surviving=RecordKey("MA-2", "NIST2010"),
                                           subsumed=RecordKey("MA-1", "NIST2010")), rt=rt)
        last = rows(rt)[-1].payload
        assert fields(last, "PID")[3] == f"MA-2^^^{NIST2010}"


class TestDelivery:
    def test_pending_messages_are_delivered_in_order_and_audited_when_the_consumer_acks(
            self, make_runtime: Callable[..., Runtime]) -> None:
        with Receiver() as rx:
            rt = make_runtime(consumers=(consumer(rx.port),))
            with rt.write() as s:
                patients.register(s, feed("DL-1", "NIST2010"), rt=rt)
            with rt.write() as s:
                patients.register(s, feed("DL-2", "IHE2010"), rt=rt)
            assert worker(rt).run_once() == 2
        assert [fields(m, "MSH")[9] for m in rx.messages] == ["ADT^A31^ADT_A05"] * 2
        assert fields(rx.messages[0], "PID")[3] == f"DL-1^^^{NIST2010}"
        assert set(fields(rx.messages[1], "PID")[3].split("~")) == {f"DL-1^^^{NIST2010}", f"DL-2^^^{IHE2010}"}
        assert [(r.status, r.attempts) for r in rows(rt)] == [("delivered", 1)] * 2
        with rt.read() as s:
            audits = list(s.scalars(select(AuditEvent).where(AuditEvent.event_type == "ITI-10")))
        assert len(audits) == 2 and {a.action for a in audits} == {"R"} and audits[0].outcome == 0
        assert "DL-1^^^&2.16.840.1.113883.3.72.5.9.1&ISO" in audits[0].patient_ids

    def test_a_rejected_message_is_retried_after_back_off_and_blocks_later_ones(
            self, make_runtime: Callable[..., Runtime]) -> None:
        with Receiver(ack_code="AE") as rx:
            rt = make_runtime(consumers=(consumer(rx.port),))
            with rt.write() as s:
                patients.register(s, feed("BO-1", "NIST2010"), rt=rt)
            with rt.write() as s:
                patients.register(s, feed("BO-2", "IHE2010"), rt=rt)
            w = worker(rt, base_delay=30.0)
            assert w.run_once() == 0
            assert w.run_once() == 0  # not due yet: nothing is sent again
            assert len(rx.messages) == 1
        first, second = rows(rt)
        assert (first.status, first.attempts, second.attempts) == ("pending", 1, 0)
        assert "AE" in (first.last_error or "")
        assert timedelta(seconds=25) < aware(first.next_attempt_at) - utcnow() <= timedelta(seconds=30)

    def test_delivery_resumes_after_a_restart_when_the_consumer_comes_back(
            self, make_runtime: Callable[..., Runtime]) -> None:
        with Receiver() as rx:
            port = rx.port
        rt = make_runtime(consumers=(consumer(port),))  # the consumer is down: connection refused
        with rt.write() as s:
            patients.register(s, feed("RS-1", "NIST2010"), rt=rt)
        assert worker(rt).run_once() == 0
        (row,) = rows(rt)
        assert row.attempts == 1 and row.status == "pending" and "Connection" in (row.last_error or "")
        rt.close()
        with Receiver() as rx2:
            rt2 = make_runtime(consumers=(consumer(rx2.port),))  # a new process, same database
            with rt2.write() as s:
                s.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
            assert worker(rt2).run_once() == 1
        assert fields(rx2.messages[0], "PID")[3] == f"RS-1^^^{NIST2010}"
        assert rows(rt2)[0].status == "delivered" and rows(rt2)[0].attempts == 2

    def test_a_message_is_marked_failed_after_max_attempts(self, make_runtime: Callable[..., Runtime]) -> None:
        with Receiver(mode="close") as rx:
            rt = make_runtime(consumers=(consumer(rx.port),))
            with rt.write() as s:
                patients.register(s, feed("MX-1", "NIST2010"), rt=rt)
            w = OutboxWorker(rt, timeout=5.0, base_delay=0.0, max_attempts=2)
            w.run_once()
            w.run_once()
        (row,) = rows(rt)
        assert (row.status, row.attempts) == ("failed", 2)
        assert "closed" in (row.last_error or "")

    def test_the_worker_thread_delivers_after_commit(self, make_runtime: Callable[..., Runtime]) -> None:
        with Receiver() as rx:
            rt = make_runtime(consumers=(consumer(rx.port),))
            w = OutboxWorker(rt, timeout=5.0, poll_interval=30.0).start()
            try:
                with rt.write() as s:
                    patients.register(s, feed("TH-1", "NIST2010"), rt=rt)
                for _ in range(200):  # woken by the commit, not by the 30 s poll
                    if rows(rt)[0].status == "delivered":
                        break
                    time.sleep(0.05)
            finally:
                w.stop()
        assert rows(rt)[0].status == "delivered" and len(rx.messages) == 1


class TestStewardDecisions:
    def test_a_steward_unlink_notifies_both_resulting_sets(self, make_runtime: Callable[..., Runtime]) -> None:
        from empi import stewardship

        rt = make_runtime(consumers=(consumer(9),))
        with rt.write() as s:
            patients.register(s, feed("SW-1", "NIST2010"), rt=rt)
            record_id = patients.register(s, feed("SW-2", "IHE2010"), rt=rt).record_id
        assert fields(rows(rt)[-1].payload, "PID")[3] == f"SW-2^^^{IHE2010}~SW-1^^^{NIST2010}"
        with rt.write() as s:
            stewardship.unlink_record(s, record_id, actor="steward1", reason="two people", rt=rt)
        assert sorted(fields(r.payload, "PID")[3] for r in rows(rt)[-2:]) == [f"SW-1^^^{NIST2010}", f"SW-2^^^{IHE2010}"]
